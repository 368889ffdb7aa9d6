import { constants as zlibConstants, createInflate, type Inflate } from "node:zlib"
import { SlipDecoder, slipEncode } from "../../src/serial/slip.js"
import { bootFromFlash, downloadBanner, type ResetReason, selfTestReply } from "./boot.js"
import {
  CHIP_MAGIC_REG,
  type ChipProfile,
  formatMac,
  jedecId,
  Op,
  romComputedXtalHz,
  opName,
  RomError,
  STUB_NOT_IMPLEMENTED,
  SYNC_VALUE
} from "./chips.js"
import { FlashMemory, SECTOR } from "./flash.js"
import type { AppInfo } from "./image.js"
import { isFlasherStub } from "./stubRecognition.js"
import type { EspEmulatorStats, EspFault, EspSelfTests, EspState } from "./types.js"

/** What the machine needs from the wire. */
export interface MachineIo {
  /** `notBefore`: performance.now() time before which the bytes cannot leave (chip busy writing flash). */
  readonly write: (bytes: Uint8Array, notBefore?: number) => void
  readonly setBaud: (baud: number) => void
  readonly vanish: () => void
}

export interface MachineConfig {
  readonly profile: ChipProfile
  readonly mac: Uint8Array
  readonly flashSize: number
  readonly romBaud: number
  readonly appBaud: number
  readonly faults: ReadonlyArray<EspFault>
  readonly tests: EspSelfTests
  readonly firmwareName: string
  /**
   * IO0 held low (a jumper, a held BOOT button, or a fixture in download mode,
   * what `--before no_reset` is for): every reset comes back to the ROM's
   * download mode instead of booting the flash. Only "run user code" (the ROM's
   * FLASH_END(1), the stub's RUN_USER_CODE) jumps to the app without a reset.
   */
  readonly strapHeld: boolean
  /** Model flash programming time (page program 0.4 ms per 256 bytes, Winbond W25Q32JV tPP typ). */
  readonly programTime: boolean
}

/** Stub error codes (esptool stub_flasher.h); the ROM uses the 0x05–0x0b set. */
const StubError = {
  BAD_DATA_LEN: 0xc0,
  BAD_DATA_CHECKSUM: 0xc1,
  FAILED_SPI_OP: 0xc4,
  NOT_IN_FLASH_MODE: 0xc6,
  INFLATE_ERROR: 0xc7,
  NOT_ENOUGH_DATA: 0xc8,
  TOO_MUCH_DATA: 0xc9
} as const

type ErrorKind = "invalid" | "checksum" | "sequence" | "flash" | "inflate" | "too_much"

interface FlashSession {
  readonly kind: "plain" | "deflate"
  /** Stub: bytes still to be written before FLASH_END is accepted (stub_write_flash.c fs.remaining). */
  remaining: number
  /** Stub: error of the last block, reported with the next reply (the stub acknowledges before writing). */
  lastError: number
  readonly offset: number
  readonly blockSize: number
  readonly numBlocks: number
  /** Uncompressed bytes this session may write (deflate). */
  readonly limit: number
  nextSeq: number
  lastChecksum: number
  written: number
  readonly inflater: Inflate | undefined
  inflateFailed: boolean
}

interface MemSession {
  readonly offset: number
  readonly size: number
  readonly blockSize: number
  readonly bytes: Uint8Array
  nextSeq: number
}

interface ReadStream {
  readonly offset: number
  readonly length: number
  readonly packetSize: number
  readonly window: number
  sent: number
  acked: number
}

const u32 = (bytes: Uint8Array, offset: number): number =>
  (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const SYNC_PAYLOAD = Uint8Array.from([0x07, 0x07, 0x12, 0x20, ...new Array<number>(32).fill(0x55)])
const MAX_DATA_BLOCK = 0x4000
const SPI_CMD_USR = 1 << 18
const MIB = 1024 * 1024
const PAGE = 256
const PAGE_PROGRAM_MS = 0.4

/**
 * One emulated chip: ROM loader, esptool stub after a RAM upload, and the booted
 * application's self-test console. Input arrives through `receive`; everything is
 * handled strictly in order on one promise chain, like the single-threaded ROM.
 */
export class EspMachine {
  readonly flash: FlashMemory
  readonly stats: EspEmulatorStats = {
    bytesIn: 0,
    bytesOut: 0,
    packets: 0,
    commands: {},
    checksumErrors: 0,
    duplicates: 0,
    droppedResponses: 0,
    corruptedBlocks: 0,
    boots: 0,
    appLines: 0
  }
  state: EspState = "bootloader"
  private synced = false
  private spiAttached = false
  private decoder = new SlipDecoder()
  private lineBuffer = ""
  private session: FlashSession | undefined
  private mem: MemSession | undefined
  private readonly ramSegments: Array<{ start: number; end: number; bytes: Uint8Array }> = []
  private readStream: ReadStream | undefined
  private readonly regs = new Map<number, number>()
  private readonly efuses: ReadonlyMap<number, number>
  private dataBlocks = 0
  private pendingCorruption = false
  private chain: Promise<void> = Promise.resolve()
  private consoleText = ""
  private app: AppInfo | undefined
  private baud: number
  private readonly failingTests: ReadonlySet<string>
  private strapHeld: boolean
  /** When the flash finishes what it is programming (performance.now() time). */
  private busyUntil = 0

  constructor(
    private readonly config: MachineConfig,
    private readonly io: MachineIo
  ) {
    this.flash = new FlashMemory(config.flashSize)
    this.efuses = config.profile.efuses(config.mac)
    this.baud = config.romBaud
    this.strapHeld = config.strapHeld
    this.failingTests = new Set(config.faults.flatMap((f) => (f.kind === "selftest_fail" ? [f.command] : [])))
  }

  get currentBaud(): number {
    return this.baud
  }

  get bootStrapHeld(): boolean {
    return this.strapHeld
  }

  /** Hold or release IO0 (what a fixture's BOOT line does). */
  setBootStrap(held: boolean): void {
    this.strapHeld = held
  }

  get consoleOutput(): string {
    return this.consoleText
  }

  private fault<K extends EspFault["kind"]>(kind: K): Extract<EspFault, { kind: K }> | undefined {
    return this.config.faults.find((f): f is Extract<EspFault, { kind: K }> => f.kind === kind)
  }

  // ---------- input ----------

  /** Raw byte count, before pacing: the vanish fault fires on what the host has pushed. */
  countIncoming(length: number): void {
    this.stats.bytesIn += length
    const vanish = this.fault("vanish_after_bytes")
    if (vanish && this.stats.bytesIn >= vanish.bytes && this.state !== "vanished" && this.state !== "stopped") {
      this.state = "vanished"
      this.io.vanish()
    }
  }

  receive(chunk: Uint8Array): void {
    this.chain = this.chain.then(() => this.consume(chunk)).catch(() => undefined)
  }

  /** Runs after everything received so far has been handled. */
  idle(): Promise<void> {
    return this.chain
  }

  private async consume(chunk: Uint8Array): Promise<void> {
    if (this.state === "app") return this.consumeLines(chunk)
    if (this.state !== "bootloader" && this.state !== "stub") return
    for (const packet of this.decoder.push(chunk)) {
      if (this.state !== "bootloader" && this.state !== "stub") return
      await this.handlePacket(packet)
    }
  }

  private consumeLines(chunk: Uint8Array): void {
    this.lineBuffer += Buffer.from(chunk).toString("latin1")
    let newline: number
    while ((newline = this.lineBuffer.indexOf("\n")) !== -1 && this.state === "app") {
      const command = this.lineBuffer.slice(0, newline).replace(/\r$/, "").trim()
      this.lineBuffer = this.lineBuffer.slice(newline + 1)
      if (command === "") continue
      this.stats.appLines++
      if (command === "reboot") {
        this.lineBuffer = ""
        this.softwareReset()
        return
      }
      const info = `chip=${this.config.profile.name} mac=${formatMac(this.config.mac)} fw=${this.app?.version ?? "unknown"} flash=${this.config.flashSize / MIB}MB`
      this.print(selfTestReply(command, info, this.config.tests, this.failingTests) + "\r\n")
    }
  }

  // ---------- output ----------

  private print(text: string): void {
    this.consoleText += text
    const bytes = Buffer.from(text, "latin1")
    this.stats.bytesOut += bytes.length
    this.io.write(bytes)
  }

  private sendPacket(payload: Uint8Array): void {
    this.sendFramed([payload])
  }

  /** Several packets in one write: a USB bridge hands them to the host together. */
  private sendFramed(payloads: ReadonlyArray<Uint8Array>): void {
    const framed = Buffer.concat(payloads.map((p) => slipEncode(p)))
    this.stats.bytesOut += framed.length
    this.io.write(framed, this.config.programTime ? this.busyUntil : 0)
  }

  private statusBytes(ok: boolean, error: number): Array<number> {
    const status = ok ? 0 : 1
    const code = ok ? 0 : error
    return this.state === "stub" || this.config.profile.romStatusBytes === 2 ? [status, code] : [status, code, 0, 0]
  }

  private packet(op: number, value: number, body: ReadonlyArray<number>): Uint8Array {
    const packet = new Uint8Array(8 + body.length)
    const view = new DataView(packet.buffer)
    packet[0] = 0x01
    packet[1] = op
    view.setUint16(2, body.length, true)
    view.setUint32(4, value >>> 0, true)
    packet.set(body, 8)
    return packet
  }

  private reply(op: number, value = 0, data: Uint8Array = new Uint8Array(0), ok = true, error = 0): void {
    this.sendPacket(this.packet(op, value, [...data, ...this.statusBytes(ok, error)]))
  }

  private fail(op: number, kind: ErrorKind): void {
    const stub = this.state === "stub"
    const code = {
      invalid: stub ? StubError.BAD_DATA_LEN : RomError.INVALID_MESSAGE,
      checksum: stub ? StubError.BAD_DATA_CHECKSUM : RomError.BAD_CHECKSUM,
      sequence: stub ? StubError.NOT_IN_FLASH_MODE : RomError.FAILED_TO_ACT,
      flash: stub ? StubError.FAILED_SPI_OP : RomError.FLASH_WRITE,
      inflate: stub ? StubError.INFLATE_ERROR : RomError.INFLATE,
      too_much: stub ? StubError.TOO_MUCH_DATA : RomError.INFLATE
    }[kind]
    this.reply(op, 0, new Uint8Array(0), false, code)
  }

  /**
   * ESP32/ESP8266 ROM, a command it does not know (e.g. GET_SECURITY_INFO):
   * - the reply's op byte is NOT the request's: esptool's command() (loader.py,
   *   v4.8.1) raises UnsupportedCommandError only for a reply with another op,
   *   status ≠ 0 and error 0x05, and detect_chip expects exactly that error from
   *   the ESP32 and ESP8266 ROMs. Which op the ROM puts there is not documented;
   *   0x00 (no command) is used.
   * - 8 copies of a 12-byte packet: esptool master loader.py, "Unsupported command
   *   response is sent 8 times and has 14 bytes length including delimiter 0xC0
   *   bytes" — 8 header bytes + 4 bytes `01 05 00 00` (issue #352 "Error code
   *   01050000" shows that 4-byte form from an ESP32 ROM). The ESP8266 ROM's
   *   replies end in 2 status bytes (issue #372 trace: SYNC reply
   *   `01 08 02 00 07 07 12 20 00 00`), so its copies are `01 05`.
   * - sent in one burst, as the USB bridge delivers them, so a host that flushes
   *   its input after the first copy loses the rest (esptool's flush_input).
   * - then the loader needs a new SYNC ("ESP32/ESP8266 are reset after an
   *   unsupported command, need to reconnect", esptool detect_chip).
   * The stub answers once, status 1 error 0xFF (stub_flasher.c ESP_CMD_NOT_IMPLEMENTED).
   */
  private unsupported(op: number): void {
    if (this.state === "stub") {
      this.reply(op, 0, new Uint8Array(0), false, STUB_NOT_IMPLEMENTED)
      return
    }
    const status = this.config.profile.romStatusBytes === 4 ? [1, RomError.INVALID_MESSAGE, 0, 0] : [1, RomError.INVALID_MESSAGE]
    this.sendFramed(Array.from({ length: 8 }, () => this.packet(0x00, 0, status)))
    this.synced = false
  }

  // ---------- packets ----------

  private async handlePacket(packet: Uint8Array): Promise<void> {
    if (this.readStream && packet.length === 4) return this.readAck(u32(packet, 0))
    if (packet.length < 8 || packet[0] !== 0x00) return
    const op = packet[1]!
    const size = packet[2]! | (packet[3]! << 8)
    const checksum = u32(packet, 4)
    const data = packet.subarray(8)
    this.stats.packets++
    if (this.state === "bootloader" && !this.synced && op !== Op.SYNC) return
    this.stats.commands[opName(op)] = (this.stats.commands[opName(op)] ?? 0) + 1
    if (op === Op.SYNC) return this.sync(data)
    if (size !== data.length) return this.fail(op, "invalid")
    const supported = this.state === "stub" ? op !== Op.GET_SECURITY_INFO && op !== Op.READ_FLASH_SLOW : this.config.profile.romOps.has(op)
    if (!supported) return this.unsupported(op)
    switch (op) {
      case Op.READ_REG:
        if (data.length < 4) return this.fail(op, "invalid")
        return this.reply(op, this.readReg(u32(data, 0)))
      case Op.WRITE_REG:
        return this.writeReg(data)
      case Op.SPI_ATTACH:
        if (data.length !== 4 && data.length !== 8) return this.fail(op, "invalid")
        this.spiAttached = true
        return this.reply(op)
      case Op.SPI_SET_PARAMS:
        if (data.length < 24) return this.fail(op, "invalid")
        return u32(data, 4) > this.flash.size ? this.fail(op, "flash") : this.reply(op)
      case Op.CHANGE_BAUDRATE:
        return this.changeBaud(data)
      case Op.FLASH_BEGIN:
      case Op.FLASH_DEFL_BEGIN:
        return this.flashBegin(op, data)
      case Op.FLASH_DATA:
      case Op.FLASH_DEFL_DATA:
        return this.flashData(op, data, checksum & 0xff)
      case Op.FLASH_END:
      case Op.FLASH_DEFL_END:
        return this.flashEnd(op, data)
      case Op.SPI_FLASH_MD5:
        return this.md5(data)
      case Op.READ_FLASH_SLOW:
        return this.readFlashSlow(data)
      case Op.MEM_BEGIN:
        return this.memBegin(data)
      case Op.MEM_DATA:
        return this.memData(data, checksum & 0xff)
      case Op.MEM_END:
        return this.memEnd(data)
      case Op.ERASE_FLASH:
        return this.erase(op, 0, this.flash.size)
      case Op.ERASE_REGION:
        if (data.length < 8) return this.fail(op, "invalid")
        return this.erase(op, u32(data, 0), u32(data, 4))
      case Op.READ_FLASH:
        return this.startReadFlash(data)
      case Op.RUN_USER_CODE:
        // stub_flasher.c: no response; cmd_loop returns into the ROM, which runs user code.
        return this.boot("run_user_code")
      default:
        return this.unsupported(op)
    }
  }

  /**
   * ROM: 8 identical replies with value 0x20120707 (serial-protocol.rst trace).
   * Stub: also 8 replies, value 0 (stub_flasher.c ESP_SYNC: "Stub flasher should
   * react the same way so SYNC could be possible with the flasher stub as well"),
   * which is how esptool re-attaches to a stub that is still running.
   */
  private sync(data: Uint8Array): void {
    if (this.fault("no_sync")) return
    if (data.length !== SYNC_PAYLOAD.length || !data.every((b, i) => b === SYNC_PAYLOAD[i])) return
    const stub = this.state === "stub"
    this.synced = true
    const reply = this.packet(Op.SYNC, stub ? 0 : SYNC_VALUE, this.statusBytes(true, 0))
    this.sendFramed(Array.from({ length: 8 }, () => reply))
  }

  // ---------- registers ----------

  private readReg(address: number): number {
    const { profile } = this.config
    if (address === CHIP_MAGIC_REG) return profile.magic
    const efuse = this.efuses.get(address)
    if (efuse !== undefined) return efuse
    if (profile.romClock && address === profile.romClock.rtcCaliReg) return (profile.romClock.rtcCaliValue << 7) >>> 0
    if (address === profile.uartClkdivReg) return Math.round(profile.uartClockHz / this.baud)
    return this.regs.get(address) ?? 0
  }

  private writeReg(data: Uint8Array): void {
    if (data.length === 0 || data.length % 16 !== 0) return this.fail(Op.WRITE_REG, "invalid")
    for (let at = 0; at < data.length; at += 16) {
      const address = u32(data, at)
      const mask = u32(data, at + 8)
      const value = ((this.readReg(address) & ~mask) | (u32(data, at + 4) & mask)) >>> 0
      this.regs.set(address, value)
      if (address === this.config.profile.spiBase && value & SPI_CMD_USR) this.runSpiCommand(value)
    }
    this.reply(Op.WRITE_REG)
  }

  /** The SPI USR command: RDID answers the JEDEC id; the busy bit clears at once. */
  private runSpiCommand(cmdReg: number): void {
    const { spiBase, spiW0Offset } = this.config.profile
    const command = (this.regs.get(spiBase + 0x24) ?? 0) & 0xff
    if (command === 0x9f) this.regs.set(spiBase + spiW0Offset, jedecId(this.flash.size))
    else if (command === 0x05 || command === 0x35) this.regs.set(spiBase + spiW0Offset, 0)
    this.regs.set(spiBase, (cmdReg & ~SPI_CMD_USR) >>> 0)
  }

  /**
   * The stub sets exactly the rate asked for (stub_io_set_baudrate(old, new)).
   * The ESP32 ROM divides the crystal frequency it computed at boot (see
   * RomClock), so the line runs at requested × 40 MHz / computed: a host that
   * does not compensate lands ~1 % off the rate it switched to.
   */
  private changeBaud(data: Uint8Array): void {
    if (data.length < 8) return this.fail(Op.CHANGE_BAUDRATE, "invalid")
    const requested = u32(data, 0)
    if (requested < 300 || requested > 5_000_000) return this.fail(Op.CHANGE_BAUDRATE, "invalid")
    const clock = this.state === "bootloader" ? this.config.profile.romClock : undefined
    const actual = clock ? Math.round((requested * this.config.profile.uartClockHz) / romComputedXtalHz(clock)) : requested
    this.reply(Op.CHANGE_BAUDRATE)
    this.baud = actual
    this.io.setBaud(actual)
  }

  // ---------- flash ----------

  private needsAttach(): boolean {
    return this.state === "bootloader" && this.config.profile.needsSpiAttach && !this.spiAttached
  }

  private async slowErase(bytes: number): Promise<void> {
    const slow = this.fault("slow_erase")
    if (slow && bytes > 0) await sleep((bytes / MIB) * slow.msPerMiB)
  }

  /** Flash programming keeps the chip busy; replies sent meanwhile leave after it (paced runs only). */
  private program(at: number, bytes: Uint8Array): void {
    this.flash.program(at, bytes)
    if (this.config.programTime) {
      this.busyUntil = Math.max(performance.now(), this.busyUntil) + Math.ceil(bytes.length / PAGE) * PAGE_PROGRAM_MS
    }
  }

  /**
   * ROM: erases the range at begin (the ESP8266 ROM with its erase-size bug).
   * Stub (stub_write_flash.c handle_flash_begin / handle_flash_deflated_begin):
   * opens a session of `size` bytes to write (exact uncompressed size for
   * deflate), erasing ahead of the writes; modelled as erasing at begin.
   */
  private async flashBegin(op: number, data: Uint8Array): Promise<void> {
    if (data.length !== 16 && data.length !== 20) return this.fail(op, "invalid")
    if (this.needsAttach()) return this.fail(op, "flash")
    const size = u32(data, 0)
    const numBlocks = u32(data, 4)
    const blockSize = u32(data, 8)
    const offset = u32(data, 12)
    if (blockSize > MAX_DATA_BLOCK) return this.fail(op, "invalid")
    if (!this.flash.contains(offset, size)) return this.fail(op, "flash")
    const erased =
      this.state === "bootloader" && this.config.profile.chip === "esp8266"
        ? this.flash.eraseEsp8266Rom(offset, size)
        : this.flash.erase(offset, size)
    await this.slowErase(erased)
    const deflate = op === Op.FLASH_DEFL_BEGIN
    const session: FlashSession = {
      kind: deflate ? "deflate" : "plain",
      offset,
      blockSize,
      numBlocks,
      limit: size,
      remaining: size,
      lastError: 0,
      nextSeq: 0,
      lastChecksum: -1,
      written: 0,
      inflater: deflate ? createInflate() : undefined,
      inflateFailed: false
    }
    if (session.inflater) {
      session.inflater.on("data", (chunk: Buffer) => {
        const at = session.offset + session.written
        if (session.written + chunk.length > session.limit || !this.flash.contains(at, chunk.length)) {
          session.written = Number.POSITIVE_INFINITY
          return
        }
        this.program(at, new Uint8Array(chunk))
        session.written += chunk.length
        session.remaining = Math.max(0, session.limit - session.written)
      })
      session.inflater.on("error", () => {
        session.inflateFailed = true
      })
    }
    this.session?.inflater?.destroy()
    this.session = session
    this.reply(op)
  }

  /** Feeds one compressed block to the session's zlib stream and waits until its output is written. */
  private inflate(session: FlashSession, block: Uint8Array): Promise<void> {
    const inflater = session.inflater!
    if (session.inflateFailed) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        inflater.off("error", done)
        resolve()
      }
      inflater.once("error", done)
      inflater.write(block)
      inflater.flush(zlibConstants.Z_SYNC_FLUSH, done)
    })
  }

  private async flashData(op: number, data: Uint8Array, checksum: number): Promise<void> {
    if (data.length < 16) return this.fail(op, "invalid")
    const length = u32(data, 0)
    const seq = u32(data, 4)
    const block = data.subarray(16)
    if (block.length !== length || length > MAX_DATA_BLOCK) return this.fail(op, "invalid")
    let computed = 0xef
    for (const byte of block) computed ^= byte
    if (computed !== checksum) {
      this.stats.checksumErrors++
      return this.fail(op, "checksum")
    }
    const session = this.session
    if (this.state === "stub") return this.stubFlashData(op, session, block)
    const expected = op === Op.FLASH_DATA ? "plain" : "deflate"
    if (!session || session.kind !== expected) return this.fail(op, "sequence")
    // A block whose ACK got lost comes again with the same seq: acknowledge, do not write twice.
    if (seq + 1 === session.nextSeq && computed === session.lastChecksum) {
      this.stats.duplicates++
      return this.reply(op)
    }
    if (seq !== session.nextSeq) return this.fail(op, "sequence")
    const before = session.written
    if (session.kind === "plain") {
      const at = session.offset + seq * session.blockSize
      if (!this.flash.contains(at, block.length)) return this.fail(op, "flash")
      this.program(at, block)
      session.written = (seq + 1) * session.blockSize
    } else {
      await this.inflate(session, block)
      if (session.written === Number.POSITIVE_INFINITY) return this.fail(op, "too_much")
      if (session.inflateFailed) return this.fail(op, "inflate")
    }
    session.nextSeq++
    session.lastChecksum = computed
    if (this.afterBlock(session, before)) return
    // The ROM acknowledges a block only once it is written (the reply waits for busyUntil).
    this.reply(op)
  }

  /** Counts the block for the corrupt/drop faults; true when its reply is to be dropped. */
  private afterBlock(session: FlashSession, before: number): boolean {
    const index = this.dataBlocks++
    const corrupt = this.fault("corrupt_block")
    if ((corrupt && corrupt.block === index) || this.pendingCorruption) {
      const wrote = session.written - before
      if (wrote > 0 && Number.isFinite(wrote)) {
        this.flash.flipBit(session.offset + before + Math.floor(wrote / 2))
        this.stats.corruptedBlocks++
        this.pendingCorruption = false
      } else {
        this.pendingCorruption = true
      }
    }
    const drop = this.fault("drop_frame")
    if (drop && drop.block === index) {
      this.stats.droppedResponses++
      return true
    }
    return false
  }

  /**
   * stub_flasher.c: FLASH_DATA / FLASH_DEFL_DATA are acknowledged as soon as
   * they arrive ("ACK DATA commands immediately, then process them … allowing
   * next command to buffer"); the reply carries the error of the block before
   * (get_flash_error). Blocks are written in arrival order: the stub ignores
   * the sequence number, so a block sent twice is written twice.
   */
  private async stubFlashData(op: number, session: FlashSession | undefined, block: Uint8Array): Promise<void> {
    if (!session) return this.fail(op, "sequence")
    const before = session.written
    const dropped = this.afterBlockPreview()
    if (!dropped) {
      if (session.lastError !== 0) this.reply(op, 0, new Uint8Array(0), false, session.lastError)
      else this.reply(op)
    }
    if (op === Op.FLASH_DATA) {
      const take = Math.min(block.length, session.remaining)
      const at = session.offset + session.written
      if (!this.flash.contains(at, take)) session.lastError = StubError.FAILED_SPI_OP
      else {
        this.program(at, block.subarray(0, take))
        session.written += take
        session.remaining -= take
      }
    } else if (!session.inflater) {
      session.lastError = StubError.INFLATE_ERROR
    } else {
      await this.inflate(session, block)
      if (session.written === Number.POSITIVE_INFINITY) session.lastError = StubError.TOO_MUCH_DATA
      else if (session.inflateFailed) session.lastError = StubError.INFLATE_ERROR
    }
    this.afterBlock(session, before)
  }

  /** Whether the next data block's reply is the one the drop_frame fault swallows. */
  private afterBlockPreview(): boolean {
    const drop = this.fault("drop_frame")
    return drop !== undefined && drop.block === this.dataBlocks
  }

  /**
   * ROM: FLASH_END / FLASH_DEFL_END with 1 = "run user code" jumps to the app
   * without a reset (so it starts even with IO0 held); 0 = reboot, which with
   * IO0 held comes back to download mode.
   * Stub (handle_flash_end): fails with 0xC6 unless a flash session of either
   * kind is open, with 0xC8 while bytes are missing; with 0 it then resets the
   * chip (software_reset), with 1 it stays in the stub.
   */
  private flashEnd(op: number, data: Uint8Array): void {
    const runUserCode = data.length >= 4 ? u32(data, 0) !== 0 : false
    const session = this.session
    if (this.state === "stub") {
      if (!session) return this.fail(op, "sequence")
      if (session.remaining > 0 && Number.isFinite(session.written)) {
        return this.reply(op, 0, new Uint8Array(0), false, StubError.NOT_ENOUGH_DATA)
      }
      this.session = undefined
      session.inflater?.destroy()
      if (session.lastError !== 0) return this.reply(op, 0, new Uint8Array(0), false, session.lastError)
      this.reply(op)
      if (!runUserCode) this.softwareReset()
      return
    }
    session?.inflater?.destroy()
    this.session = undefined
    this.reply(op)
    if (runUserCode) this.boot("run_user_code")
    else this.softwareReset()
  }

  private md5(data: Uint8Array): void {
    if (data.length < 8) return this.fail(Op.SPI_FLASH_MD5, "invalid")
    if (this.needsAttach()) return this.fail(Op.SPI_FLASH_MD5, "flash")
    const offset = u32(data, 0)
    const length = u32(data, 4)
    if (!this.flash.contains(offset, length)) return this.fail(Op.SPI_FLASH_MD5, "flash")
    const digest = this.flash.md5(offset, length)
    // corrupt_md5: the digest is damaged on the way out (one flipped bit), the flash is fine.
    if (this.fault("corrupt_md5")) digest[0]! ^= 0x01
    const body = this.state === "stub" ? new Uint8Array(digest) : new Uint8Array(Buffer.from(digest.toString("hex"), "latin1"))
    this.reply(Op.SPI_FLASH_MD5, 0, body)
  }

  private readFlashSlow(data: Uint8Array): void {
    if (data.length < 8) return this.fail(Op.READ_FLASH_SLOW, "invalid")
    if (this.needsAttach()) return this.fail(Op.READ_FLASH_SLOW, "flash")
    const offset = u32(data, 0)
    const length = u32(data, 4)
    if (length > 64 || !this.flash.contains(offset, length)) return this.fail(Op.READ_FLASH_SLOW, "invalid")
    this.reply(Op.READ_FLASH_SLOW, 0, this.flash.read(offset, length))
  }

  private async erase(op: number, offset: number, length: number): Promise<void> {
    if (offset % SECTOR !== 0 || length % SECTOR !== 0 || !this.flash.contains(offset, length)) return this.fail(op, "invalid")
    await this.slowErase(this.flash.erase(offset, length))
    this.reply(op)
  }

  private startReadFlash(data: Uint8Array): void {
    if (data.length < 16) return this.fail(Op.READ_FLASH, "invalid")
    const offset = u32(data, 0)
    const length = u32(data, 4)
    const packetSize = u32(data, 8)
    const inFlight = u32(data, 12)
    if (!this.flash.contains(offset, length) || packetSize === 0 || inFlight === 0) return this.fail(Op.READ_FLASH, "invalid")
    this.reply(Op.READ_FLASH)
    this.readStream = { offset, length, packetSize, window: packetSize * inFlight, sent: 0, acked: 0 }
    this.pumpReadStream()
  }

  private pumpReadStream(): void {
    const stream = this.readStream
    if (!stream) return
    while (stream.sent < stream.length && stream.sent - stream.acked < stream.window) {
      const size = Math.min(stream.packetSize, stream.length - stream.sent)
      this.sendPacket(this.flash.read(stream.offset + stream.sent, size))
      stream.sent += size
    }
  }

  private readAck(total: number): void {
    const stream = this.readStream!
    stream.acked = Math.max(stream.acked, total)
    if (stream.acked >= stream.length) {
      this.readStream = undefined
      this.sendPacket(new Uint8Array(this.flash.md5(stream.offset, stream.length)))
      return
    }
    this.pumpReadStream()
  }

  // ---------- RAM upload and the stub ----------

  private memBegin(data: Uint8Array): void {
    if (data.length < 16) return this.fail(Op.MEM_BEGIN, "invalid")
    const size = u32(data, 0)
    const blockSize = u32(data, 8)
    const offset = u32(data, 12)
    if (blockSize === 0 || blockSize > MAX_DATA_BLOCK || size > 0x80000) return this.fail(Op.MEM_BEGIN, "invalid")
    this.mem = { offset, size, blockSize, bytes: new Uint8Array(size), nextSeq: 0 }
    this.reply(Op.MEM_BEGIN)
  }

  private memData(data: Uint8Array, checksum: number): void {
    if (data.length < 16) return this.fail(Op.MEM_DATA, "invalid")
    const block = data.subarray(16)
    if (block.length !== u32(data, 0)) return this.fail(Op.MEM_DATA, "invalid")
    let computed = 0xef
    for (const byte of block) computed ^= byte
    if (computed !== checksum) {
      this.stats.checksumErrors++
      return this.fail(Op.MEM_DATA, "checksum")
    }
    const mem = this.mem
    if (!mem || u32(data, 4) !== mem.nextSeq) return this.fail(Op.MEM_DATA, "sequence")
    const start = mem.offset + mem.nextSeq * mem.blockSize
    if (start + block.length > mem.offset + mem.size) return this.fail(Op.MEM_DATA, "invalid")
    mem.bytes.set(block, start - mem.offset)
    if (start + block.length === mem.offset + mem.size) {
      this.ramSegments.push({ start: mem.offset, end: mem.offset + mem.size, bytes: mem.bytes })
    }
    mem.nextSeq++
    this.reply(Op.MEM_DATA)
  }

  private memEnd(data: Uint8Array): void {
    if (data.length < 8) return this.fail(Op.MEM_END, "invalid")
    const noEntry = u32(data, 0) !== 0
    const entry = u32(data, 4)
    this.mem = undefined
    this.reply(Op.MEM_END)
    if (noEntry) return
    // Jumping into uploaded code: the only code this emulator can "run" is
    // Espressif's flasher stub, recognised by its text segment (stubRecognition.ts).
    const text = this.ramSegments.find((s) => entry >= s.start && entry < s.end)
    if (text && isFlasherStub(this.config.profile.chip, text.bytes)) {
      this.state = "stub"
      this.session = undefined
      // stub_main(): SLIP_send of the 4-byte greeting 0x4941484f, "OHAI" on the wire.
      this.sendPacket(new TextEncoder().encode("OHAI"))
      return
    }
    this.print(
      text
        ? `Guru Meditation Error: Core  0 panic'ed (IllegalInstruction). Exception was unhandled.\r\n`
        : `Guru Meditation Error: Core  0 panic'ed (InstrFetchProhibited). Exception was unhandled.\r\n`
    )
    this.state = "halted"
  }

  // ---------- reset and boot ----------

  private resetVolatile(): void {
    this.session?.inflater?.destroy()
    this.busyUntil = 0
    this.synced = false
    this.spiAttached = false
    this.session = undefined
    this.mem = undefined
    this.readStream = undefined
    this.ramSegments.length = 0
    this.regs.clear()
    this.decoder = new SlipDecoder()
    this.lineBuffer = ""
  }

  /** A reset from software (ROM/stub reboot, the app's `reboot`): IO0 decides where the chip comes up. */
  softwareReset(): void {
    if (this.strapHeld) this.enterBootloader(true, "software")
    else this.boot("software")
  }

  /** Boots the flash content (IO0 high): boot log, then the app console or halted. */
  boot(reason: ResetReason): void {
    this.resetVolatile()
    this.stats.boots++
    const result = bootFromFlash(this.config.profile, this.flash.bytes, reason, this.config.firmwareName)
    this.baud = this.config.appBaud
    this.io.setBaud(this.config.appBaud)
    this.app = result.app
    this.state = result.app ? "app" : "halted"
    this.print(result.text)
  }

  /** Reset with IO0 low: the ROM's download mode, waiting for SYNC. */
  enterBootloader(printBanner: boolean, reason: "poweron" | "software" = "poweron"): void {
    this.resetVolatile()
    this.app = undefined
    this.baud = this.config.romBaud
    this.io.setBaud(this.config.romBaud)
    this.state = "bootloader"
    if (printBanner) this.print(downloadBanner(this.config.profile, reason))
  }

  /** Resets go through the input chain so they never interleave with a command being handled. */
  reset(mode: "bootloader" | "app"): Promise<void> {
    this.chain = this.chain
      .then(() => {
        // An auto-reset circuit pulses EN with IO0 low (bootloader) or high (app) and then
        // lets IO0 go: whatever held it before, it is released afterwards.
        this.strapHeld = false
        return mode === "app" ? this.boot("poweron") : this.enterBootloader(true)
      })
      .catch(() => undefined)
    return this.chain
  }

  stop(): void {
    if (this.state !== "vanished") this.state = "stopped"
  }
}
