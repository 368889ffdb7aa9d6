import { Duration, Effect, Schedule } from "effect"
import { randomBytes } from "node:crypto"
import { ChipMismatch, type FlashFailure, ImageInvalid, ProtocolError, SyncFailed, UnsupportedPlatform, VerifyFailed } from "../../domain/errors/flash.js"
import { SerialPorts } from "../../serial/SerialPorts.js"
import { runReset, type ResetStep } from "../esp/reset.js"
import type { DetectedBoard, FlasherService, FlashRegion, FlashSession, Platform, SessionOptions, WriteReport } from "../Flasher.js"
import { md5Hex } from "../formats/md5.js"
import { type AvrMcu, findAvrMcu, signatureHex, AVR_MCUS } from "./mcus.js"
import { frame, loadAddress, progPage, readPage, STK, Stk500Link } from "./stk500.js"

/**
 * Arduino-style AVR boards with optiboot (STK500v1 subset), natively:
 * reset by DTR → GET_SYNC → versions → signature check → pages written with
 * LOAD_ADDRESS + PROG_PAGE → every page read back → LEAVE_PROGMODE.
 *
 * Identity: an AVR has no MAC and the ATmega328P no readable serial number, so
 * each connect makes a random serial (`identity.kind = "serial"`, 12 hex digits;
 * the device id becomes `avr-<hex>`). The factory pipeline stores it in the
 * record and on the label; the same board flashed twice gets two serials.
 */

export interface AvrFlasherConfig {
  /** Wait for one GET_SYNC answer (optiboot answers within a byte time; the USB adapter adds ms). */
  readonly syncTimeout: Duration.DurationInput
  /** GET_SYNC tries after each reset (optiboot listens ~1 s after a reset). */
  readonly syncTries: number
  readonly commandTimeout: Duration.DurationInput
}

export const defaultAvrFlasherConfig: AvrFlasherConfig = {
  syncTimeout: Duration.millis(200),
  syncTries: 5,
  commandTimeout: Duration.seconds(1)
}

const AVR_PLATFORMS: ReadonlyArray<Platform> = ["avr"]

/**
 * The Arduino auto-reset: DTR (and RTS) pulse the RESET pin through a 100 nF
 * capacitor. Lines dropped 250 ms, raised, then 50 ms for optiboot to start —
 * the timing avrdude's arduino programmer uses.
 */
export const avrResetSequence: ReadonlyArray<ResetStep> = [
  { _tag: "Lines", dtr: false, rts: false },
  { _tag: "Sleep", duration: Duration.millis(250) },
  { _tag: "Lines", dtr: true, rts: true },
  { _tag: "Sleep", duration: Duration.millis(50) }
]

export const makeAvrFlasher = (config: Partial<AvrFlasherConfig> = {}) =>
  Effect.map(SerialPorts, (ports): FlasherService => {
    const settings = { ...defaultAvrFlasherConfig, ...config }

    const connect = (port: string, platform: Platform, options: SessionOptions) =>
      Effect.gen(function* () {
        if (!AVR_PLATFORMS.includes(platform)) return yield* new UnsupportedPlatform({ platform, supported: AVR_PLATFORMS })
        const expected = options.mcu?.expectedChip === undefined ? undefined : findAvrMcu(options.mcu.expectedChip)
        if (options.mcu?.expectedChip !== undefined && expected === undefined) {
          return yield* new ImageInvalid({
            region: "board config mcu",
            detail: `unknown AVR part "${options.mcu.expectedChip}"; known: ${AVR_MCUS.map((m) => m.id).join(", ")}`
          })
        }
        const serial = yield* ports.open(port, { baudRate: options.baudRate })
        const link = new Stk500Link(serial)
        let signalsNote = ""

        const syncOnce = link.exchange("GET_SYNC", frame(STK.GET_SYNC), 0, settings.syncTimeout)
        const attempt = Effect.gen(function* () {
          if (options.before !== "no_reset") {
            // A pty or a bare adapter has no DTR: try to sync anyway (RESET pressed by hand).
            yield* runReset(serial, avrResetSequence).pipe(
              Effect.catchTag("SignalsUnsupported", (e) => Effect.sync(() => void (signalsNote = ` (DTR could not be set: ${e.detail})`)))
            )
          }
          yield* serial.discardInput
          yield* Effect.retry(syncOnce.pipe(Effect.tapError(() => serial.discardInput)), {
            schedule: Schedule.recurs(settings.syncTries - 1),
            while: (e) => e._tag !== "SerialIoError"
          })
          // Late answers to earlier tries must not be read as replies to the next command.
          yield* Effect.sleep(Duration.millis(5))
          yield* serial.discardInput
        })
        yield* attempt.pipe(
          Effect.retry({ schedule: Schedule.recurs(Math.max(0, options.connectAttempts - 1)), while: (e) => e._tag !== "SerialIoError" }),
          Effect.catchIf(
            (e) => e._tag === "FlashTimeout" || e._tag === "ProtocolError",
            () =>
              new SyncFailed({
                port,
                attempts: options.connectAttempts,
                platform: "avr",
                detail: `optiboot did not answer STK500 GET_SYNC (${settings.syncTries} tries per reset)${signalsNote}; check that the board auto-resets on DTR (or press RESET just before flashing) and that the baud rate matches the bootloader (Uno: 115200, older boards 57600)`
              })
          )
        )

        const major = yield* link.exchange("GET_PARAMETER sw major", frame(STK.GET_PARAMETER, STK.PARAM_SW_MAJOR), 1, settings.commandTimeout)
        const minor = yield* link.exchange("GET_PARAMETER sw minor", frame(STK.GET_PARAMETER, STK.PARAM_SW_MINOR), 1, settings.commandTimeout)
        yield* link.exchange("ENTER_PROGMODE", frame(STK.ENTER_PROGMODE), 0, settings.commandTimeout)
        const signature = yield* link.exchange("READ_SIGN", frame(STK.READ_SIGN), 3, settings.commandTimeout)
        const sigHex = signatureHex(signature)
        const found = findAvrMcu(sigHex)
        if (expected !== undefined && signatureHex(expected.signature) !== sigHex) {
          return yield* new ChipMismatch({ port, detected: found ? `${found.name} (signature ${sigHex})` : `unknown AVR (signature ${sigHex})`, expected: `${expected.name} (signature ${signatureHex(expected.signature)})`, source: "config" })
        }
        if (found === undefined) {
          return yield* new ProtocolError({ port, command: "READ_SIGN", detail: `signature ${sigHex} is no known optiboot part; set the board's mcu if this is intended` })
        }
        const board: DetectedBoard = {
          port,
          platform,
          chip: found.name,
          identity: { kind: "serial", value: randomBytes(6).toString("hex") },
          flashSizeBytes: found.flashBytes,
          details: {
            signature: sigHex,
            bootloader: `optiboot ${major[0]}.${minor[0]}`,
            pageSize: String(found.pageBytes),
            appFlash: String(found.flashBytes - found.bootBytes),
            baudRate: String(options.baudRate),
            identity: "generated serial (AVR has no hardware id)"
          }
        }
        return makeSession(link, found, board, settings)
      })

    return { platform: AVR_PLATFORMS, connect }
  })

interface Page {
  readonly address: number
  readonly data: Uint8Array
}

/** Pages covering a region, the unprogrammed part of the first/last page filled with 0xFF (erased). */
const pagesOf = (region: FlashRegion, pageBytes: number): ReadonlyArray<Page> => {
  const pages: Array<Page> = []
  const first = region.offset - (region.offset % pageBytes)
  for (let address = first; address < region.offset + region.data.length; address += pageBytes) {
    const data = new Uint8Array(pageBytes).fill(0xff)
    const from = Math.max(address, region.offset)
    const to = Math.min(address + pageBytes, region.offset + region.data.length)
    data.set(region.data.subarray(from - region.offset, to - region.offset), from - address)
    pages.push({ address, data })
  }
  return pages
}

const checkLayout = (regions: ReadonlyArray<FlashRegion>, mcu: AvrMcu) =>
  Effect.gen(function* () {
    const limit = mcu.flashBytes - mcu.bootBytes
    const usedPages = new Map<number, string>()
    for (const region of regions) {
      if (region.data.length === 0) return yield* new ImageInvalid({ region: region.name, detail: "the image is empty" })
      if (region.offset + region.data.length > limit) {
        return yield* new ImageInvalid({
          region: region.name,
          detail: `ends at 0x${(region.offset + region.data.length).toString(16)}, past the ${mcu.name} application flash (${limit} bytes; the top ${mcu.bootBytes} hold optiboot)`
        })
      }
      for (const page of pagesOf(region, mcu.pageBytes)) {
        const other = usedPages.get(page.address)
        if (other !== undefined) return yield* new ImageInvalid({ region: region.name, detail: `shares the flash page at 0x${page.address.toString(16)} with ${other}` })
        usedPages.set(page.address, region.name)
      }
    }
  })

const makeSession = (link: Stk500Link, mcu: AvrMcu, board: DetectedBoard, settings: AvrFlasherConfig): FlashSession => {
  const port = board.port
  const t = settings.commandTimeout

  const write: FlashSession["write"] = (regions, onProgress) =>
    Effect.gen(function* () {
      yield* checkLayout(regions, mcu)
      const wireStart = link.wireBytes
      const results: Array<WriteReport["regions"][number]> = []
      for (const region of regions) {
        const pages = pagesOf(region, mcu.pageBytes)
        const regionWire = link.wireBytes
        let written = 0
        for (const page of pages) {
          yield* link.pair(
            { step: `LOAD_ADDRESS 0x${page.address.toString(16)}`, request: loadAddress(page.address), dataLength: 0 },
            { step: `PROG_PAGE 0x${page.address.toString(16)}`, request: progPage(page.data), dataLength: 0 },
            t
          )
          written = Math.min(region.data.length, page.address + mcu.pageBytes - region.offset)
          yield* onProgress({ region: region.name, written, total: region.data.length, wireBytes: link.wireBytes - regionWire })
        }
        for (const page of pages) {
          const back = yield* link.pair(
            { step: `LOAD_ADDRESS 0x${page.address.toString(16)}`, request: loadAddress(page.address), dataLength: 0 },
            { step: `READ_PAGE 0x${page.address.toString(16)}`, request: readPage(mcu.pageBytes), dataLength: mcu.pageBytes },
            t
          )
          if (!equalBytes(back, page.data)) {
            return yield* new VerifyFailed({
              port,
              region: `${region.name} page ${page.address / mcu.pageBytes}`,
              offset: page.address,
              expected: md5Hex(page.data),
              received: md5Hex(back)
            })
          }
        }
        results.push({ name: region.name, offset: region.offset, size: region.data.length, digest: md5Hex(region.data), verifiedBy: "readback" })
      }
      const report: WriteReport = { regions: results, wireBytes: link.wireBytes - wireStart, retries: 0 }
      return report
    })

  /** optiboot arms its watchdog on LEAVE_PROGMODE; the reset starts the application. */
  const resetToApp: Effect.Effect<void, FlashFailure> = link
    .exchange("LEAVE_PROGMODE", frame(STK.LEAVE_PROGMODE), 0, t)
    .pipe(Effect.asVoid)

  return { board, write, resetToApp }
}

const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((value, i) => value === b[i])
