import { type AppIdentity, bootBanner, LineReader, type McuSelfTests, selfTestReply, versionIn } from "../avr/appConsole.js"
import { ByteMachine, type ByteProtocol, openSocatPair, PacedUart } from "../avr/uart.js"

/**
 * Emulated STM32F103 system-memory bootloader (AN3155, USART) on a pty.
 *
 * ```ts
 * const board = await startStm32Board({ flashKiB: 64, pace: false })
 * // board.hostPath: what stm32flash or our STM32 flasher opens (8E1 on real silicon)
 * await board.stop()
 * ```
 *
 * Behaviour as AN3155 describes it: 0x7F starts the session (ACK 0x79; before it,
 * other bytes are ignored; a later 0x7F is an invalid command → NACK 0x1F).
 * Commands are `cmd, ~cmd`; addresses 4 bytes big-endian + XOR; GET (version 0x22,
 * 11 commands; `erase: "extended"` lists 0x44 instead of 0x43 and reports 0x31),
 * GET_VERSION 0x01, GET_ID 0x02 (PID 0x410), READ_MEMORY 0x11 (≤256 bytes), GO 0x21,
 * WRITE_MEMORY 0x31 (≤256 bytes, multiple of 4 on flash, NACK on a not-erased
 * half-word like the F1's PGERR), ERASE 0x43 (0xFF 0x00 global or a page list),
 * EXTENDED ERASE 0x44 (0xFFFF mass or 16-bit page list), write/read-protect
 * commands are acknowledged and change nothing. Memory: flash at 0x08000000 (1 KiB
 * pages), RAM 0x20000000 (20 KiB), flash-size register 0x1FFFF7E0, UID 0x1FFFF7E8,
 * option bytes 0x1FFFF800; other addresses NACK.
 * GO into flash "boots" the app at `appBaud` (banner + factory self-test console,
 * ./../avr/appConsole.ts; `id` answers the UID).
 *
 * Faults: `no_sync`, `pid:<hex>`, `write_nack:<n>` (the n-th WRITE_MEMORY data stage
 * answers NACK, nothing written), `verify_error:<n>` (the n-th written block gets one
 * bit flipped), `selftest_fail:<command>`. Block faults are one-shot.
 */

export type Stm32Fault =
  | { readonly kind: "no_sync" }
  | { readonly kind: "pid"; readonly pid: number }
  | { readonly kind: "write_nack"; readonly block: number }
  | { readonly kind: "verify_error"; readonly block: number }
  | { readonly kind: "selftest_fail"; readonly command: string }

export const parseStm32Fault = (text: string): Stm32Fault => {
  const [kind, arg = ""] = text.split(":")
  switch (kind) {
    case "no_sync":
      return { kind }
    case "pid":
      if (!/^(0x)?[0-9a-f]{3,4}$/i.test(arg)) throw new Error(`fault "${text}": needs a product id, e.g. pid:0x414`)
      return { kind, pid: Number.parseInt(arg.replace(/^0x/i, ""), 16) }
    case "write_nack":
    case "verify_error":
      if (!/^\d+$/.test(arg)) throw new Error(`fault "${text}": needs a block count, e.g. ${kind}:3`)
      return { kind, block: Number(arg) }
    case "selftest_fail":
      return { kind, command: arg }
    default:
      throw new Error(`unknown STM32 fault "${text}" (no_sync, pid:<hex>, write_nack:<n>, verify_error:<n>, selftest_fail:<cmd>)`)
  }
}

export interface Stm32EmulatorOptions {
  readonly devicePath: string
  readonly flashKiB?: number
  /** 24 hex digits; default derived from the device path. */
  readonly uid?: string
  readonly erase?: "standard" | "extended"
  readonly baud?: number
  readonly appBaud?: number
  readonly pace?: boolean
  readonly faults?: ReadonlyArray<Stm32Fault | string>
  readonly tests?: McuSelfTests
  readonly firmwareName?: string
  /** Milliseconds a WRITE_MEMORY of 256 bytes takes to program; default 0. */
  readonly blockProgramMs?: number
}

export type Stm32State = "bootloader" | "app" | "stopped"

export interface Stm32EmulatorStats {
  bytesIn: number
  bytesOut: number
  commands: Record<string, number>
  blocksWritten: number
  erases: number
  boots: number
  appLines: number
}

export interface Stm32EmulatorHandle {
  readonly pid: number
  readonly uid: string
  readonly state: Stm32State
  readonly flash: Uint8Array
  readonly stats: Stm32EmulatorStats
  readonly console: () => string
  readonly waitFor: (text: string, timeoutMs?: number) => Promise<void>
  /** NRST with BOOT0 high (`bootloader`) or low (`app`). */
  readonly reset: (into?: "bootloader" | "app") => void
  readonly stop: () => Promise<void>
}

const ACK = 0x79
const NACK = 0x1f
const FLASH_BASE = 0x08000000
const RAM_BASE = 0x20000000
const INFO_BASE = 0x1ffff7e0
const OPTION_BASE = 0x1ffff800
const PAGE = 1024
const NAMES: Record<number, string> = {
  0x00: "GET", 0x01: "GET_VERSION", 0x02: "GET_ID", 0x11: "READ_MEMORY", 0x21: "GO", 0x31: "WRITE_MEMORY",
  0x43: "ERASE", 0x44: "EXTENDED_ERASE", 0x63: "WRITE_PROTECT", 0x73: "WRITE_UNPROTECT", 0x82: "READOUT_PROTECT", 0x92: "READOUT_UNPROTECT"
}

const xor = (bytes: ArrayLike<number>, seed = 0): number => {
  let acc = seed
  for (let i = 0; i < bytes.length; i++) acc ^= bytes[i]!
  return acc
}

export const startStm32Emulator = async (options: Stm32EmulatorOptions): Promise<Stm32EmulatorHandle> => {
  const faults = (options.faults ?? []).map((f) => (typeof f === "string" ? parseStm32Fault(f) : f))
  const has = <K extends Stm32Fault["kind"]>(kind: K) => faults.filter((f): f is Extract<Stm32Fault, { kind: K }> => f.kind === kind)
  const pid = has("pid")[0]?.pid ?? 0x410
  const noSync = has("no_sync").length > 0
  const writeNacks = new Set(has("write_nack").map((f) => f.block))
  const verifyErrors = new Set(has("verify_error").map((f) => f.block))
  const failing = new Set(has("selftest_fail").map((f) => f.command))
  const flashKiB = options.flashKiB ?? 128
  const uid = (options.uid ?? Buffer.from(options.devicePath).toString("hex").padStart(24, "0").slice(-24)).toLowerCase()
  if (!/^[0-9a-f]{24}$/.test(uid)) throw new Error(`uid must be 24 hex digits, got "${options.uid}"`)
  const extended = options.erase === "extended"
  const baud = options.baud ?? 115200
  const appBaud = options.appBaud ?? 115200

  const flash = new Uint8Array(flashKiB * 1024).fill(0xff)
  const ram = new Uint8Array(20 * 1024)
  const info = new Uint8Array(0x20) // 0x1FFFF7E0..0x1FFFF7FF
  info[0] = flashKiB & 0xff
  info[1] = flashKiB >> 8
  info.set(Buffer.from(uid, "hex"), 8)
  const optionBytes = Uint8Array.from([0xa5, 0x5a, 0xff, 0x00, 0xff, 0x00, 0xff, 0x00, 0xff, 0x00, 0xff, 0x00, 0xff, 0x00, 0xff, 0x00])
  const stats: Stm32EmulatorStats = { bytesIn: 0, bytesOut: 0, commands: {}, blocksWritten: 0, erases: 0, boots: 0, appLines: 0 }
  let state: Stm32State = "bootloader"
  let consoleText = ""
  let writes = 0
  const uart = await PacedUart.open(options.devicePath, { pace: options.pace ?? true, baud, bitsPerByte: 11 })

  const send = (bytes: ArrayLike<number>) => {
    const out = Uint8Array.from(bytes as ArrayLike<number>)
    stats.bytesOut += out.length
    uart.write(out)
  }
  const print = (text: string) => {
    consoleText += text
    send(Buffer.from(text, "latin1"))
  }

  /** The memory holding [address, address+length), with the offset into it; undefined = not mapped. */
  const region = (address: number, length: number): { mem: Uint8Array; at: number; kind: "flash" | "ram" | "ro" } | undefined => {
    const inside = (base: number, mem: Uint8Array) => address >= base && address + length <= base + mem.length
    if (inside(FLASH_BASE, flash)) return { mem: flash, at: address - FLASH_BASE, kind: "flash" }
    if (inside(RAM_BASE, ram)) return { mem: ram, at: address - RAM_BASE, kind: "ram" }
    if (inside(INFO_BASE, info)) return { mem: info, at: address - INFO_BASE, kind: "ro" }
    if (inside(OPTION_BASE, optionBytes)) return { mem: optionBytes, at: address - OPTION_BASE, kind: "ro" }
    return undefined
  }

  const app = (): AppIdentity => ({ chip: "STM32F103", uniqueId: uid, firmwareName: options.firmwareName ?? "factory-app", version: versionIn(flash) })
  const bootApp = () => {
    state = "app"
    machine.stop()
    uart.baud = appBaud
    lines.clear()
    stats.boots++
    // An erased vector table (0xFFFFFFFF stack pointer) hard-faults at once: nothing printed.
    if (flash.subarray(0, 4).every((b) => b === 0xff)) return
    setTimeout(() => state === "app" && print(bootBanner(app())), 20)
  }

  function* readAddress(): Generator<number, number | undefined, Uint8Array> {
    const a = yield 5
    if (xor(a.subarray(0, 4)) !== a[4]) return undefined
    return ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0
  }

  function* bootloader(): ByteProtocol {
    for (;;) {
      const [first] = yield 1
      if (first === 0x7f && !noSync) break
    }
    send([ACK])
    const commands = [0x00, 0x01, 0x02, 0x11, 0x21, 0x31, extended ? 0x44 : 0x43, 0x63, 0x73, 0x82, 0x92]
    for (;;) {
      const [command] = yield 1
      // A repeated 0x7F (a host resynchronising) is an invalid command: NACK at once.
      if (command === 0x7f) {
        send([NACK])
        continue
      }
      const [complement] = yield 1
      if ((command! ^ complement!) !== 0xff) {
        send([NACK])
        continue
      }
      const name = NAMES[command!]
      if (name === undefined) {
        send([NACK])
        continue
      }
      stats.commands[name] = (stats.commands[name] ?? 0) + 1
      switch (command) {
        case 0x00:
          send([ACK, commands.length, extended ? 0x31 : 0x22, ...commands, ACK])
          break
        case 0x01:
          send([ACK, extended ? 0x31 : 0x22, 0x00, 0x00, ACK])
          break
        case 0x02:
          send([ACK, 0x01, pid >> 8, pid & 0xff, ACK])
          break
        case 0x11: {
          send([ACK])
          const address = yield* readAddress()
          if (address === undefined) {
            send([NACK])
            break
          }
          send([ACK])
          const n = yield 2
          const length = n[0]! + 1
          const target = region(address, length)
          if ((n[0]! ^ 0xff) !== n[1] || target === undefined) {
            send([NACK])
            break
          }
          send([ACK, ...target.mem.subarray(target.at, target.at + length)])
          break
        }
        case 0x21: {
          send([ACK])
          const address = yield* readAddress()
          if (address === undefined || region(address, 4) === undefined) {
            send([NACK])
            break
          }
          send([ACK])
          if (address >= FLASH_BASE && address < FLASH_BASE + flash.length) {
            setTimeout(() => state === "bootloader" && bootApp(), 5)
            return
          }
          break
        }
        case 0x31: {
          send([ACK])
          const address = yield* readAddress()
          const aligned = address !== undefined && address % 4 === 0
          if (!aligned) {
            send([NACK])
            break
          }
          send([ACK])
          const [n] = yield 1
          const data = yield n! + 1
          const [checksum] = yield 1
          const target = region(address!, data.length)
          const block = writes++
          const erased = target !== undefined && (target.kind !== "flash" || target.mem.subarray(target.at, target.at + data.length).every((b) => b === 0xff))
          if (xor(data, n!) !== checksum || target === undefined || target.kind === "ro" || !erased || writeNacks.delete(block)) {
            send([NACK])
            break
          }
          const stored = Uint8Array.from(data)
          if (verifyErrors.delete(block)) stored[block % stored.length]! ^= 0x04
          target.mem.set(stored, target.at)
          stats.blocksWritten++
          if (options.blockProgramMs) setTimeout(() => send([ACK]), options.blockProgramMs)
          else send([ACK])
          break
        }
        case 0x43: {
          send([ACK])
          const [n] = yield 1
          if (n === 0xff) {
            const [checksum] = yield 1
            if (checksum !== 0x00) {
              send([NACK])
              break
            }
            flash.fill(0xff)
          } else {
            const pages = yield n! + 1
            const [checksum] = yield 1
            if (xor(pages, n!) !== checksum || pages.some((p) => (p + 1) * PAGE > flash.length)) {
              send([NACK])
              break
            }
            for (const p of pages) flash.fill(0xff, p * PAGE, (p + 1) * PAGE)
          }
          stats.erases++
          send([ACK])
          break
        }
        case 0x44: {
          send([ACK])
          const nn = yield 2
          const n = (nn[0]! << 8) | nn[1]!
          if (n >= 0xfff0) {
            const [checksum] = yield 1
            if (checksum !== (nn[0]! ^ nn[1]!) || n < 0xfffd) {
              send([NACK])
              break
            }
            flash.fill(0xff)
          } else {
            const raw = yield (n + 1) * 2
            const [checksum] = yield 1
            const pages = Array.from({ length: n + 1 }, (_, i) => (raw[2 * i]! << 8) | raw[2 * i + 1]!)
            if (xor(raw, xor(nn)) !== checksum || pages.some((p) => (p + 1) * PAGE > flash.length)) {
              send([NACK])
              break
            }
            for (const p of pages) flash.fill(0xff, p * PAGE, (p + 1) * PAGE)
          }
          stats.erases++
          send([ACK])
          break
        }
        default:
          // Protection commands: acknowledged twice; a real chip then resets (we stay put).
          send([ACK, ACK])
      }
    }
  }

  const machine = new ByteMachine(bootloader)
  const lines = new LineReader((line) => {
    stats.appLines++
    if (line === "reboot") return bootApp()
    print(`${selfTestReply(line, app(), options.tests ?? {}, failing)}\r\n`)
  })
  uart.onReceive = (chunk) => {
    stats.bytesIn += chunk.length
    if (state === "bootloader") machine.feed(chunk)
    else if (state === "app") lines.feed(chunk)
  }
  const reset = (into: "bootloader" | "app" = "bootloader") => {
    if (state === "stopped") return
    uart.discardQueued()
    if (into === "app") return bootApp()
    state = "bootloader"
    uart.baud = baud
    machine.restart()
  }
  reset("bootloader")

  return {
    pid,
    uid,
    get state() {
      return state
    },
    flash,
    stats,
    console: () => consoleText,
    waitFor: (text, timeoutMs = 5000) =>
      new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs
        const check = () => {
          if (consoleText.includes(text)) return resolve()
          if (Date.now() > deadline) return reject(new Error(`STM32 emulator: "${text}" not printed within ${timeoutMs} ms`))
          setTimeout(check, 10)
        }
        check()
      }),
    reset,
    stop: async () => {
      state = "stopped"
      machine.stop()
      await uart.close()
    }
  }
}

export interface Stm32Board {
  readonly hostPath: string
  readonly devicePath: string
  readonly emulator: Stm32EmulatorHandle
  readonly unplug: () => Promise<void>
  readonly stop: () => Promise<void>
}

export const startStm32Board = async (options: Omit<Stm32EmulatorOptions, "devicePath">): Promise<Stm32Board> => {
  const pair = await openSocatPair({ prefix: "fp-stm32-" })
  try {
    const emulator = await startStm32Emulator({ ...options, devicePath: pair.devicePath })
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
