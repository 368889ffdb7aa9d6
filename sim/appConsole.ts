/**
 * The factory self-test console an emulated AVR / STM32 / RP2040 application
 * runs after it boots — the same conventions as the ESP emulator (sim/esp):
 * the boot banner ends with `factory-test ready`; lines end in `\n` or `\r\n`;
 * `info` → `OK chip=… id=… fw=…`; `id` → `OK id=<unique id>`; `wifi`/`mem`/
 * `sensor` and any configured command → `OK …` or `FAIL …`; `reboot` boots
 * again (banner again); unknown → `ERR unknown command: <cmd>`.
 *
 * `McuConsole` is the part every bootloader emulator shares: one paced UART,
 * the bootloader (a `ByteMachine`) until the app boots, then the console above
 * at the app's baud; `reset`, `waitFor` and `stop` for tests.
 */
import { concatBytes } from "../src/domain/bytes.js"
import type { PacedLink } from "./pacedLink.js"
import { openSocatPair } from "./pty.js"

/** `true` = pass with the default reply, `false` = fail, a string = that exact reply line. */
export type McuSelfTests = Readonly<Record<string, boolean | string>>

const DEFAULT_REPLIES: Readonly<Record<string, { readonly ok: string; readonly fail: string }>> = {
  mem: { ok: "OK mem free_ram=1536", fail: "FAIL mem: RAM check failed" },
  sensor: { ok: "OK sensor temp=23.5C", fail: "FAIL sensor: no response from sensor (I2C 0x40)" },
  gpio: { ok: "OK gpio loopback", fail: "FAIL gpio: loopback pin stuck low" }
}

export interface AppIdentity {
  readonly chip: string
  /** What `id` answers (STM32 UID, RP2040 flash id, AVR: none → `none`). */
  readonly uniqueId: string
  readonly firmwareName: string
  readonly version: string
}

/** `FWVER=<version>;` anywhere in the image (the ESP emulator's marker), else `unknown`. */
export const versionIn = (image: Uint8Array): string => {
  const text = Buffer.from(image).toString("latin1")
  const match = /FWVER=([\x21-\x3a\x3c-\x7e]{1,32});/.exec(text)
  return match?.[1] ?? "unknown"
}

export const bootBanner = (app: AppIdentity): string =>
  [`${app.chip} boot`, `app: ${app.firmwareName} version ${app.version}`, "factory-test ready", ""].join("\r\n")

export const selfTestReply = (command: string, app: AppIdentity, tests: McuSelfTests, failing: ReadonlySet<string>): string => {
  if (command === "info") return `OK chip=${app.chip} id=${app.uniqueId} fw=${app.version}`
  if (command === "id") return `OK id=${app.uniqueId}`
  const configured = tests[command]
  const known = configured !== undefined || DEFAULT_REPLIES[command] !== undefined
  if (!known) return `ERR unknown command: ${command}`
  if (failing.has(command) || configured === false) return DEFAULT_REPLIES[command]?.fail ?? `FAIL ${command}`
  if (typeof configured === "string") return configured
  return DEFAULT_REPLIES[command]?.ok ?? `OK ${command}`
}

/** Collects console lines; `onLine` gets each trimmed non-empty line. */
export class LineReader {
  private pending = ""
  constructor(private readonly onLine: (line: string) => void) {}
  feed(chunk: Uint8Array): void {
    this.pending += Buffer.from(chunk).toString("latin1")
    let newline = this.pending.indexOf("\n")
    while (newline >= 0) {
      const line = this.pending.slice(0, newline).replace(/\r$/, "").trim()
      this.pending = this.pending.slice(newline + 1)
      if (line !== "") this.onLine(line)
      newline = this.pending.indexOf("\n")
    }
  }
  clear(): void {
    this.pending = ""
  }
}

/** A protocol as a generator: it yields how many bytes it needs next and receives them (a bootloader's `getch()` loop). */
export type ByteProtocol = Generator<number, void, Uint8Array>

export class ByteMachine {
  private buffer = new Uint8Array(0)
  private wanted = 0
  private current: ByteProtocol | undefined

  constructor(private readonly start: () => ByteProtocol) {}

  /** Starts the protocol over (a chip reset), dropping what is buffered. */
  restart(): void {
    this.buffer = new Uint8Array(0)
    this.current = this.start()
    const first = this.current.next()
    this.wanted = first.done ? 0 : first.value
  }

  stop(): void {
    this.current = undefined
    this.buffer = new Uint8Array(0)
  }

  feed(chunk: Uint8Array): void {
    if (this.current === undefined) return
    const joined = new Uint8Array(this.buffer.length + chunk.length)
    joined.set(this.buffer)
    joined.set(chunk, this.buffer.length)
    this.buffer = joined
    while (this.current !== undefined && this.wanted > 0 && this.buffer.length >= this.wanted) {
      const taken = this.buffer.slice(0, this.wanted)
      this.buffer = this.buffer.subarray(this.wanted)
      const generator: ByteProtocol = this.current
      const step = generator.next(taken)
      if (this.current !== generator) return // the step restarted or stopped the machine
      if (step.done) {
        this.current = undefined
        return
      }
      this.wanted = step.value
    }
  }
}

export type McuState = "bootloader" | "app" | "stopped"

export interface McuConsoleStats {
  bytesIn: number
  bytesOut: number
  boots: number
  appLines: number
}

export interface McuConsoleOptions {
  /** "AVR emulator": names the emulator in waitFor errors. */
  readonly label: string
  readonly link: PacedLink
  readonly bootloader: () => ByteProtocol
  readonly bootloaderBaud: number
  readonly appBaud: number
  readonly stats: McuConsoleStats
  readonly identity: () => AppIdentity
  /** True when the reset vector is erased: the chip faults (or runs into the bootloader) and prints nothing. */
  readonly blank: () => boolean
  readonly tests: McuSelfTests
  readonly failing: ReadonlySet<string>
}

export class McuConsole {
  private current: McuState = "bootloader"
  private text = ""
  private readonly machine: ByteMachine
  private readonly lines: LineReader

  constructor(private readonly options: McuConsoleOptions) {
    this.machine = new ByteMachine(options.bootloader)
    this.lines = new LineReader((line) => {
      options.stats.appLines++
      if (line === "reboot") return this.bootApp()
      this.print(`${selfTestReply(line, options.identity(), options.tests, options.failing)}\r\n`)
    })
    options.link.onReceive = (chunk) => {
      options.stats.bytesIn += chunk.length
      if (this.current === "bootloader") this.machine.feed(chunk)
      else if (this.current === "app") this.lines.feed(chunk)
    }
  }

  get state(): McuState {
    return this.current
  }

  send(...parts: Array<ArrayLike<number>>): void {
    this.sendAt(0, ...parts)
  }

  /** Sends once the chip is done with something that keeps it busy until `notBefore` (performance.now() time). */
  sendAt(notBefore: number, ...parts: Array<ArrayLike<number>>): void {
    const out = concatBytes(...parts)
    this.options.stats.bytesOut += out.length
    this.options.link.write(out, notBefore)
  }

  print(text: string): void {
    this.text += text
    this.send(Buffer.from(text, "latin1"))
  }

  console(): string {
    return this.text
  }

  bootApp(): void {
    this.current = "app"
    this.machine.stop()
    this.options.link.baud = this.options.appBaud
    this.lines.clear()
    this.options.stats.boots++
    if (this.options.blank()) return
    setTimeout(() => this.current === "app" && this.print(bootBanner(this.options.identity())), 20)
  }

  /** Leaves the bootloader the way the chip does after its exit command: the app starts `afterMs` later. */
  bootAppIn(afterMs: number): void {
    setTimeout(() => this.current === "bootloader" && this.bootApp(), afterMs)
  }

  reset(into: "bootloader" | "app" = "bootloader"): void {
    if (this.current === "stopped") return
    this.options.link.discardQueued()
    if (into === "app") return this.bootApp()
    this.current = "bootloader"
    this.options.link.baud = this.options.bootloaderBaud
    this.machine.restart()
  }

  waitFor(text: string, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + timeoutMs
      const check = () => {
        if (this.text.includes(text)) return resolve()
        if (Date.now() > deadline) return reject(new Error(`${this.options.label}: "${text}" not printed within ${timeoutMs} ms`))
        setTimeout(check, 10)
      }
      check()
    })
  }

  async stop(): Promise<void> {
    this.current = "stopped"
    this.machine.stop()
    await this.options.link.close()
  }
}

/** The console half of an emulator's handle: what tests and the demo drive. */
export interface ConsoleControls {
  readonly console: () => string
  readonly waitFor: (text: string, timeoutMs?: number) => Promise<void>
  /** What the DTR auto-reset does on a real board: back into the bootloader (or straight into the app). */
  readonly reset: (into?: "bootloader" | "app") => void
  readonly stop: () => Promise<void>
}

export const consoleControls = (mcu: McuConsole): ConsoleControls => ({
  console: () => mcu.console(),
  waitFor: (text, timeoutMs) => mcu.waitFor(text, timeoutMs),
  reset: (into) => mcu.reset(into),
  stop: () => mcu.stop()
})

export interface PtyBoard<E> {
  readonly hostPath: string
  readonly devicePath: string
  readonly emulator: E
  /** socat dies: both ends vanish like a pulled USB cable. */
  readonly unplug: () => Promise<void>
  readonly stop: () => Promise<void>
}

/** A socat pty pair with an emulator started on its device end. */
export const startOnPty = async <E extends { readonly stop: () => Promise<void> }>(
  prefix: string,
  start: (devicePath: string) => Promise<E>
): Promise<PtyBoard<E>> => {
  const pair = await openSocatPair({ prefix })
  try {
    const emulator = await start(pair.devicePath)
    return {
      hostPath: pair.hostPath,
      devicePath: pair.devicePath,
      emulator,
      unplug: pair.kill,
      stop: async () => {
        await emulator.stop()
        await pair.kill()
      }
    }
  } catch (error) {
    await pair.kill()
    throw error
  }
}
