import { Inflate, Z_SYNC_FLUSH } from "pako"
import { SlipDecoder, slipEncode } from "../../src/serial/slip.js"
import { bootFromFlash, downloadBanner, type ResetReason, selfTestReply } from "./boot.js"
import {
  CHIP_MAGIC_REG,
  type ChipProfile,
  formatMac,
  jedecId,
  Op,
  opName,
  RomError,
  STUB_NOT_IMPLEMENTED,
  SYNC_VALUE
} from "./chips.js"
import { FlashMemory, SECTOR } from "./flash.js"
import type { AppInfo } from "./image.js"
import type { EspEmulatorStats, EspFault, EspSelfTests, EspState } from "./types.js"

/** What the machine needs from the wire. */
export interface MachineIo {
  readonly write: (bytes: Uint8Array) => void
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
}

/** Stub error codes (esptool stub_flasher.h); the ROM uses the 0x05–0x0b set. */
const StubError = {
  BAD_DATA_LEN: 0xc0,
  BAD_DATA_CHECKSUM: 0xc1,
  FAILED_SPI_OP: 0xc4,
  NOT_IN_FLASH_MODE: 0xc6,
  INFLATE_ERROR: 0xc7,
  TOO_MUCH_DATA: 0xc9
} as const

type ErrorKind = "invalid" | "checksum" | "sequence" | "flash" | "inflate" | "too_much"

interface FlashSession {
  readonly kind: "plain" | "deflate"
  readonly offset: number
  readonly blockSize: number
  readonly numBlocks: number
  /** Uncompressed bytes this session may write (deflate). */
  readonly limit: number
  nextSeq: number
  lastChecksum: number
  written: number
  readonly inflater: Inflate | undefined
}

interface MemSession {
  readonly offset: number
  readonly size: number
  readonly blockSize: number
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
  ((bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0)

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const SYNC_PAYLOAD = Uint8Array.from([0x07, 0x07, 0x12, 0x20, ...new Array<number>(32).fill(0x55)])
const MAX_DATA_BLOCK = 0x4000
const SPI_CMD_USR = 1 << 18
const MIB = 1024 * 1024

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
  private readonly ramSegments: Array<{ start: number; end: number }> = []
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

  constructor(
    private readonly config: MachineConfig,
    private readonly io: MachineIo
  ) {
    this.flash = new FlashMemory(config.flashSize)
    this.efuses = config.profile.efuses(config.mac)
    this.baud = config.romBaud
    this.failingTests = new Set(
      config.faults.flatMap((f) => (f.kind === "selftest_fail" ? [f.command] : []))
    )
  }

  get currentBaud(): number {
    return this.baud
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
        this.boot("software")
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
    const framed = slipEncode(payload)
    this.stats.bytesOut += framed.length
    this.io.write(framed)
  }

  private statusBytes(ok: boolean, error: number): Array<number> {
    const status = ok ? 0 : 1
    const code = ok ? 0 : error
    return this.state === "stub" || this.config.profile.romStatusBytes === 2 ? [status, code] : [status, code, 0, 0]
  }

  private reply(op: number, value = 0, data: Uint8Array = new Uint8Array(0), ok = true, error = 0): void {
    const body = [...data, ...this.statusBytes(ok, error)]
    const packet = new Uint8Array(8 + body.length)
    const view = new DataView(packet.buffer)
    packet[0] = 0x01
    packet[1] = op
    view.setUint16(2, body.length, true)
    view.setUint32(4, value >>> 0, true)
    packet.set(body, 8)
    this.sendPacket(packet)
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

  /** ESP32/ESP8266 ROM: the error goes out 8 times and the loader drops back to "not synced". */
  private unsupported(op: number): void {
    if (this.state === "stub") {
      this.reply(op, 0, new Uint8Array(0), false, STUB_NOT_IMPLEMENTED)
      return
    }
    for (let i = 0; i < 8; i++) this.reply(op, 0, new Uint8Array(0), false, RomError.INVALID_MESSAGE)
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
        return this.boot("software")
      default:
        return this.unsupported(op)
    }
  }

  private sync(data: Uint8Array): void {
    if (this.fault("no_sync")) return
    if (data.length !== SYNC_PAYLOAD.length || !data.every((b, i) => b === SYNC_PAYLOAD[i])) return
    if (this.state === "stub") return this.reply(Op.SYNC, 0)
    this.synced = true
    for (let i = 0; i < 8; i++) this.reply(Op.SYNC, SYNC_VALUE)
  }

  // ---------- registers ----------

  private readReg(address: number): number {
    const { profile } = this.config
    if (address === CHIP_MAGIC_REG) return profile.magic
    const efuse = this.efuses.get(address)
    if (efuse !== undefined) return efuse
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

  private changeBaud(data: Uint8Array): void {
    if (data.length < 8) return this.fail(Op.CHANGE_BAUDRATE, "invalid")
    const next = u32(data, 0)
    if (next < 300 || next > 5_000_000) return this.fail(Op.CHANGE_BAUDRATE, "invalid")
    this.reply(Op.CHANGE_BAUDRATE)
    this.baud = next
    this.io.setBaud(next)
  }

  // ---------- flash ----------

  private needsAttach(): boolean {
    return this.state === "bootloader" && this.config.profile.needsSpiAttach && !this.spiAttached
  }

  private async slowErase(bytes: number): Promise<void> {
    const slow = this.fault("slow_erase")
    if (slow && bytes > 0) await sleep((bytes / MIB) * slow.msPerMiB)
  }

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
    const inflater = deflate ? new Inflate() : undefined
    const session: FlashSession = {
      kind: deflate ? "deflate" : "plain",
      offset,
      blockSize,
      numBlocks,
      limit: size,
      nextSeq: 0,
      lastChecksum: -1,
      written: 0,
      inflater
    }
    if (inflater) {
      inflater.onData = (chunk: Uint8Array) => {
        const at = session.offset + session.written
        if (session.written + chunk.length > session.limit || !this.flash.contains(at, chunk.length)) {
          session.written = Number.POSITIVE_INFINITY
          return
        }
        this.flash.program(at, chunk)
        session.written += chunk.length
      }
    }
    this.session = session
    this.reply(op)
  }

  private flashData(op: number, data: Uint8Array, checksum: number): void {
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
      this.flash.program(at, block)
      session.written = (seq + 1) * session.blockSize
    } else {
      session.inflater!.push(block, Z_SYNC_FLUSH)
      if (session.written === Number.POSITIVE_INFINITY) return this.fail(op, "too_much")
      if (session.inflater!.err !== 0) return this.fail(op, "inflate")
    }
    session.nextSeq++
    session.lastChecksum = computed
    const index = this.dataBlocks++
    const corrupt = this.fault("corrupt_block")
    if ((corrupt && corrupt.block === index) || this.pendingCorruption) {
      const wrote = session.written - before
      if (wrote > 0) {
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
      return
    }
    this.reply(op)
  }

  private flashEnd(op: number, data: Uint8Array): void {
    const runUserCode = data.length >= 4 ? u32(data, 0) !== 0 : false
    const session = this.session
    if (op === Op.FLASH_DEFL_END && session?.kind !== "deflate" && this.state === "stub") return this.fail(op, "sequence")
    this.session = undefined
    this.reply(op)
    if (this.state === "stub") {
      if (!runUserCode) this.boot("software")
      return
    }
    this.boot(runUserCode ? "run_user_code" : "software")
  }

  private md5(data: Uint8Array): void {
    if (data.length < 8) return this.fail(Op.SPI_FLASH_MD5, "invalid")
    if (this.needsAttach()) return this.fail(Op.SPI_FLASH_MD5, "flash")
    const offset = u32(data, 0)
    const length = u32(data, 4)
    if (!this.flash.contains(offset, length)) return this.fail(Op.SPI_FLASH_MD5, "flash")
    const digest = this.flash.md5(offset, length)
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
    if (blockSize === 0 || blockSize > MAX_DATA_BLOCK) return this.fail(Op.MEM_BEGIN, "invalid")
    this.mem = { offset, size, blockSize, nextSeq: 0 }
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
    this.ramSegments.push({ start, end: start + block.length })
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
    // Jumping into uploaded code: the only code this emulator can "run" is esptool's flasher stub.
    if (this.ramSegments.some((s) => entry >= s.start && entry < s.end)) {
      this.state = "stub"
      this.session = undefined
      this.sendPacket(new TextEncoder().encode("OHAI"))
      return
    }
    this.print(`Guru Meditation Error: Core  0 panic'ed (InstrFetchProhibited). Exception was unhandled.\r\n`)
    this.state = "halted"
  }

  // ---------- reset and boot ----------

  private resetVolatile(): void {
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
  enterBootloader(printBanner: boolean): void {
    this.resetVolatile()
    this.app = undefined
    this.baud = this.config.romBaud
    this.io.setBaud(this.config.romBaud)
    this.state = "bootloader"
    if (printBanner) this.print(downloadBanner(this.config.profile))
  }

  /** Resets go through the input chain so they never interleave with a command being handled. */
  reset(mode: "bootloader" | "app"): Promise<void> {
    this.chain = this.chain
      .then(() => (mode === "app" ? this.boot("poweron") : this.enterBootloader(true)))
      .catch(() => undefined)
    return this.chain
  }

  stop(): void {
    if (this.state !== "vanished") this.state = "stopped"
  }
}
