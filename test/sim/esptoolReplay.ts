/**
 * The exchanges Espressif's Python esptool v4.8.1 makes, replayed over a raw
 * serial client against the ESP emulator. Written from esptool's source as the
 * spec (espressif/esptool tag v4.8.1: `esptool/loader.py`, `esptool/cmds.py`,
 * `esptool/__init__.py` main(), `esptool/targets/esp32.py`,
 * `esptool/targets/esp8266.py`); no code copied. Every method names the
 * esptool function whose wire traffic it reproduces: same opcodes, payload
 * layouts, checksums, reply parsing (op matching, 2/4 status bytes, the
 * unsupported-command rule) and the same order of calls, so a reply esptool
 * would misread fails here too.
 *
 * Deliberate differences, none on the wire: timeouts are longer than esptool's
 * (the first SYNC read waits 1 s instead of 0.1 s, the ROM's MEM_END reply 2 s
 * instead of 0.2 s) so a loaded test machine
 * does not fail the replay; the pty has no modem lines, so every run is
 * `--before no_reset` (esptool's `_connect_attempt` then skips the reset and
 * goes straight to SYNC).
 */
import { createHash } from "node:crypto"
import { deflateSync, inflateSync } from "node:zlib"
import type { StubImage } from "../../src/flash/esp/stubImages.js"
import { slipEncode } from "../../src/serial/slip.js"
import { concat, type RawClient, u32le, xorChecksum } from "./espRawClient.js"

/** loader.py ESPLoader.ESP_* opcodes. */
export const EsptoolOp = {
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
  ERASE_REGION: 0xd1,
  READ_FLASH: 0xd2
} as const

/** loader.py: UnsupportedCommandError (a reply of another op with status byte 1 and reason 0x05). */
export class UnsupportedCommandError extends Error {}
/** loader.py: FatalError, incl. FatalError.WithResult (status bytes carried along). */
export class FatalError extends Error {
  constructor(
    message: string,
    readonly status?: ReadonlyArray<number>
  ) {
    super(status ? `${message} (result ${status.map((b) => b.toString(16)).join(" ")})` : message)
  }
}
/** loader.py: NotImplementedInROMError (check_supported_function decorators). */
export class NotImplementedInRomError extends Error {}

/** The per-chip constants esptool's target classes carry (targets/esp32.py, targets/esp8266.py). */
export interface EsptoolTarget {
  readonly name: "ESP32" | "ESP8266"
  readonly magic: number
  readonly romStatusBytes: 2 | 4
  readonly spiRegBase: number
  readonly spiW0Offs: number
  /** ESP32 and later: separate MOSI/MISO length registers; ESP8266: lengths packed into USR1. */
  readonly spiDlenOffs: { readonly mosi: number; readonly miso: number } | undefined
  readonly uartClkdivReg: number
  readonly xtalClkDivider: number
}

export const ESP32_TARGET: EsptoolTarget = {
  name: "ESP32",
  magic: 0x00f01d83,
  romStatusBytes: 4,
  spiRegBase: 0x3ff42000,
  spiW0Offs: 0x80,
  spiDlenOffs: { mosi: 0x28, miso: 0x2c },
  uartClkdivReg: 0x3ff40014,
  xtalClkDivider: 1
}

export const ESP8266_TARGET: EsptoolTarget = {
  name: "ESP8266",
  magic: 0xfff0c101,
  romStatusBytes: 2,
  spiRegBase: 0x60000200,
  spiW0Offs: 0x40,
  spiDlenOffs: undefined,
  uartClkdivReg: 0x60000014,
  xtalClkDivider: 2
}

const CHIP_DETECT_MAGIC_REG_ADDR = 0x40001000
const ESP_RAM_BLOCK = 0x1800
const FLASH_SECTOR_SIZE = 0x1000
const ESP_ROM_BAUD = 115200
/** targets/esp32.py: RTCCALICFG1, TIMERS_RTC_CALI_VALUE(_S), eFuse word 4 low byte = CK8M frequency. */
const ESP32_RTCCALICFG1 = 0x3ff5f06c
const ESP32_EFUSE_RD_REG_BASE = 0x3ff5a000
/** targets/esp8266.py: OTP MAC words. */
const ESP8266_OTP_MAC0 = 0x3ff00050
const ESP8266_OTP_MAC1 = 0x3ff00054
const ESP8266_OTP_MAC3 = 0x3ff0005c

const DEFAULT_TIMEOUT = 3000
const FIRST_SYNC_TIMEOUT = 1000

const u32At = (bytes: Uint8Array, at: number) => new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, true)
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")

export interface Reply {
  readonly val: number
  readonly data: Uint8Array
}

/**
 * One esptool "ESPLoader" object: the ROM loader before `run_stub`, the stub
 * loader class after it (`isStub`, FLASH_WRITE_SIZE 0x4000, 2 status bytes).
 * `trace` records every request op, so tests can assert the exchange itself.
 */
export class EsptoolSession {
  target: EsptoolTarget | undefined
  isStub = false
  syncStubDetected = false
  secureDownloadMode = false
  portBaud = ESP_ROM_BAUD
  readonly trace: Array<number> = []

  constructor(readonly client: RawClient) {}

  /** ESPLoader.STATUS_BYTES_LENGTH: 2 on the base class and every stub class, 4 on the ESP32 ROM class. */
  private get statusBytesLength(): number {
    return this.isStub || !this.target ? 2 : this.target.romStatusBytes
  }

  /** FLASH_WRITE_SIZE: 0x400 for ROM classes, 0x4000 for *StubLoader (matches MAX_WRITE_BLOCK). */
  get flashWriteSize(): number {
    return this.isStub ? 0x4000 : 0x400
  }

  private get chip(): EsptoolTarget {
    if (!this.target) throw new FatalError("chip not detected yet")
    return this.target
  }

  /** loader.py read(): next SLIP packet, or "Timed out waiting for packet". */
  async read(timeoutMs = DEFAULT_TIMEOUT): Promise<Uint8Array> {
    const packet = await this.client.nextPacket(timeoutMs)
    if (!packet) throw new FatalError("Timed out waiting for packet header")
    return packet
  }

  /**
   * loader.py command(): send `<BBHI` header + data; read up to 100 packets until one is
   * a response (byte 0 == 1) with the request's op. A response of another op whose
   * first status byte is non-zero and second is ROM_INVALID_RECV_MSG (0x05) is the
   * ROM's "unsupported command" reply: flush input and raise UnsupportedCommandError.
   */
  async command(
    op?: number,
    data: Uint8Array = new Uint8Array(0),
    chk = 0,
    waitResponse = true,
    timeoutMs = DEFAULT_TIMEOUT
  ): Promise<Reply | undefined> {
    if (op !== undefined) {
      this.trace.push(op)
      await this.client.send(op, data, chk)
    }
    if (!waitResponse) return undefined
    for (let retry = 0; retry < 100; retry++) {
      const p = await this.read(timeoutMs)
      if (p.length < 8 || p[0] !== 1) continue
      const opRet = p[1]!
      const val = u32At(p, 4)
      const body = p.slice(8)
      if (op === undefined || opRet === op) return { val, data: body }
      if (body[0] !== 0 && body[1] === 0x05) {
        this.client.flushInput()
        throw new UnsupportedCommandError(`unsupported command 0x${op.toString(16)}`)
      }
    }
    throw new FatalError("Response doesn't match request")
  }

  /** loader.py check_command(): the last 2/4 data bytes are the status; more data is the result. */
  async checkCommand(
    description: string,
    op: number,
    data: Uint8Array = new Uint8Array(0),
    chk = 0,
    timeoutMs = DEFAULT_TIMEOUT
  ): Promise<number | Uint8Array> {
    const reply = (await this.command(op, data, chk, true, timeoutMs))!
    const n = this.statusBytesLength
    if (reply.data.length < n) throw new FatalError(`Failed to ${description}. Only got ${reply.data.length} byte status response.`)
    const status = reply.data.subarray(reply.data.length - n)
    if (status[0] !== 0) throw new FatalError(`Failed to ${description}`, Array.from(status))
    return reply.data.length > n ? reply.data.subarray(0, reply.data.length - n) : reply.val
  }

  /** loader.py sync(): SYNC, then 7 more reads; value 0 on all eight means a running stub. */
  async sync(): Promise<void> {
    const first = (await this.command(
      EsptoolOp.SYNC,
      Uint8Array.from([0x07, 0x07, 0x12, 0x20, ...new Array<number>(32).fill(0x55)]),
      0,
      true,
      FIRST_SYNC_TIMEOUT
    ))!
    this.syncStubDetected = first.val === 0
    for (let i = 0; i < 7; i++) {
      const more = (await this.command())!
      this.syncStubDetected &&= more.val === 0
    }
  }

  /** loader.py _connect_attempt(mode="no_reset"): no reset, up to 5 × (flush_input, sync). */
  async connectAttempt(): Promise<Error | undefined> {
    let lastError: Error | undefined
    for (let i = 0; i < 5; i++) {
      try {
        this.client.flushInput()
        await this.sync()
        return undefined
      } catch (e) {
        if (!(e instanceof FatalError)) throw e
        lastError = e
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    return lastError
  }

  /**
   * loader.py connect(mode="no_reset", attempts=7). Without `detecting`: check the
   * chip magic against the class, then check_chip_id (on ESP32/ESP8266 get_chip_id is
   * decorated esp32s3_or_newer_function_only → NotImplementedInROMError → skipped).
   */
  async connect(detecting: boolean): Promise<void> {
    let lastError: Error | undefined
    for (let attempt = 0; attempt < 7; attempt++) {
      lastError = await this.connectAttempt()
      if (!lastError) break
    }
    if (lastError) throw new FatalError(`Failed to connect: ${lastError.message}`)
    if (!detecting) {
      const magic = await this.readReg(CHIP_DETECT_MAGIC_REG_ADDR)
      if (magic !== this.chip.magic) throw new FatalError(`This chip is not ${this.chip.name} (magic 0x${magic.toString(16)})`)
    }
  }

  /**
   * cmds.py detect_chip(): connect(detecting), GET_SECURITY_INFO through
   * get_chip_id (the base ESPLoader class allows it). ESP32/ESP8266 ROM: unsupported
   * → UnsupportedCommandError; a stub: status error → FatalError. Both: connect
   * again (the ROM needs a new SYNC after an unsupported command), read the magic
   * register and pick the class; a stub seen in SYNC makes it the stub class.
   */
  async detectChip(): Promise<{ fallback: "unsupported" | "fatal" }> {
    await this.connect(true)
    let fallback: "unsupported" | "fatal"
    try {
      // get_chip_id() → check_command("get security info", ...) parsed as <IBBBBBBBBI.
      const res = await this.checkCommand("get security info", EsptoolOp.GET_SECURITY_INFO)
      throw new FatalError(`GET_SECURITY_INFO unexpectedly answered (${typeof res === "number" ? res : hex(res)}) by an ESP32/ESP8266`)
    } catch (e) {
      if (e instanceof UnsupportedCommandError) fallback = "unsupported"
      else if (e instanceof FatalError && e.status) fallback = "fatal"
      else throw e
    }
    await this.connect(true)
    const magic = await this.readReg(CHIP_DETECT_MAGIC_REG_ADDR)
    const target = [ESP32_TARGET, ESP8266_TARGET].find((t) => t.magic === magic)
    if (!target) throw new FatalError(`Unexpected chip magic value 0x${magic.toString(16).padStart(8, "0")}`)
    this.target = target
    if (this.syncStubDetected) this.isStub = true
    return { fallback }
  }

  /** loader.py read_reg(): command (not check_command), byte 0 of data non-zero = failure. */
  async readReg(address: number): Promise<number> {
    const reply = (await this.command(EsptoolOp.READ_REG, u32le(address)))!
    if (reply.data[0] !== 0) throw new FatalError(`Failed to read register address ${address.toString(16)}`, Array.from(reply.data))
    return reply.val >>> 0
  }

  /** loader.py write_reg(): `<IIII` addr, value, mask, delay_us. */
  async writeReg(address: number, value: number, mask = 0xffffffff): Promise<void> {
    await this.checkCommand("write target memory", EsptoolOp.WRITE_REG, u32le(address, value, mask, 0))
  }

  /** loader.py run_spiflash_command(): the SPI USR sequence, W0 read back. */
  async runSpiflashCommand(command: number, readBits: number): Promise<number> {
    const { spiRegBase: base, spiW0Offs, spiDlenOffs } = this.chip
    const CMD = base
    const USR = base + 0x1c
    const USR1 = base + 0x20
    const USR2 = base + 0x24
    const W0 = base + spiW0Offs
    const oldUsr = await this.readReg(USR)
    const oldUsr2 = await this.readReg(USR2)
    let flags = 1 << 31 // SPI_USR_COMMAND
    if (readBits > 0) flags |= 1 << 28 // SPI_USR_MISO
    // set_data_lengths(0, readBits)
    if (spiDlenOffs) {
      if (readBits > 0) await this.writeReg(base + spiDlenOffs.miso, readBits - 1)
    } else {
      await this.writeReg(USR1, (readBits > 0 ? readBits - 1 : 0) << 8)
    }
    await this.writeReg(USR, flags >>> 0)
    await this.writeReg(USR2, ((7 << 28) | command) >>> 0)
    await this.writeReg(W0, 0)
    await this.writeReg(CMD, 1 << 18)
    // wait_done(): up to 10 reads until SPI_CMD_USR clears.
    let done = false
    for (let i = 0; i < 10 && !done; i++) done = ((await this.readReg(CMD)) & (1 << 18)) === 0
    if (!done) throw new FatalError("SPI command did not complete in time")
    const status = await this.readReg(W0)
    await this.writeReg(USR, oldUsr)
    await this.writeReg(USR2, oldUsr2)
    return status
  }

  /** loader.py flash_id(): RDID (0x9F), 24 bits. */
  flashId(): Promise<number> {
    return this.runSpiflashCommand(0x9f, 24)
  }

  /** esp32.py read_mac() (eFuse words 2 and 1, CRC byte trimmed) / esp8266.py read_mac() (OTP, OUI by flag or MAC3). */
  async readMac(): Promise<string> {
    let bytes: Array<number>
    if (this.chip.name === "ESP32") {
      const w2 = await this.readReg(ESP32_EFUSE_RD_REG_BASE + 8)
      const w1 = await this.readReg(ESP32_EFUSE_RD_REG_BASE + 4)
      const packed = [w2 >>> 24, (w2 >> 16) & 0xff, (w2 >> 8) & 0xff, w2 & 0xff, w1 >>> 24, (w1 >> 16) & 0xff, (w1 >> 8) & 0xff, w1 & 0xff]
      bytes = packed.slice(2, 8)
    } else {
      const mac0 = await this.readReg(ESP8266_OTP_MAC0)
      const mac1 = await this.readReg(ESP8266_OTP_MAC1)
      const mac3 = await this.readReg(ESP8266_OTP_MAC3)
      let oui: Array<number>
      if (mac3 !== 0) oui = [(mac3 >> 16) & 0xff, (mac3 >> 8) & 0xff, mac3 & 0xff]
      else if (((mac1 >> 16) & 0xff) === 0) oui = [0x18, 0xfe, 0x34]
      else if (((mac1 >> 16) & 0xff) === 1) oui = [0xac, 0xd0, 0x74]
      else throw new FatalError("Unknown OUI")
      bytes = [...oui, (mac1 >> 8) & 0xff, mac1 & 0xff, mac0 >>> 24]
    }
    return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":")
  }

  /** esp8266.py chip_id(): OTP MAC0 >> 24 | (MAC1 & 0xFFFFFF) << 8. ESP32 has none (cmds.py chip_id falls back to read_mac). */
  async chipId8266(): Promise<number> {
    const id0 = await this.readReg(ESP8266_OTP_MAC0)
    const id1 = await this.readReg(ESP8266_OTP_MAC1)
    return ((id0 >>> 24) | ((id1 & 0xffffff) << 8)) >>> 0
  }

  /** loader.py get_crystal_freq(): UART_CLKDIV × our baud ÷ XTAL_CLK_DIVIDER, normalised to 26/40/48 MHz. */
  async getCrystalFreq(): Promise<{ estimated: number; normalised: number }> {
    const div = (await this.readReg(this.chip.uartClkdivReg)) & 0xfffff
    const estimated = (this.portBaud * div) / 1e6 / this.chip.xtalClkDivider
    return { estimated, normalised: estimated > 45 ? 48 : estimated > 33 ? 40 : 26 }
  }

  /** loader.py run_stub(): MEM_BEGIN/MEM_DATA per segment in 0x1800 blocks, MEM_END(entry), expect "OHAI". */
  async runStub(stub: StubImage): Promise<"uploaded" | "already running"> {
    if (this.syncStubDetected) {
      this.isStub = true
      return "already running"
    }
    for (const [start, field] of [
      [stub.textStart, stub.text],
      [stub.dataStart, stub.data]
    ] as const) {
      const blocks = Math.ceil(field.length / ESP_RAM_BLOCK)
      await this.checkCommand("enter RAM download mode", EsptoolOp.MEM_BEGIN, u32le(field.length, blocks, ESP_RAM_BLOCK, start))
      for (let seq = 0; seq < blocks; seq++) {
        const block = field.subarray(seq * ESP_RAM_BLOCK, (seq + 1) * ESP_RAM_BLOCK)
        await this.checkCommand(
          "write to target RAM",
          EsptoolOp.MEM_DATA,
          concat(u32le(block.length, seq, 0, 0), block),
          xorChecksum(block)
        )
      }
    }
    // mem_finish(): ROM errors ignored (the stub may reset the UART first). esptool waits
    // MEM_END_ROM_TIMEOUT (0.2 s); 2 s here so a loaded test machine does not lose the reply.
    try {
      await this.checkCommand("leave RAM download mode", EsptoolOp.MEM_END, u32le(stub.entry === 0 ? 1 : 0, stub.entry), 0, 2000)
    } catch (e) {
      if (!(e instanceof FatalError)) throw e
    }
    const greeting = await this.read()
    if (Buffer.from(greeting).toString("latin1") !== "OHAI")
      throw new FatalError(`Failed to start stub. Unexpected response: ${hex(greeting)}`)
    this.isStub = true
    return "uploaded"
  }

  /**
   * change_baud(): the stub gets (new, current); the ESP32 ROM (esp32.py change_baud)
   * gets new × rom_calculated_freq // valid_freq and 0, where rom_calculated_freq =
   * cali_val × 15625 × CK8M_FREQ / 40 (get_rom_cal_crystal_freq); the ESP8266 ROM has
   * no CHANGE_BAUDRATE (stub_and_esp32_function_only). The reply is read with command()
   * (status not checked); then the host switches and flushes.
   */
  async changeBaud(baud: number): Promise<number> {
    let args: Uint8Array
    if (this.isStub) args = u32le(baud, this.portBaud)
    else if (this.chip.name === "ESP32") {
      const cali = ((await this.readReg(ESP32_RTCCALICFG1)) >>> 7) & 0x01ffffff
      const ck8m = (await this.readReg(ESP32_EFUSE_RD_REG_BASE + 4 * 4)) & 0xff
      const romCalculatedFreq = (cali * 15625 * ck8m) / 40
      const validFreq = romCalculatedFreq > 33_000_000 ? 40_000_000 : 26_000_000
      args = u32le(Math.floor((baud * romCalculatedFreq) / validFreq), 0)
    } else throw new NotImplementedInRomError("ESP8266 ROM does not support changing baud rate")
    await this.command(EsptoolOp.CHANGE_BAUDRATE, args)
    this.portBaud = baud
    await this.client.setBaud(baud)
    await new Promise((resolve) => setTimeout(resolve, 50))
    this.client.flushInput()
    return u32At(args, 0)
  }

  /**
   * loader.py flash_spi_attach(): the ROM takes 8 bytes (hspi_arg + is_legacy), the stub 4.
   * esp8266.py overrides it on the ROM: no SPI_ATTACH there, flash_begin(0, 0) attaches.
   */
  async flashSpiAttach(hspiArg: number): Promise<void> {
    if (!this.isStub && this.chip.name === "ESP8266") {
      await this.flashBegin(0, 0)
      return
    }
    const arg = this.isStub ? u32le(hspiArg) : concat(u32le(hspiArg), Uint8Array.from([0, 0, 0, 0]))
    await this.checkCommand("configure SPI flash pins", EsptoolOp.SPI_ATTACH, arg)
  }

  /** loader.py flash_set_parameters(): id 0, size, 64 KiB block, 4 KiB sector, 256 page, 0xFFFF status mask. */
  async flashSetParameters(size: number): Promise<void> {
    // esp8266.py: "not implemented in ROM, but OK to silently skip for ROM".
    if (!this.isStub && this.chip.name === "ESP8266") return
    await this.checkCommand("set SPI params", EsptoolOp.SPI_SET_PARAMS, u32le(0, size, 64 * 1024, 4 * 1024, 256, 0xffff))
  }

  /** esp8266.py get_erase_size() on the ROM (the erase-size bug workaround); size otherwise. */
  private eraseSize(offset: number, size: number): number {
    if (this.isStub || this.chip.name !== "ESP8266") return size
    const sectorsPerBlock = 16
    const numSectors = Math.ceil(size / FLASH_SECTOR_SIZE)
    const startSector = Math.floor(offset / FLASH_SECTOR_SIZE)
    const head = Math.min(sectorsPerBlock - (startSector % sectorsPerBlock), numSectors)
    return numSectors < 2 * head ? Math.floor((numSectors + 1) / 2) * FLASH_SECTOR_SIZE : (numSectors - head) * FLASH_SECTOR_SIZE
  }

  /** loader.py flash_begin(): erase size, blocks of FLASH_WRITE_SIZE, block size, offset (ESP32 classes: SUPPORTS_ENCRYPTED_FLASH false). */
  async flashBegin(size: number, offset: number): Promise<number> {
    const blocks = Math.ceil(size / this.flashWriteSize)
    await this.checkCommand(
      "enter Flash download mode",
      EsptoolOp.FLASH_BEGIN,
      u32le(this.eraseSize(offset, size), blocks, this.flashWriteSize, offset),
      0,
      30_000
    )
    return blocks
  }

  /** loader.py flash_block(): `<IIII` len, seq, 0, 0 + data, checksum; retried up to WRITE_BLOCK_ATTEMPTS (3). */
  async flashBlock(data: Uint8Array, seq: number): Promise<void> {
    await this.withAttempts(() =>
      this.checkCommand(
        `write to target Flash after seq ${seq}`,
        EsptoolOp.FLASH_DATA,
        concat(u32le(data.length, seq, 0, 0), data),
        xorChecksum(data)
      )
    )
  }

  /** loader.py flash_finish(): `<I` int(not reboot). */
  async flashFinish(reboot: boolean): Promise<void> {
    await this.checkCommand("leave Flash mode", EsptoolOp.FLASH_END, u32le(reboot ? 0 : 1))
  }

  /** loader.py flash_defl_begin(): the stub gets the uncompressed size, the ROM that size rounded up to FLASH_WRITE_SIZE. */
  async flashDeflBegin(size: number, compsize: number, offset: number): Promise<number> {
    if (!this.isStub && this.chip.name === "ESP8266") throw new NotImplementedInRomError("flash_defl_begin")
    const blocks = Math.ceil(compsize / this.flashWriteSize)
    const writeSize = this.isStub ? size : Math.ceil(size / this.flashWriteSize) * this.flashWriteSize
    await this.checkCommand(
      "enter compressed flash mode",
      EsptoolOp.FLASH_DEFL_BEGIN,
      u32le(writeSize, blocks, this.flashWriteSize, offset),
      0,
      30_000
    )
    return blocks
  }

  /** loader.py flash_defl_block(). */
  async flashDeflBlock(data: Uint8Array, seq: number, timeoutMs = DEFAULT_TIMEOUT): Promise<void> {
    await this.withAttempts(() =>
      this.checkCommand(
        `write compressed data to flash after seq ${seq}`,
        EsptoolOp.FLASH_DEFL_DATA,
        concat(u32le(data.length, seq, 0, 0), data),
        xorChecksum(data),
        timeoutMs
      )
    )
  }

  /** loader.py flash_defl_finish(): nothing is sent to the ROM unless rebooting. */
  async flashDeflFinish(reboot: boolean): Promise<void> {
    if (!reboot && !this.isStub) return
    await this.checkCommand("leave compressed flash mode", EsptoolOp.FLASH_DEFL_END, u32le(reboot ? 0 : 1))
  }

  /** loader.py flash_md5sum(): 32 hex characters (ROM) or 16 raw bytes (stub) before the status. */
  async flashMd5sum(address: number, size: number): Promise<string> {
    if (!this.isStub && this.chip.name === "ESP8266") throw new NotImplementedInRomError("flash_md5sum")
    const res = await this.checkCommand("calculate md5sum", EsptoolOp.SPI_FLASH_MD5, u32le(address, size, 0, 0), 0, 30_000)
    if (typeof res === "number") throw new FatalError(`MD5Sum command returned unexpected result: ${res}`)
    if (res.length === 32) return Buffer.from(res).toString("utf8")
    if (res.length === 16) return hex(res)
    throw new FatalError(`MD5Sum command returned unexpected result: ${hex(res)}`)
  }

  /** loader.py erase_region() (stub only): sector-aligned offset and size. */
  async eraseRegion(offset: number, size: number): Promise<void> {
    if (!this.isStub) throw new NotImplementedInRomError("erase_region")
    if (offset % FLASH_SECTOR_SIZE || size % FLASH_SECTOR_SIZE) throw new FatalError("Offset/size to erase must be a multiple of 4096")
    await this.checkCommand("erase region", EsptoolOp.ERASE_REGION, u32le(offset, size), 0, 30_000)
  }

  /**
   * loader.py read_flash() with the stub: READ_FLASH(offset, length, 0x1000, 64), then
   * data packets, each acknowledged with the running total (`<I`), then a 16-byte
   * MD5 digest frame. ESP32 ROM: esp32.py read_flash_slow, 64 bytes per READ_FLASH_SLOW.
   */
  async readFlash(offset: number, length: number): Promise<Uint8Array> {
    if (!this.isStub) {
      if (this.chip.name !== "ESP32") throw new NotImplementedInRomError("read_flash_slow")
      const parts: Array<Uint8Array> = []
      let got = 0
      while (got < length) {
        const blockLen = Math.min(64, length - got)
        const r = await this.checkCommand("read flash block", EsptoolOp.READ_FLASH_SLOW, u32le(offset + got, blockLen))
        if (typeof r === "number" || r.length < blockLen) throw new FatalError(`Expected ${blockLen} byte block`)
        parts.push(r.subarray(0, blockLen))
        got += blockLen
      }
      return concat(...parts)
    }
    await this.checkCommand("read flash", EsptoolOp.READ_FLASH, u32le(offset, length, FLASH_SECTOR_SIZE, 64))
    const parts: Array<Uint8Array> = []
    let got = 0
    while (got < length) {
      const p = await this.read()
      parts.push(p)
      got += p.length
      if (got < length && p.length < FLASH_SECTOR_SIZE)
        throw new FatalError(`Corrupt data, expected 0x1000 bytes but received 0x${p.length.toString(16)} bytes`)
      await this.client.sendRaw(slipEncode(u32le(got))) // loader.py write(): SLIP-framed
    }
    if (got > length) throw new FatalError("Read more than expected")
    const digest = await this.read()
    if (digest.length !== 16) throw new FatalError(`Expected digest, got: ${hex(digest)}`)
    const data = concat(...parts)
    if (hex(digest) !== md5Hex(data)) throw new FatalError(`Digest mismatch: expected ${hex(digest)}, got ${md5Hex(data)}`)
    return data
  }

  /**
   * loader.py soft_reset(stay_in_bootloader=True), what main() sends for `--after no_reset`:
   * nothing on the ROM; from the stub FLASH_BEGIN(0, 0) + FLASH_END(reboot), which
   * re-enters the ROM bootloader.
   */
  async softResetStayInBootloader(): Promise<void> {
    if (!this.isStub) return
    await this.flashBegin(0, 0)
    await this.flashFinish(true)
  }

  private async withAttempts<T>(attempt: () => Promise<T>): Promise<T> {
    for (let left = 2; ; left--) {
      try {
        return await attempt()
      } catch (e) {
        if (!(e instanceof FatalError) || left === 0) throw e
      }
    }
  }
}

export const md5Hex = (data: Uint8Array) => createHash("md5").update(data).digest("hex")

export interface RunOptions {
  /** `--no-stub`. */
  readonly noStub?: boolean
  /** `-b`: a rate above 115200 makes main() call change_baud after the stub decision. */
  readonly baud?: number
}

export interface Prelude {
  readonly detection: { fallback: "unsupported" | "fatal" }
  readonly mac: string
  readonly crystalMHz: number
  readonly stub: "uploaded" | "already running" | "none"
  /** What CHANGE_BAUDRATE carried as the new rate (ESP32 ROM: compensated), when sent. */
  readonly baudArg: number | undefined
  readonly flashId: number
}

/**
 * __init__.py main() for an operation that takes an ESPLoader, `--before no_reset`,
 * `--chip auto`: detect_chip, the chip/crystal/MAC lines, run_stub (unless
 * --no-stub), change_baud (ROM without it: a warning), SPI attach with --no-stub,
 * the flash-chip check (flash_id, twice as main() does: connection check, XMC
 * check), and — for operations with a flash_size argument — detect_flash_size +
 * flash_set_parameters.
 */
export const runPrelude = async (
  esp: EsptoolSession,
  stub: StubImage,
  options: RunOptions & { readonly flashSizeArg?: boolean }
): Promise<Prelude> => {
  const detection = await esp.detectChip()
  // main() prints get_chip_description / get_chip_features (plain eFuse READ_REGs, not
  // replayed here), then get_crystal_freq and read_mac (cmds.py).
  const crystal = await esp.getCrystalFreq()
  const mac = await esp.readMac()
  const stubState = options.noStub ? "none" : await esp.runStub(stub)
  let baudArg: number | undefined
  if (options.baud !== undefined && options.baud > ESP_ROM_BAUD) {
    try {
      baudArg = await esp.changeBaud(options.baud)
    } catch (e) {
      if (!(e instanceof NotImplementedInRomError)) throw e
    }
  }
  // --no-stub: "Enabling default SPI flash mode" (ESP32: pads from eFuse, all zero here).
  if (options.noStub) await esp.flashSpiAttach(0)
  // "Check flash chip connection"; flash_xmc_startup and detect_flash_size reuse the
  // cached value (ESPLoader.cache["flash_id"]), so RDID runs once per session.
  const flashId = await esp.flashId()
  if (options.flashSizeArg) {
    // detect_flash_size (flash_id cached) → flash_set_parameters(size).
    const sizes: Record<number, number> = { 0x14: 1, 0x15: 2, 0x16: 4, 0x17: 8, 0x18: 16 }
    const size = sizes[(flashId >> 16) & 0xff] ?? 4
    await esp.flashSetParameters(size * 1024 * 1024)
  }
  return { detection, mac, crystalMHz: crystal.normalised, stub: stubState, baudArg, flashId }
}

/**
 * cmds.py write_flash() for one file: compress by default unless --no-stub
 * (zlib level 9), pad to 4, with --no-stub align the address down to a sector
 * (0xFF head); FLASH_(DEFL_)BEGIN, blocks of FLASH_WRITE_SIZE (plain ones padded
 * with 0xFF), after a stub write a READ_REG of the magic as a barrier, then the
 * MD5 check (skipped where the ROM has no MD5: NotImplementedInROMError), and
 * "Leaving...": on the stub FLASH_BEGIN(0,0) + FLASH_(DEFL_)END(stay).
 */
export const writeFlash = async (
  esp: EsptoolSession,
  address: number,
  file: Uint8Array,
  options: { readonly compress: boolean; readonly noStub: boolean }
): Promise<{ md5: string | "not supported"; blocks: number }> => {
  let image = file.length % 4 ? concat(file, new Uint8Array(4 - (file.length % 4)).fill(0xff)) : file
  if (options.noStub) {
    const over = address % FLASH_SECTOR_SIZE
    address -= over
    image = concat(new Uint8Array(over).fill(0xff), image)
  }
  const calcmd5 = md5Hex(image)
  const uncsize = image.length
  let blocks: number
  if (options.compress) {
    const compressed = new Uint8Array(deflateSync(image, { level: 9 }))
    expectInflates(compressed, image)
    blocks = await esp.flashDeflBegin(uncsize, compressed.length, address)
    for (let seq = 0; seq < blocks; seq++) {
      await esp.flashDeflBlock(compressed.subarray(seq * esp.flashWriteSize, (seq + 1) * esp.flashWriteSize), seq)
    }
  } else {
    blocks = await esp.flashBegin(uncsize, address)
    for (let seq = 0; seq < blocks; seq++) {
      const block = new Uint8Array(esp.flashWriteSize).fill(0xff)
      block.set(image.subarray(seq * esp.flashWriteSize, (seq + 1) * esp.flashWriteSize))
      await esp.flashBlock(block, seq)
    }
  }
  if (esp.isStub) await esp.readReg(CHIP_DETECT_MAGIC_REG_ADDR)
  let md5: string | "not supported" = "not supported"
  try {
    md5 = await esp.flashMd5sum(address, uncsize)
    if (md5 !== calcmd5) throw new FatalError(`MD5 of file does not match data in flash! file ${calcmd5} flash ${md5}`)
  } catch (e) {
    if (!(e instanceof NotImplementedInRomError)) throw e
  }
  if (esp.isStub) {
    await esp.flashBegin(0, 0)
    if (options.compress) await esp.flashDeflFinish(false)
    else await esp.flashFinish(false)
  }
  return { md5, blocks }
}

const expectInflates = (compressed: Uint8Array, image: Uint8Array) => {
  if (md5Hex(inflateSync(compressed)) !== md5Hex(image)) throw new Error("zlib round trip failed")
}

/** cmds.py verify_flash(): pad to 4, compare flash_md5sum with the file's MD5 (no --diff). */
export const verifyFlash = async (esp: EsptoolSession, address: number, file: Uint8Array): Promise<boolean> => {
  const image = file.length % 4 ? concat(file, new Uint8Array(4 - (file.length % 4)).fill(0xff)) : file
  return (await esp.flashMd5sum(address, image.length)) === md5Hex(image)
}
