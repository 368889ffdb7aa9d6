import { Duration, Effect, Either } from "effect"
import { ChipMismatch, type FlashFailure, UnsupportedPlatform } from "../../domain/errors/flash.js"
import { parseMac } from "../../domain/mac.js"
import { SerialPorts } from "../../serial/SerialPorts.js"
import type { DetectedBoard, FlasherService, FlashSession, Platform, SessionOptions, WriteReport } from "../Flasher.js"
import { type ChipSpec, chipFitsPlatform } from "./chips.js"
import * as Cmd from "./commands.js"
import { EspConnection } from "./connection.js"
import { connectRom, detectChip, flashSizeFromId, formatMac, readFlashId, readMac } from "./detect.js"
import { checkImageForChip, checkRegionLayout } from "./image.js"
import { ESPRESSIF_USB, hardReset, runReset } from "./reset.js"
import { type RegionResult, writeRegion } from "./write.js"

export interface EspFlasherConfig {
  readonly timeouts: Cmd.Timeouts
  /** Attempts per data block (esptool's WRITE_BLOCK_ATTEMPTS). */
  readonly blockAttempts: number
  /**
   * Data blocks on the wire ahead of the oldest unanswered one. 1 is esptool's
   * strict request/response; 2 keeps the line busy while the device writes
   * and answers (the loader reads the next frame from its UART buffer).
   */
  readonly inFlightBlocks: number
  /** Flash size assumed when the JEDEC id is unreadable. */
  readonly fallbackFlashSize: number
}

export const defaultEspFlasherConfig: EspFlasherConfig = {
  timeouts: Cmd.defaultTimeouts,
  blockAttempts: 3,
  inFlightBlocks: 2,
  fallbackFlashSize: 4 * 1024 * 1024
}

const ESP_PLATFORMS: ReadonlyArray<Platform> = ["esp32", "esp8266"]
/** After CHANGE_BAUDRATE the ROM needs a moment before it listens at the new rate. */
const BAUD_SETTLE = Duration.millis(50)

/**
 * The native ROM-bootloader flasher for ESP32 and ESP8266 (and, by table,
 * later ESP32-family chips). A session: open → reset + sync → detect chip,
 * MAC, flash size → (baud change) → write regions with MD5 → reset to app.
 */
export const makeEspFlasher = (config: Partial<EspFlasherConfig> = {}) =>
  Effect.map(SerialPorts, (ports): FlasherService => {
    const settings = { ...defaultEspFlasherConfig, ...config }
    const t = settings.timeouts

    const isUsbJtagSerial = (port: string) =>
      Effect.map(ports.list, (listed) =>
        listed.some((info) => (info.path === port || info.byId === port) && info.vendorId === ESPRESSIF_USB.vendorId && info.productId === ESPRESSIF_USB.productId)
      )

    const connect = (port: string, platform: Platform, options: SessionOptions) =>
      Effect.gen(function* () {
        if (!ESP_PLATFORMS.includes(platform)) {
          return yield* new UnsupportedPlatform({ platform, supported: ESP_PLATFORMS })
        }
        const serial = yield* ports.open(port, { baudRate: options.baudRate })
        const conn = new EspConnection(serial)
        const usbJtagSerial = options.before === "default_reset" ? yield* isUsbJtagSerial(port) : false
        yield* connectRom(conn, { before: options.before, connectAttempts: options.connectAttempts, usbJtagSerial, timeouts: t })

        const chip = yield* detectChip(conn, t)
        conn.statusBytes = chip.romStatusBytes
        if (!chipFitsPlatform(chip, platform)) {
          return yield* new ChipMismatch({ port, detected: chip.name, expected: platform, source: "config" })
        }
        const mac = yield* readMac(conn, chip, t)
        if (chip.romNeedsSpiAttach) yield* conn.command(Cmd.spiAttach(t))
        const flashId = yield* readFlashId(conn, chip, t)
        const flashSize = flashSizeFromId(flashId)
        if (chip.romHasDeflate) yield* conn.command(Cmd.spiSetParams(t, flashSize ?? settings.fallbackFlashSize))

        let baudRate = options.baudRate
        const wanted = options.flashBaudRate
        if (wanted !== undefined && wanted !== options.baudRate && chip.romHasChangeBaud) {
          yield* conn.command(Cmd.changeBaudrate(t, wanted))
          yield* serial.setBaudRate(wanted)
          yield* Effect.sleep(BAUD_SETTLE)
          yield* conn.reset
          baudRate = wanted
        }

        const macText = formatMac(mac)
        const board: DetectedBoard = {
          port,
          platform,
          chip: chip.name,
          identity: { kind: "mac", value: Either.getOrElse(parseMac(macText), () => macText) },
          flashSizeBytes: flashSize,
          details: {
            mac: macText,
            flashId: `0x${flashId.toString(16).padStart(6, "0")}`,
            flashSize: flashSize === undefined ? "unknown" : `${flashSize / 1048576}MB`,
            baudRate: String(baudRate),
            compression: chip.romHasDeflate ? "deflate" : "none",
            verify: chip.romHasMd5 ? "md5" : "none (ESP8266 ROM has no read-back command)"
          }
        }
        return makeSession(conn, chip, board, options, settings, usbJtagSerial)
      })

    return { platform: ESP_PLATFORMS, connect }
  })

const makeSession = (
  conn: EspConnection,
  chip: ChipSpec,
  board: DetectedBoard,
  options: SessionOptions,
  settings: EspFlasherConfig,
  usbJtagSerial: boolean
): FlashSession => {
  const t = settings.timeouts
  let wroteSomething = false

  const write: FlashSession["write"] = (regions, onProgress) =>
    Effect.gen(function* () {
      // Everything that can be checked is checked before the first erase.
      yield* checkRegionLayout(regions, board.flashSizeBytes)
      for (const region of regions) yield* checkImageForChip(board.port, chip, region)
      const wireStart = conn.wireBytes
      const results: Array<RegionResult> = []
      for (const region of regions) {
        wroteSomething = true
        results.push(yield* writeRegion(conn, chip, region, { timeouts: t, blockAttempts: settings.blockAttempts, inFlightBlocks: settings.inFlightBlocks }, onProgress))
      }
      const report: WriteReport = {
        regions: results.map(({ name, offset, size, digest, verifiedBy }) => ({ name, offset, size, digest, verifiedBy })),
        wireBytes: conn.wireBytes - wireStart,
        retries: results.reduce((sum, r) => sum + r.retries, 0)
      }
      return report
    })

  /**
   * With modem lines: pulse EN (IO0 released). Without (pty, `no_reset`):
   * ask the ROM to reboot — after a write it is still in that flash session,
   * otherwise open an empty one so FLASH_END is accepted.
   */
  const softReboot = Effect.gen(function* () {
    const deflated = chip.romHasDeflate && wroteSomething
    if (!wroteSomething) {
      yield* conn.command(Cmd.flashBegin(t, { eraseSize: 0, blocks: 0, blockSize: 0x400, offset: 0, withEncryptedWord: chip.beginHasEncryptedWord }))
    }
    const end = deflated ? Cmd.flashDeflEnd(t, false) : Cmd.flashEnd(t, false)
    yield* conn.send(end)
    // The ROM may reboot before its reply leaves the UART; the boot banner is the real confirmation.
    yield* conn.awaitReply({ ...end, timeout: Duration.millis(500) }).pipe(
      Effect.catchIf((error) => error._tag === "FlashTimeout", () => Effect.void)
    )
  })

  const resetToApp: Effect.Effect<void, FlashFailure> =
    options.before === "no_reset"
      ? softReboot
      : runReset(conn.serial, hardReset(options.before === "usb_reset" || usbJtagSerial)).pipe(
          Effect.catchTag("SignalsUnsupported", () => softReboot)
        )

  return { board, write, resetToApp }
}
