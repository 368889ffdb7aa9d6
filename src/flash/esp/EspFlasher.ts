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
import { romBaudArgument } from "./baud.js"
import { ESPRESSIF_USB, hardReset, runReset } from "./reset.js"
import { hasStub, loadStub } from "./stub.js"
import { type LoaderProfile, type RegionResult, ROM_BLOCK_SIZE, STUB_BLOCK_SIZE, writeRegion } from "./write.js"
import { espFamily } from "./family.js"

export interface EspFlasherConfig {
  readonly timeouts: Cmd.Timeouts
  /** Attempts per region after a lost reply (esptool's WRITE_BLOCK_ATTEMPTS). */
  readonly blockAttempts: number
  /**
   * Data blocks on the wire ahead of the oldest unanswered one with the stub
   * (which acknowledges on arrival and buffers one more block). The ROM always
   * gets 1: it answers only after writing, and replies carry no sequence number.
   */
  readonly stubInFlightBlocks: number
  /** Flash size assumed when the JEDEC id is unreadable. */
  readonly fallbackFlashSize: number
}

export const defaultEspFlasherConfig: EspFlasherConfig = {
  timeouts: Cmd.defaultTimeouts,
  blockAttempts: 3,
  stubInFlightBlocks: 2,
  fallbackFlashSize: 4 * 1024 * 1024
}

/** The family's platforms, as the registry (./family.ts) declares them. */
const ESP_PLATFORMS: ReadonlyArray<Platform> = espFamily.platforms
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
        listed.some(
          (info) =>
            (info.path === port || info.byId === port) &&
            info.vendorId === ESPRESSIF_USB.vendorId &&
            info.productId === ESPRESSIF_USB.productId
        )
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

        let baudRate = options.baudRate
        const wanted = options.flashBaudRate
        const switchBaud = (command: Cmd.Command) =>
          Effect.gen(function* () {
            yield* conn.command(command)
            yield* serial.setBaudRate(wanted!)
            yield* Effect.sleep(BAUD_SETTLE)
            yield* conn.reset
            baudRate = wanted!
          })
        const wantsBaud = () => wanted !== undefined && wanted !== baudRate
        // The ESP32 ROM changes rate itself (with esptool's crystal compensation), so the stub
        // then travels at the fast rate; the ESP8266 ROM cannot, its stub switches after loading.
        if (wantsBaud() && chip.romHasChangeBaud) {
          yield* switchBaud(Cmd.changeBaudrate(t, yield* romBaudArgument(conn, chip, t, wanted!)))
        }
        const useStub = options.stub !== false && hasStub(chip)
        if (useStub) {
          yield* loadStub(conn, chip, t)
          if (wantsBaud()) yield* switchBaud(Cmd.changeBaudrate(t, wanted!, baudRate))
        }
        if (useStub || chip.romHasDeflate) yield* conn.command(Cmd.spiSetParams(t, flashSize ?? settings.fallbackFlashSize))
        const loader: LoaderProfile = useStub
          ? {
              kind: "stub",
              blockSize: STUB_BLOCK_SIZE,
              inFlight: settings.stubInFlightBlocks,
              deflate: true,
              md5: true,
              esp8266EraseBug: false,
              beginEncryptedWord: false
            }
          : {
              kind: "rom",
              blockSize: ROM_BLOCK_SIZE,
              inFlight: 1,
              deflate: chip.romHasDeflate,
              md5: chip.romHasMd5,
              esp8266EraseBug: chip.platform === "esp8266",
              beginEncryptedWord: chip.beginHasEncryptedWord
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
            loader: useStub ? "stub" : "rom",
            compression: loader.deflate ? "deflate" : "none",
            verify: loader.md5 ? "md5" : "none (ESP8266 ROM has no read-back command; use the stub)"
          }
        }
        return makeSession(conn, chip, board, options, settings, usbJtagSerial, loader)
      })

    return { platform: ESP_PLATFORMS, connect }
  })

const makeSession = (
  conn: EspConnection,
  chip: ChipSpec,
  board: DetectedBoard,
  options: SessionOptions,
  settings: EspFlasherConfig,
  usbJtagSerial: boolean,
  loader: LoaderProfile
): FlashSession => {
  const t = settings.timeouts

  const write: FlashSession["write"] = (regions, onProgress) =>
    Effect.gen(function* () {
      // Everything that can be checked is checked before the first erase.
      yield* checkRegionLayout(regions, board.flashSizeBytes)
      for (const region of regions) yield* checkImageForChip(board.port, chip, region)
      const wireStart = conn.wireBytes
      const results: Array<RegionResult> = []
      for (const region of regions) {
        results.push(yield* writeRegion(conn, region, { timeouts: t, blockAttempts: settings.blockAttempts, loader }, onProgress))
      }
      const report: WriteReport = {
        regions: results.map(({ name, offset, size, digest, verifiedBy }) => ({ name, offset, size, digest, verifiedBy })),
        wireBytes: conn.wireBytes - wireStart,
        retries: results.reduce((sum, r) => sum + r.retries, 0)
      }
      return report
    })

  /**
   * Without modem lines (pty, `no_reset`: a board held in download mode) a
   * reset would come back to the ROM, so the app is started the way the
   * loaders document it: the ROM's FLASH_END with "run user code" (esptool's
   * soft_reset: an empty FLASH_BEGIN, then FLASH_END(1)), the stub's
   * RUN_USER_CODE (no reply; stub_flasher.c returns into the ROM's user-code
   * start). The boot log / self-test is the confirmation, not a reply.
   */
  const runUserCode = Effect.gen(function* () {
    if (loader.kind === "stub") {
      yield* conn.send(Cmd.runUserCode(t))
      // No reply to wait for: the first bytes of the boot log show the jump
      // happened, so whoever writes next (the self-test) reaches the app and
      // not the stub still parsing SLIP (a real app needs its boot time too).
      yield* conn.serial.read(Duration.seconds(2)).pipe(Effect.ignore)
      return
    }
    yield* conn.command(
      Cmd.flashBegin(t, { eraseSize: 0, blocks: 0, blockSize: ROM_BLOCK_SIZE, offset: 0, withEncryptedWord: chip.beginHasEncryptedWord })
    )
    const end = Cmd.flashEnd(t, true)
    yield* conn.send(end)
    // The ROM may jump before its reply leaves the UART.
    yield* conn.awaitReply({ ...end, timeout: Duration.millis(500) }).pipe(
      Effect.catchIf(
        (error) => error._tag === "FlashTimeout",
        () => Effect.void
      )
    )
  })

  const resetToApp: Effect.Effect<void, FlashFailure> =
    options.before === "no_reset"
      ? runUserCode
      : runReset(conn.serial, hardReset(options.before === "usb_reset" || usbJtagSerial)).pipe(
          Effect.catchTag("SignalsUnsupported", () => runUserCode)
        )

  return { board, write, resetToApp }
}
