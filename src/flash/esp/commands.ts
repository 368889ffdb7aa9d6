import { Duration } from "effect"
import { checksum, words } from "./packet.js"

/**
 * Opcodes of the ROM loader and the esptool stub (serial-protocol.rst).
 * Shared with the emulator (sim/esp), so both sides speak from one table.
 */
export const Op = {
  FLASH_BEGIN: 0x02,
  FLASH_DATA: 0x03,
  FLASH_END: 0x04,
  MEM_BEGIN: 0x05,
  MEM_END: 0x06,
  MEM_DATA: 0x07,
  SYNC: 0x08,
  WRITE_REG: 0x09,
  READ_REG: 0x0a,
  SPI_SET_PARAMS: 0x0b,
  SPI_ATTACH: 0x0d,
  READ_FLASH_SLOW: 0x0e,
  CHANGE_BAUDRATE: 0x0f,
  FLASH_DEFL_BEGIN: 0x10,
  FLASH_DEFL_DATA: 0x11,
  FLASH_DEFL_END: 0x12,
  SPI_FLASH_MD5: 0x13,
  GET_SECURITY_INFO: 0x14,
  // Stub only
  ERASE_FLASH: 0xd0,
  ERASE_REGION: 0xd1,
  READ_FLASH: 0xd2,
  RUN_USER_CODE: 0xd3
} as const

export const opName = (op: number): string =>
  Object.entries(Op).find(([, value]) => value === op)?.[0] ?? `op 0x${op.toString(16).padStart(2, "0")}`

/** One request, ready to frame: what to send and how long its reply may take. */
export interface Command {
  readonly op: number
  readonly data: Uint8Array
  readonly checksum: number
  readonly timeout: Duration.Duration
  /** For messages: `FLASH_DEFL_DATA #12`. */
  readonly label: string
}

export interface Timeouts {
  readonly default: Duration.Duration
  readonly sync: Duration.Duration
  /** Erase at FLASH_BEGIN / FLASH_DEFL_BEGIN, per MiB erased. */
  readonly erasePerMb: Duration.Duration
  /** A data block, per MiB of flash it writes. */
  readonly writePerMb: Duration.Duration
  readonly md5PerMb: Duration.Duration
}

/** esptool's loader.py values (the per-MB ones never below the default). */
export const defaultTimeouts: Timeouts = {
  default: Duration.seconds(3),
  sync: Duration.millis(100),
  erasePerMb: Duration.seconds(30),
  writePerMb: Duration.seconds(40),
  md5PerMb: Duration.seconds(8)
}

const MB = 1024 * 1024

export const timeoutPerMb = (timeouts: Timeouts, perMb: Duration.Duration, bytes: number): Duration.Duration =>
  Duration.max(timeouts.default, Duration.millis(Math.ceil(Duration.toMillis(perMb) * (bytes / MB))))

const command = (op: number, data: Uint8Array, timeout: Duration.Duration, label = opName(op), check = 0): Command => ({
  op,
  data,
  checksum: check,
  timeout,
  label
})

const SYNC_PAYLOAD = (() => {
  const payload = new Uint8Array(36).fill(0x55)
  payload.set([0x07, 0x07, 0x12, 0x20])
  return payload
})()

export const sync = (t: Timeouts): Command => command(Op.SYNC, SYNC_PAYLOAD, t.sync)

export const readReg = (t: Timeouts, address: number): Command =>
  command(Op.READ_REG, words(address), t.default, `READ_REG 0x${address.toString(16)}`)

export const writeReg = (t: Timeouts, address: number, value: number, mask = 0xffffffff, delayUs = 0): Command =>
  command(Op.WRITE_REG, words(address, value, mask, delayUs), t.default, `WRITE_REG 0x${address.toString(16)}`)

/** ROM form: hspi argument plus a second word the ROM requires (the stub takes only the first). */
export const spiAttach = (t: Timeouts): Command => command(Op.SPI_ATTACH, words(0, 0), t.default)

export const spiSetParams = (t: Timeouts, flashSize: number): Command =>
  command(Op.SPI_SET_PARAMS, words(0, flashSize, 64 * 1024, 4 * 1024, 256, 0xffff), t.default)

export interface BeginArgs {
  readonly eraseSize: number
  readonly blocks: number
  readonly blockSize: number
  readonly offset: number
  /** ROMs after ESP32/ESP8266 take a fifth word (encrypted flag). */
  readonly withEncryptedWord: boolean
}

const beginWords = (args: BeginArgs) =>
  args.withEncryptedWord
    ? words(args.eraseSize, args.blocks, args.blockSize, args.offset, 0)
    : words(args.eraseSize, args.blocks, args.blockSize, args.offset)

export const flashBegin = (t: Timeouts, args: BeginArgs): Command =>
  command(
    Op.FLASH_BEGIN,
    beginWords(args),
    timeoutPerMb(t, t.erasePerMb, args.eraseSize),
    `FLASH_BEGIN (erase ${args.eraseSize} bytes at 0x${args.offset.toString(16)})`
  )

/** `writeSize`: uncompressed bytes, which the ROM erases at begin. */
export const flashDeflBegin = (t: Timeouts, args: BeginArgs): Command =>
  command(
    Op.FLASH_DEFL_BEGIN,
    beginWords(args),
    timeoutPerMb(t, t.erasePerMb, args.eraseSize),
    `FLASH_DEFL_BEGIN (erase ${args.eraseSize} bytes at 0x${args.offset.toString(16)})`
  )

const dataBlock = (op: number, name: string, t: Timeouts, sequence: number, block: Uint8Array, flashBytes: number): Command => {
  const data = new Uint8Array(16 + block.length)
  data.set(words(block.length, sequence, 0, 0))
  data.set(block, 16)
  return command(op, data, timeoutPerMb(t, t.writePerMb, flashBytes), `${name} #${sequence}`, checksum(block))
}

export const flashData = (t: Timeouts, sequence: number, block: Uint8Array): Command =>
  dataBlock(Op.FLASH_DATA, "FLASH_DATA", t, sequence, block, block.length)

/** `flashBytes`: how much flash this block expands to (for the write timeout). */
export const flashDeflData = (t: Timeouts, sequence: number, block: Uint8Array, flashBytes: number): Command =>
  dataBlock(Op.FLASH_DEFL_DATA, "FLASH_DEFL_DATA", t, sequence, block, flashBytes)

/** `runUserCode`: true leaves the loader and jumps to the app; false reboots. */
export const flashEnd = (t: Timeouts, runUserCode: boolean): Command => command(Op.FLASH_END, words(runUserCode ? 1 : 0), t.default)

export const flashDeflEnd = (t: Timeouts, runUserCode: boolean): Command =>
  command(Op.FLASH_DEFL_END, words(runUserCode ? 1 : 0), t.default)

/** ROM form: second word 0 (the stub wants the old rate there). */
export const changeBaudrate = (t: Timeouts, baudRate: number, oldBaudRate = 0): Command =>
  command(Op.CHANGE_BAUDRATE, words(baudRate, oldBaudRate), t.default, `CHANGE_BAUDRATE ${baudRate}`)

export const spiFlashMd5 = (t: Timeouts, address: number, size: number): Command =>
  command(
    Op.SPI_FLASH_MD5,
    words(address, size, 0, 0),
    timeoutPerMb(t, t.md5PerMb, size),
    `SPI_FLASH_MD5 0x${address.toString(16)}+${size}`
  )

export const getSecurityInfo = (t: Timeouts): Command => command(Op.GET_SECURITY_INFO, new Uint8Array(0), t.default)

/** ROM-only read, 64 bytes or less per request. */
export const readFlashSlow = (t: Timeouts, address: number, size: number): Command =>
  command(Op.READ_FLASH_SLOW, words(address, size), t.default, `READ_FLASH_SLOW 0x${address.toString(16)}+${size}`)

export const memBegin = (t: Timeouts, size: number, blocks: number, blockSize: number, address: number): Command =>
  command(Op.MEM_BEGIN, words(size, blocks, blockSize, address), t.default, `MEM_BEGIN 0x${address.toString(16)}+${size}`)

export const memData = (t: Timeouts, sequence: number, block: Uint8Array): Command =>
  dataBlock(Op.MEM_DATA, "MEM_DATA", t, sequence, block, block.length)

/** esptool mem_finish: first word 1 when there is no entry point to jump to. */
export const memEnd = (t: Timeouts, entry: number): Command => command(Op.MEM_END, words(entry === 0 ? 1 : 0, entry), t.default)

/** Stub only: leave the stub and run the app (no reply). */
export const runUserCode = (t: Timeouts): Command => command(Op.RUN_USER_CODE, new Uint8Array(0), t.default)

/** Stub only: erase a sector-aligned region. */
export const eraseRegion = (t: Timeouts, offset: number, size: number): Command =>
  command(Op.ERASE_REGION, words(offset, size), timeoutPerMb(t, t.erasePerMb, size), `ERASE_REGION 0x${offset.toString(16)}+${size}`)
