import {
  type AppIdentity,
  type ByteProtocol,
  type ConsoleControls,
  consoleControls,
  McuConsole,
  type McuSelfTests,
  type McuState,
  type PtyBoard,
  startOnPty,
  versionIn
} from "../appConsole.js"
import { PacedLink } from "../pacedLink.js"

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
 * ../appConsole.ts; `id` answers the UID).
 *
 * Flash timing (`programTiming`, on by default when paced), STM32F103 datasheet
 * "Flash memory characteristics": a 16-bit write takes 40–70 µs (52.5 typical),
 * so WRITE_MEMORY of 256 bytes ACKs 128 × 52.5 µs = 6.7 ms after its checksum;
 * a 1 KiB page erase and a mass erase take 20–40 ms (20 used, the datasheet's
 * best case, so a page-by-page eraser like stm32flash is not penalised).
 * `stats.busyMs` adds up how long the host waited for that beyond the wire.
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
  /** Whether flash programming and erasing take their time; default: when paced. */
  readonly programTiming?: boolean
  /** One 16-bit flash write, µs (datasheet 40–70, typical 52.5). */
  readonly halfWordProgramUs?: number
  /** One page erase, and a mass erase, ms (datasheet 20–40). */
  readonly eraseMs?: number
}

export type Stm32State = McuState

export interface Stm32EmulatorStats {
  bytesIn: number
  bytesOut: number
  /** Milliseconds the host waited on flash programming / erasing beyond the wire time. */
  busyMs: number
  commands: Record<string, number>
  blocksWritten: number
  erases: number
  boots: number
  appLines: number
}

export interface Stm32EmulatorHandle extends ConsoleControls {
  readonly pid: number
  readonly uid: string
  readonly state: Stm32State
  readonly flash: Uint8Array
  readonly stats: Stm32EmulatorStats
  /** The paced line's own figures (round trips, timer lateness). */
  readonly line: PacedLink["stats"]
}

const ACK = 0x79
const NACK = 0x1f
const FLASH_BASE = 0x08000000
const RAM_BASE = 0x20000000
const INFO_BASE = 0x1ffff7e0
const OPTION_BASE = 0x1ffff800
const PAGE = 1024
const NAMES: Record<number, string> = {
  0x00: "GET",
  0x01: "GET_VERSION",
  0x02: "GET_ID",
  0x11: "READ_MEMORY",
  0x21: "GO",
  0x31: "WRITE_MEMORY",
  0x43: "ERASE",
  0x44: "EXTENDED_ERASE",
  0x63: "WRITE_PROTECT",
  0x73: "WRITE_UNPROTECT",
  0x82: "READOUT_PROTECT",
  0x92: "READOUT_UNPROTECT"
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
  const stats: Stm32EmulatorStats = { bytesIn: 0, bytesOut: 0, busyMs: 0, commands: {}, blocksWritten: 0, erases: 0, boots: 0, appLines: 0 }
  let writes = 0
  const pace = options.pace ?? true
  const timing = options.programTiming ?? pace
  const halfWordMs = (options.halfWordProgramUs ?? 52.5) / 1000
  const eraseMs = options.eraseMs ?? 20
  const link = await PacedLink.open(options.devicePath, { pace, baud, bitsPerByte: 11, owner: "STM32 emulator" })
  const send = (bytes: ArrayLike<number>) => mcuConsole.send(bytes)
  /** The final ACK of a command that programs or erases flash for `busyMs`. */
  const ackAfter = (busyMs: number) => {
    if (!timing || busyMs === 0) return send([ACK])
    stats.busyMs += busyMs
    mcuConsole.sendAt(performance.now() + busyMs, [ACK])
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

  const app = (): AppIdentity => ({
    chip: "STM32F103",
    uniqueId: uid,
    firmwareName: options.firmwareName ?? "factory-app",
    version: versionIn(flash)
  })

  /** Page erase one by one (each takes its erase time), or a mass erase; NACK on a bad checksum or page. */
  const erase = (pages: ReadonlyArray<number> | "all", valid: boolean) => {
    if (!valid || (pages !== "all" && pages.some((p) => (p + 1) * PAGE > flash.length))) return send([NACK])
    if (pages === "all") flash.fill(0xff)
    else for (const p of pages) flash.fill(0xff, p * PAGE, (p + 1) * PAGE)
    stats.erases++
    ackAfter((pages === "all" ? 1 : pages.length) * eraseMs)
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
            mcuConsole.bootAppIn(5)
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
          const erased =
            target !== undefined &&
            (target.kind !== "flash" || target.mem.subarray(target.at, target.at + data.length).every((b) => b === 0xff))
          if (xor(data, n!) !== checksum || target === undefined || target.kind === "ro" || !erased || writeNacks.delete(block)) {
            send([NACK])
            break
          }
          const stored = Uint8Array.from(data)
          if (verifyErrors.delete(block)) stored[block % stored.length]! ^= 0x04
          target.mem.set(stored, target.at)
          stats.blocksWritten++
          ackAfter(target.kind === "flash" ? (data.length / 2) * halfWordMs : 0)
          break
        }
        case 0x43: {
          send([ACK])
          const [n] = yield 1
          if (n === 0xff) {
            const [checksum] = yield 1
            erase("all", checksum === 0x00)
          } else {
            const pages = yield n! + 1
            const [checksum] = yield 1
            erase(Array.from(pages), xor(pages, n!) === checksum)
          }
          break
        }
        case 0x44: {
          send([ACK])
          const nn = yield 2
          const n = (nn[0]! << 8) | nn[1]!
          if (n >= 0xfff0) {
            const [checksum] = yield 1
            // 0xFFFF mass, 0xFFFE bank 1, 0xFFFD bank 2: one bank here, all three erase it.
            erase("all", checksum === (nn[0]! ^ nn[1]!) && n >= 0xfffd)
          } else {
            const raw = yield (n + 1) * 2
            const [checksum] = yield 1
            erase(
              Array.from({ length: n + 1 }, (_, i) => (raw[2 * i]! << 8) | raw[2 * i + 1]!),
              xor(raw, xor(nn)) === checksum
            )
          }
          break
        }
        default:
          // Protection commands: acknowledged twice; a real chip then resets (we stay put).
          send([ACK, ACK])
      }
    }
  }

  const mcuConsole = new McuConsole({
    label: "STM32 emulator",
    link,
    bootloader,
    bootloaderBaud: baud,
    appBaud,
    stats,
    identity: app,
    // An erased vector table (0xFFFFFFFF stack pointer) hard-faults at once: nothing printed.
    blank: () => flash.subarray(0, 4).every((b) => b === 0xff),
    tests: options.tests ?? {},
    failing
  })
  mcuConsole.reset("bootloader")

  return {
    pid,
    uid,
    get state() {
      return mcuConsole.state
    },
    flash,
    stats,
    line: link.stats,
    ...consoleControls(mcuConsole)
  }
}

export type Stm32Board = PtyBoard<Stm32EmulatorHandle>

export const startStm32Board = (options: Omit<Stm32EmulatorOptions, "devicePath">): Promise<Stm32Board> =>
  startOnPty("fp-stm32-", (devicePath) => startStm32Emulator({ ...options, devicePath }))
