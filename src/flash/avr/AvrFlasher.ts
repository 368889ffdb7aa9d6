import { Duration, Effect, Schedule } from "effect"
import { randomBytes } from "node:crypto"
import {
  ChipMismatch,
  type FlashFailure,
  ImageInvalid,
  ProtocolError,
  UnsupportedPlatform,
  VerifyFailed
} from "../../domain/errors/flash.js"
import { SerialPorts } from "../../serial/SerialPorts.js"
import { runReset, type ResetStep } from "../esp/reset.js"
import type { DetectedBoard, FlasherService, FlashRegion, FlashSession, Platform, SessionOptions, WriteReport } from "../Flasher.js"
import { type WrittenRegion, writtenRegion } from "../Flasher.js"
import { md5Hex } from "../formats/md5.js"
import { syncOrFail } from "../mcuLink.js"
import { type AvrMcu, findAvrMcu, signatureHex, AVR_MCUS } from "./mcus.js"
import { frame, loadAddress, progPage, readPage, STK, type StkCommand, Stk500Link } from "./stk500.js"
import { avrFamily } from "./family.js"

/**
 * Arduino-style AVR boards with optiboot (STK500v1 subset), natively:
 * reset by DTR → GET_SYNC → versions → signature check → pages written with
 * LOAD_ADDRESS + PROG_PAGE → everything read back in 256-byte READ_PAGEs →
 * LEAVE_PROGMODE.
 *
 * Pages of the image that are all 0xFF are not written: optiboot erases a page
 * only as part of PROG_PAGE, so the read-back decides — a skipped page that does
 * not read back erased is written (PROG_PAGE of 0xFF erases it) and read again.
 * The wire cost per 128-byte page is then 137 + 4 bytes to write and, per 256
 * bytes, 9 + 260 to verify; one round trip per PROG_PAGE (the chip is busy
 * ~4.5 ms programming) and one per READ_PAGE (see ./stk500.ts on pipelining).
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

/** The family's platforms, as the registry (./family.ts) declares them. */
const AVR_PLATFORMS: ReadonlyArray<Platform> = avrFamily.platforms

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

        const t = settings.commandTimeout
        const one = (step: string, request: Uint8Array, dataLength: number, timeout: Duration.DurationInput = t) =>
          Effect.map(link.exchange([{ step, request, dataLength }], timeout), (replies) => replies[0]!)
        const syncOnce = link.link.guard(one("GET_SYNC", frame(STK.GET_SYNC), 0, settings.syncTimeout))
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
        yield* syncOrFail(attempt, {
          port,
          attempts: options.connectAttempts,
          platform: "avr",
          detail: () =>
            `optiboot did not answer STK500 GET_SYNC (${settings.syncTries} tries per reset)${signalsNote}; check that the board auto-resets on DTR (or press RESET just before flashing) and that the baud rate matches the bootloader (Uno: 115200, older boards 57600)`
        })

        const [major, minor, signature] = yield* link.link.guard(
          Effect.all([
            one("GET_PARAMETER sw major", frame(STK.GET_PARAMETER, STK.PARAM_SW_MAJOR), 1),
            one("GET_PARAMETER sw minor", frame(STK.GET_PARAMETER, STK.PARAM_SW_MINOR), 1),
            Effect.zipRight(one("ENTER_PROGMODE", frame(STK.ENTER_PROGMODE), 0), one("READ_SIGN", frame(STK.READ_SIGN), 3))
          ])
        )
        const sigHex = signatureHex(signature)
        const found = findAvrMcu(sigHex)
        if (expected !== undefined && signatureHex(expected.signature) !== sigHex) {
          return yield* new ChipMismatch({
            port,
            detected: found ? `${found.name} (signature ${sigHex})` : `unknown AVR (signature ${sigHex})`,
            expected: `${expected.name} (signature ${signatureHex(expected.signature)})`,
            source: "config"
          })
        }
        if (found === undefined) {
          return yield* new ProtocolError({
            port,
            command: "READ_SIGN",
            detail: `signature ${sigHex} is no known optiboot part; set the board's mcu if this is intended`
          })
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
        if (other !== undefined)
          return yield* new ImageInvalid({
            region: region.name,
            detail: `shares the flash page at 0x${page.address.toString(16)} with ${other}`
          })
        usedPages.set(page.address, region.name)
      }
    }
  })

/** STK500 READ_PAGE reads at most 256 bytes (optiboot's uint8 counter). */
const READ_CHUNK = 256

const isBlank = (data: Uint8Array) => data.every((b) => b === 0xff)

const makeSession = (link: Stk500Link, mcu: AvrMcu, board: DetectedBoard, settings: AvrFlasherConfig): FlashSession => {
  const port = board.port
  const t = settings.commandTimeout
  const hex = (address: number) => `0x${address.toString(16)}`
  const load = (address: number): StkCommand => ({ step: `LOAD_ADDRESS ${hex(address)}`, request: loadAddress(address), dataLength: 0 })

  const program = (page: Page) =>
    link.exchange([load(page.address), { step: `PROG_PAGE ${hex(page.address)}`, request: progPage(page.data), dataLength: 0 }], t)

  /** Reads `pages` back (contiguous runs in 256-byte READ_PAGEs); returns what differs, as read. */
  const readBack = (pages: ReadonlyArray<Page>) =>
    Effect.gen(function* () {
      const differing: Array<Page> = []
      const perRead = Math.max(1, Math.floor(READ_CHUNK / mcu.pageBytes))
      for (let i = 0; i < pages.length; ) {
        let n = 1
        while (n < perRead && i + n < pages.length && pages[i + n]!.address === pages[i]!.address + n * mcu.pageBytes) n++
        const length = n * mcu.pageBytes
        const [, back] = yield* link.exchange(
          [
            load(pages[i]!.address),
            { step: `READ_PAGE ${hex(pages[i]!.address)} (${length} bytes)`, request: readPage(length), dataLength: length }
          ],
          t
        )
        for (let k = 0; k < n; k++) {
          const page = pages[i + k]!
          const got = back!.subarray(k * mcu.pageBytes, (k + 1) * mcu.pageBytes)
          if (!equalBytes(got, page.data)) differing.push({ address: page.address, data: Uint8Array.from(got) })
        }
        i += n
      }
      return differing
    })

  const verifyFailed = (region: FlashRegion, expected: Page, received: Page) =>
    new VerifyFailed({
      port,
      region: `${region.name} page ${expected.address / mcu.pageBytes}`,
      offset: expected.address,
      expected: md5Hex(expected.data),
      received: md5Hex(received.data)
    })

  const write: FlashSession["write"] = (regions, onProgress) =>
    link.link.guard(
      Effect.gen(function* () {
        yield* checkLayout(regions, mcu)
        const wireStart = link.wireBytes
        const results: Array<WrittenRegion> = []
        for (const region of regions) {
          const pages = pagesOf(region, mcu.pageBytes)
          const regionWire = link.wireBytes
          const skipped = new Set<number>()
          for (const page of pages) {
            if (isBlank(page.data)) skipped.add(page.address)
            else yield* program(page)
            const written = Math.min(region.data.length, page.address + mcu.pageBytes - region.offset)
            yield* onProgress({ region: region.name, written, total: region.data.length, wireBytes: link.wireBytes - regionWire })
          }
          const byAddress = new Map(pages.map((p) => [p.address, p]))
          const stale: Array<Page> = []
          for (const back of yield* readBack(pages)) {
            const expected = byAddress.get(back.address)!
            if (!skipped.has(back.address)) return yield* verifyFailed(region, expected, back)
            stale.push(expected)
          }
          // Skipped 0xFF pages that held something: PROG_PAGE of 0xFF erases them; then read them again.
          for (const page of stale) yield* program(page)
          const still = yield* readBack(stale)
          if (still.length > 0) return yield* verifyFailed(region, byAddress.get(still[0]!.address)!, still[0]!)
          results.push(writtenRegion(region, "readback"))
        }
        const report: WriteReport = { regions: results, wireBytes: link.wireBytes - wireStart, retries: 0 }
        return report
      })
    )

  /** optiboot arms its watchdog on LEAVE_PROGMODE; the reset starts the application. */
  const resetToApp: Effect.Effect<void, FlashFailure> = link.link
    .guard(link.exchange([{ step: "LEAVE_PROGMODE", request: frame(STK.LEAVE_PROGMODE), dataLength: 0 }], t))
    .pipe(Effect.asVoid)

  return { board, write, resetToApp }
}

const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((value, i) => value === b[i])
