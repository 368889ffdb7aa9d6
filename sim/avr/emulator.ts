import { type AvrMcu, findAvrMcu } from "../../src/flash/avr/mcus.js"
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
 * Emulated Arduino (optiboot, STK500v1 subset) on the device end of a pty.
 *
 * ```ts
 * const board = await startAvrBoard({ mcu: "atmega328p", pace: false })
 * // board.hostPath: what avrdude -c arduino or our AVR flasher opens
 * board.emulator.flash            // the chip's flash (tests may inspect or preload)
 * await board.stop()
 * ```
 *
 * Protocol, as optiboot answers: every command ends with CRC_EOP (0x20);
 * replies are INSYNC (0x14) [data] OK (0x10). GET_SYNC 0x30, GET_PARAMETER 0x41
 * (0x81 major 4, 0x82 minor 4: the optiboot 4.4 an Uno ships with; others 0x03), SET_DEVICE 0x42 (20 bytes ignored),
 * SET_DEVICE_EXT 0x45 (5), ENTER/LEAVE_PROGMODE 0x50/0x51, LOAD_ADDRESS 0x55
 * (little-endian WORD address), UNIVERSAL 0x56 (4 bytes, answers 0x00),
 * PROG_PAGE 0x64 (length, memtype 'F'/'E', data), READ_PAGE 0x74, READ_SIGN 0x75.
 * Lengths: optiboot keeps only the low byte (a uint8 loop counter, 0 = 256), so a
 * READ_PAGE reads up to 256 bytes. A missing CRC_EOP gets no answer (optiboot would watchdog-reset
 * into the app; here the bootloader just waits for the next command).
 * PROG_PAGE erases and writes the whole page, with optiboot 4.4's timing when
 * `programTiming` is on (the default when paced): the page erase starts as soon as
 * the length arrives and runs while the data comes in (not in the NRWW section,
 * the top 4 KiB of a 328P, where it waits for the data), INSYNC goes out at the
 * command's end, OK after the page write. Erase and write take `pageWriteMs` each
 * (ATmega328P datasheet, SPM page erase / page write: 3.7–4.5 ms; 4.5 used).
 * `stats.busyMs` adds up how long the host had to wait for that beyond the wire;
 * the optiboot section at the top of flash is lock-bit protected: writes there
 * are dropped. LEAVE_PROGMODE "boots" the app: a banner at `appBaud` and the
 * factory self-test console (see ./appConsole.ts).
 *
 * Faults (string forms for CLIs): `no_sync` (never answers), `signature:1e9406`
 * (reports another part), `write_error:<n>` (the n-th PROG_PAGE of the session is
 * acknowledged but not written), `verify_error:<n>` (the n-th PROG_PAGE gets one
 * bit flipped), `selftest_fail:<command>`. Page faults are one-shot, so a retry
 * succeeds.
 */

export type AvrFault =
  | { readonly kind: "no_sync" }
  | { readonly kind: "signature"; readonly signature: readonly [number, number, number] }
  | { readonly kind: "write_error"; readonly page: number }
  | { readonly kind: "verify_error"; readonly page: number }
  | { readonly kind: "selftest_fail"; readonly command: string }

export const parseAvrFault = (text: string): AvrFault => {
  const [kind, arg = ""] = text.split(":")
  switch (kind) {
    case "no_sync":
      return { kind }
    case "signature": {
      const hex = arg.replace(/^0x/i, "")
      if (!/^[0-9a-f]{6}$/i.test(hex)) throw new Error(`fault "${text}": signature needs 6 hex digits, e.g. signature:1e9406`)
      const b = hex.match(/../g)!.map((p) => Number.parseInt(p, 16))
      return { kind, signature: [b[0]!, b[1]!, b[2]!] }
    }
    case "write_error":
    case "verify_error":
      if (!/^\d+$/.test(arg)) throw new Error(`fault "${text}": needs a page count, e.g. ${kind}:3`)
      return { kind, page: Number(arg) }
    case "selftest_fail":
      return { kind, command: arg }
    default:
      throw new Error(`unknown AVR fault "${text}" (no_sync, signature:<hex>, write_error:<n>, verify_error:<n>, selftest_fail:<cmd>)`)
  }
}

export interface AvrEmulatorOptions {
  readonly devicePath: string
  /** `atmega328p` (default) or another entry of src/flash/avr/mcus.ts. */
  readonly mcu?: string
  readonly baud?: number
  readonly appBaud?: number
  readonly pace?: boolean
  readonly faults?: ReadonlyArray<AvrFault | string>
  readonly tests?: McuSelfTests
  readonly firmwareName?: string
  /** Page erase and page write time each, in ms (datasheet 3.7–4.5); default 4.5. */
  readonly pageWriteMs?: number
  /** Whether flash programming takes its time; default: when paced. */
  readonly programTiming?: boolean
  readonly startIn?: "bootloader" | "app"
}

export type AvrState = McuState

export interface AvrEmulatorStats {
  bytesIn: number
  bytesOut: number
  /** Milliseconds the host waited on flash programming beyond the wire time. */
  busyMs: number
  commands: Record<string, number>
  pagesWritten: number
  pagesRead: number
  boots: number
  appLines: number
}

export interface AvrEmulatorHandle extends ConsoleControls {
  readonly mcu: AvrMcu
  readonly state: AvrState
  readonly flash: Uint8Array
  readonly eeprom: Uint8Array
  readonly stats: AvrEmulatorStats
  /** The paced line's own figures (round trips, timer lateness). */
  readonly line: PacedLink["stats"]
}

const STK = { OK: 0x10, INSYNC: 0x14, CRC_EOP: 0x20 } as const
const NAMES: Record<number, string> = {
  0x30: "GET_SYNC",
  0x41: "GET_PARAMETER",
  0x42: "SET_DEVICE",
  0x45: "SET_DEVICE_EXT",
  0x50: "ENTER_PROGMODE",
  0x51: "LEAVE_PROGMODE",
  0x55: "LOAD_ADDRESS",
  0x56: "UNIVERSAL",
  0x64: "PROG_PAGE",
  0x74: "READ_PAGE",
  0x75: "READ_SIGN"
}

export const startAvrEmulator = async (options: AvrEmulatorOptions): Promise<AvrEmulatorHandle> => {
  const found = findAvrMcu(options.mcu ?? "atmega328p")
  if (!found) throw new Error(`unknown AVR part "${options.mcu}"`)
  const mcu: AvrMcu = found
  const faults = (options.faults ?? []).map((f) => (typeof f === "string" ? parseAvrFault(f) : f))
  const has = <K extends AvrFault["kind"]>(kind: K) => faults.filter((f): f is Extract<AvrFault, { kind: K }> => f.kind === kind)
  const signature = has("signature")[0]?.signature ?? mcu.signature
  const writeErrors = new Set(has("write_error").map((f) => f.page))
  const verifyErrors = new Set(has("verify_error").map((f) => f.page))
  const failing = new Set(has("selftest_fail").map((f) => f.command))
  const noSync = has("no_sync").length > 0
  const baud = options.baud ?? 115200
  const appBaud = options.appBaud ?? 115200

  const flash = new Uint8Array(mcu.flashBytes).fill(0xff)
  const eeprom = new Uint8Array(mcu.eepromBytes).fill(0xff)
  const stats: AvrEmulatorStats = { bytesIn: 0, bytesOut: 0, busyMs: 0, commands: {}, pagesWritten: 0, pagesRead: 0, boots: 0, appLines: 0 }
  let progPages = 0
  const pace = options.pace ?? true
  const timing = options.programTiming ?? pace
  const spmMs = options.pageWriteMs ?? 4.5
  const link = await PacedLink.open(options.devicePath, { pace, baud, bitsPerByte: 10, owner: "AVR emulator" })

  const app = (): AppIdentity => ({
    chip: mcu.name,
    uniqueId: "none",
    firmwareName: options.firmwareName ?? "factory-app",
    version: versionIn(flash.subarray(0, mcu.flashBytes - mcu.bootBytes))
  })

  function* optiboot(): ByteProtocol {
    let address = 0 // byte address
    const programPage = (memtype: number, data: Uint8Array) => {
      if (memtype === 0x45) {
        eeprom.set(data.subarray(0, Math.max(0, eeprom.length - address)), address)
        return
      }
      const page = progPages++
      if (writeErrors.delete(page)) return
      const limit = mcu.flashBytes - mcu.bootBytes
      const start = address - (address % mcu.pageBytes)
      if (start >= limit) return
      const content = new Uint8Array(mcu.pageBytes).fill(0xff)
      content.set(data.subarray(0, mcu.pageBytes - (address - start)), address - start)
      if (verifyErrors.delete(page)) content[page % mcu.pageBytes]! ^= 0x01
      flash.set(content.subarray(0, Math.min(mcu.pageBytes, limit - start)), start)
      stats.pagesWritten++
    }
    for (;;) {
      const [command] = yield 1
      if (noSync) continue
      const name = NAMES[command!] ?? `0x${command!.toString(16)}`
      stats.commands[name] = (stats.commands[name] ?? 0) + 1
      let reply: Array<number> = []
      let leave = false
      switch (command) {
        case 0x41: {
          const [which] = yield 1
          reply = [which === 0x81 ? 4 : which === 0x82 ? 4 : 0x03]
          break
        }
        case 0x42:
          yield 20
          break
        case 0x45:
          yield 5
          break
        case 0x55: {
          const a = yield 2
          address = (a[0]! | (a[1]! << 8)) * 2
          break
        }
        case 0x56:
          yield 4
          reply = [0x00]
          break
        case 0x64: {
          const head = yield 3
          const length = head[1]! || 256
          const data = yield length
          const [eop] = yield 1
          if (eop !== STK.CRC_EOP) continue
          programPage(head[2]!, data)
          mcuConsole.send([STK.INSYNC])
          if (!timing || head[2] === 0x45) {
            mcuConsole.send([STK.OK])
            continue
          }
          // The bytes are handed over when the whole command has arrived: date the erase start back to the length byte.
          const end = performance.now()
          const eraseDone = address < mcu.nrwwStart ? end - link.byteTimeMs(length + 1) + spmMs : end + spmMs
          const written = Math.max(end, eraseDone) + spmMs
          stats.busyMs += written - end
          mcuConsole.sendAt(written, [STK.OK])
          continue
        }
        case 0x74: {
          const head = yield 3
          const length = head[1]! || 256
          const [eop] = yield 1
          if (eop !== STK.CRC_EOP) continue
          const memory = head[2] === 0x45 ? eeprom : flash
          const out = new Uint8Array(length).fill(0xff)
          out.set(memory.subarray(address, address + length))
          stats.pagesRead++
          mcuConsole.send([STK.INSYNC], out, [STK.OK])
          continue
        }
        case 0x75:
          reply = [...signature]
          break
        case 0x51:
          leave = true
          break
        default:
          // GET_SYNC, ENTER_PROGMODE and anything unknown: just the sync check.
          break
      }
      const [eop] = yield 1
      if (eop !== STK.CRC_EOP) continue
      mcuConsole.send([STK.INSYNC], reply, [STK.OK])
      if (leave) {
        // optiboot arms a 16 ms watchdog and the reset starts the app.
        mcuConsole.bootAppIn(16)
        return
      }
    }
  }

  const mcuConsole = new McuConsole({
    label: "AVR emulator",
    link,
    bootloader: optiboot,
    bootloaderBaud: baud,
    appBaud,
    stats,
    identity: app,
    // An erased chip runs off the end of flash into the bootloader again: no banner.
    blank: () => flash.subarray(0, 4).every((b) => b === 0xff),
    tests: options.tests ?? {},
    failing
  })
  mcuConsole.reset(options.startIn === "app" ? "app" : "bootloader")

  return {
    mcu,
    get state() {
      return mcuConsole.state
    },
    flash,
    eeprom,
    stats,
    line: link.stats,
    ...consoleControls(mcuConsole)
  }
}

export type AvrBoard = PtyBoard<AvrEmulatorHandle>

/** A socat pty pair plus the emulator on its device end. */
export const startAvrBoard = (options: Omit<AvrEmulatorOptions, "devicePath">): Promise<AvrBoard> =>
  startOnPty("fp-avr-", (devicePath) => startAvrEmulator({ ...options, devicePath }))
