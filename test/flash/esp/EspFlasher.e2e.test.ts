import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import { makeEsp32FlashSet, makeEsp8266FlashSet } from "../../../sim/esp/index.js"
import { Flasher, type FlashProgress } from "../../../src/flash/Flasher.js"
import { defaultTimeouts } from "../../../src/flash/esp/index.js"
import { espBoard, flasherLayer, ptyOptions } from "./support.js"

const esp = (platform: "esp32" | "esp8266") => Effect.flatMap(Flasher, (flasher) => flasher.forPlatform(platform))
/** Short timeouts so fault tests finish in a second or two on an unpaced emulator. */
const quick = { timeouts: { ...defaultTimeouts, default: Duration.millis(400), erasePerMb: Duration.seconds(1) } }

describe.each([
  ["stub", true],
  ["ROM only (--no-stub)", false]
] as const)("ESP32 through the real serialport against the emulator, %s", (mode, stub) => {
  it.scopedLive(
    "sync, detect, MAC, flash size, baud change, multi-region deflate write with MD5; with IO0 held the app starts by run-user-code",
    () =>
      Effect.gen(function* () {
        const board = yield* espBoard({ chip: "esp32", mac: "aa:bb:cc:00:12:34", pace: true, flashSize: 8 << 20 })
        const session = yield* (yield* esp("esp32")).connect(board.hostPath, "esp32", { ...ptyOptions, flashBaudRate: 921600, stub })
        expect(session.board).toMatchObject({
          chip: "ESP32",
          platform: "esp32",
          identity: { kind: "mac", value: "AABBCC001234" },
          flashSizeBytes: 8 << 20
        })
        // ROM: esptool's crystal compensation lands on the rate (±1 from integer rounding); stub: exact.
        expect(Math.abs(board.emulator.baud - 921600)).toBeLessThanOrEqual(1)
        expect(board.emulator.state).toBe(stub ? "stub" : "bootloader")
        expect(session.board.details["loader"]).toBe(stub ? "stub" : "rom")
        expect(board.emulator.stats.commands["MEM_BEGIN"] ?? 0).toBe(stub ? 2 : 0)

        const regions = makeEsp32FlashSet({ version: "1.2.3", appSize: 48 * 1024 })
        const progress: Array<FlashProgress> = []
        const report = yield* session.write(regions, (p) => Effect.sync(() => progress.push(p)))
        expect(report.regions.map((r) => [r.name, r.offset, r.verifiedBy])).toEqual([
          ["bootloader", 0x1000, "md5"],
          ["partition-table", 0x8000, "md5"],
          ["app", 0x10000, "md5"]
        ])
        for (const region of regions) {
          expect(Buffer.from(board.emulator.readFlash(region.offset, region.data.length)).equals(Buffer.from(region.data))).toBe(true)
        }
        // Compressed: fewer bytes on the wire than the images hold.
        expect(report.wireBytes).toBeLessThan(regions.reduce((n, r) => n + r.data.length, 0))
        expect(report.retries).toBe(0)
        expect(board.emulator.stats.commands["FLASH_DEFL_DATA"]).toBeGreaterThan(0)
        void mode
        expect(board.emulator.stats.commands["SPI_FLASH_MD5"]).toBe(3)
        const app = progress.filter((p) => p.region === "app")
        expect(app.at(-1)).toMatchObject({ written: regions[2]!.data.length, total: regions[2]!.data.length })
        expect(app.every((p, i) => i === 0 || p.written >= app[i - 1]!.written)).toBe(true)

        // IO0 is held (no_reset): a reboot would land in the ROM again; the app must be started as user code.
        expect(board.emulator.bootStrapHeld).toBe(true)
        yield* session.resetToApp
        yield* Effect.promise(() => board.emulator.waitFor("App version:      1.2.3", 5000))
        expect(board.emulator.state).toBe("app")
        expect(board.emulator.console()).not.toContain("waiting for download")
      }).pipe(Effect.provide(flasherLayer()))
  )

  it.scopedLive("an ESP8266 image for an ESP32 board is ChipMismatch before anything is erased", () =>
    Effect.gen(function* () {
      const board = yield* espBoard({ chip: "esp32", pace: false })
      const session = yield* (yield* esp("esp32")).connect(board.hostPath, "esp32", ptyOptions)
      const error = yield* Effect.flip(
        session.write(
          makeEsp8266FlashSet({ version: "1" }).map((r) => ({ ...r, offset: 0x10000 })),
          () => Effect.void
        )
      )
      expect(error._tag).toBe("ChipMismatch")
      expect(error.message).toBe(`the port ${board.hostPath} holds an ESP32, the app image is for ESP8266`)
      expect(board.emulator.stats.commands["FLASH_DEFL_BEGIN"] ?? 0).toBe(0)
      expect(board.emulator.stats.commands["FLASH_BEGIN"] ?? 0).toBe(0)
    }).pipe(Effect.provide(flasherLayer()))
  )
})

describe("ESP8266", () => {
  it.scopedLive("with the stub: baud change by the stub, deflate in 16 KiB blocks, MD5-verified, app started with IO0 held", () =>
    Effect.gen(function* () {
      const board = yield* espBoard({ chip: "esp8266", mac: "5c:cf:7f:ab:cd:ef", pace: true })
      const session = yield* (yield* esp("esp8266")).connect(board.hostPath, "esp8266", { ...ptyOptions, flashBaudRate: 460800 })
      expect(session.board).toMatchObject({ chip: "ESP8266", identity: { value: "5CCF7FABCDEF" }, flashSizeBytes: 1 << 20 })
      expect(session.board.details["baudRate"]).toBe("460800")
      expect(board.emulator.baud).toBe(460800)
      const regions = makeEsp8266FlashSet({ version: "8.2.67", appSize: 60 * 1024 })
      const report = yield* session.write(regions, () => Effect.void)
      expect(report.regions[0]).toMatchObject({ name: "app", offset: 0, verifiedBy: "md5" })
      expect(Buffer.from(board.emulator.readFlash(0, regions[0]!.data.length)).equals(Buffer.from(regions[0]!.data))).toBe(true)
      expect(board.emulator.stats.commands["FLASH_DEFL_DATA"]).toBe(Math.ceil(report.wireBytes / 0x4000))
      expect(board.emulator.stats.commands["SPI_FLASH_MD5"]).toBe(1)
      yield* session.resetToApp
      yield* Effect.promise(() => board.emulator.waitFor("factory-test ready", 5000))
      expect(board.emulator.stats.commands["RUN_USER_CODE"]).toBe(1)
    }).pipe(Effect.provide(flasherLayer()))
  )

  it.scopedLive("ROM only: detects the chip and MAC (OUI from eFuse), writes uncompressed (no MD5 in that ROM), starts the app", () =>
    Effect.gen(function* () {
      const board = yield* espBoard({ chip: "esp8266", mac: "5c:cf:7f:ab:cd:ef", pace: false })
      const session = yield* (yield* esp("esp8266")).connect(board.hostPath, "esp8266", {
        ...ptyOptions,
        flashBaudRate: 921600,
        stub: false
      })
      expect(session.board).toMatchObject({ chip: "ESP8266", identity: { value: "5CCF7FABCDEF" }, flashSizeBytes: 1 << 20 })
      // No CHANGE_BAUDRATE on the ESP8266 ROM: it stays at the connect rate.
      expect(session.board.details["baudRate"]).toBe("115200")
      const regions = makeEsp8266FlashSet({ version: "8.2.66", appSize: 20 * 1024 })
      const report = yield* session.write(regions, () => Effect.void)
      expect(report.regions[0]).toMatchObject({ name: "app", offset: 0, verifiedBy: "none" })
      expect(Buffer.from(board.emulator.readFlash(0, regions[0]!.data.length)).equals(Buffer.from(regions[0]!.data))).toBe(true)
      expect(board.emulator.stats.commands["FLASH_DATA"]).toBe(Math.ceil(regions[0]!.data.length / 1024))
      expect(board.emulator.stats.commands["FLASH_DEFL_DATA"] ?? 0).toBe(0)
      yield* session.resetToApp
      yield* Effect.promise(() => board.emulator.waitFor("factory-test ready", 5000))
    }).pipe(Effect.provide(flasherLayer()))
  )

  it.scopedLive("the config says esp32 but the port holds an ESP8266: ChipMismatch in espflash's words", () =>
    Effect.gen(function* () {
      const board = yield* espBoard({ chip: "esp8266", pace: false })
      const error = yield* Effect.flip((yield* esp("esp32")).connect(board.hostPath, "esp32", ptyOptions))
      expect(error._tag).toBe("ChipMismatch")
      expect(error.message).toBe(`the port ${board.hostPath} holds an ESP8266, the config says esp32`)
      expect(error.code).toBe("chip_mismatch")
    }).pipe(Effect.provide(flasherLayer()))
  )
})

describe("faults", () => {
  it.scopedLive("a board that never syncs is SyncFailed after the configured attempts", () =>
    Effect.gen(function* () {
      const board = yield* espBoard({ chip: "esp32", pace: false, faults: ["no_sync"] })
      const error = yield* Effect.flip((yield* esp("esp32")).connect(board.hostPath, "esp32", { ...ptyOptions, connectAttempts: 2 }))
      expect(error._tag).toBe("SyncFailed")
      expect(error._tag === "SyncFailed" && error.attempts).toBe(2)
      // At most 5 SYNCs per attempt (esptool's count): the second attempt reached the board, and
      // nothing beyond 2 × 5 went out. Not an exact count: the last SYNC may still be in the pty when we look.
      const syncs = board.emulator.stats.commands["SYNC"] ?? 0
      expect(syncs).toBeGreaterThan(5)
      expect(syncs).toBeLessThanOrEqual(2 * 5)
    }).pipe(Effect.provide(flasherLayer()))
  )

  it.scopedLive.each([
    ["esp32", true],
    ["esp32", false],
    ["esp8266", true]
  ] as const)("%s (stub %s): a corrupted block is VerifyFailed naming the region with both MD5s", ([chip, stub]) =>
    Effect.gen(function* () {
      const board = yield* espBoard({ chip, pace: false, faults: ["corrupt_block:1"] })
      const session = yield* (yield* esp(chip)).connect(board.hostPath, chip, { ...ptyOptions, stub })
      const regions =
        chip === "esp32"
          ? makeEsp32FlashSet({ version: "1", appSize: 96 * 1024 }).slice(2)
          : makeEsp8266FlashSet({ version: "1", appSize: 96 * 1024 })
      const error = yield* Effect.flip(session.write(regions, () => Effect.void))
      expect(error._tag).toBe("VerifyFailed")
      if (error._tag !== "VerifyFailed") return
      expect(error.region).toBe("app")
      expect(error.expected).toMatch(/^[0-9a-f]{32}$/)
      expect(error.received).toMatch(/^[0-9a-f]{32}$/)
      expect(error.received).not.toBe(error.expected)
      // One-shot fault: writing again in the same session succeeds.
      const report = yield* session.write(regions, () => Effect.void)
      expect(report.regions[0]!.verifiedBy).toBe("md5")
    }).pipe(Effect.provide(flasherLayer(quick)))
  )

  it.scopedLive.each([
    ["esp32", true],
    ["esp32", false],
    ["esp8266", true],
    ["esp8266", false]
  ] as const)("%s (stub %s): a corrupted MD5 reply is VerifyFailed although the flash is right", ([chip, stub]) =>
    Effect.gen(function* () {
      const board = yield* espBoard({ chip, pace: false, faults: ["corrupt_md5"] })
      const session = yield* (yield* esp(chip)).connect(board.hostPath, chip, { ...ptyOptions, stub })
      const regions =
        chip === "esp32"
          ? makeEsp32FlashSet({ version: "1", appSize: 24 * 1024 }).slice(2)
          : makeEsp8266FlashSet({ version: "1", appSize: 24 * 1024 })
      const outcome = yield* Effect.either(session.write(regions, () => Effect.void))
      if (chip === "esp8266" && !stub) {
        // The ESP8266 ROM has no MD5 command: nothing to corrupt, and nothing claims a verification.
        expect(outcome._tag === "Right" && outcome.right.regions[0]!.verifiedBy).toBe("none")
        return
      }
      expect(outcome._tag === "Left" && outcome.left._tag).toBe("VerifyFailed")
    }).pipe(Effect.provide(flasherLayer(quick)))
  )

  it.scopedLive.each([
    ["esp32", true, 3],
    ["esp32", false, 4],
    ["esp8266", true, 2],
    ["esp8266", false, 4]
  ] as const)(
    "%s (stub %s): a dropped reply → drain, resync, the region again; flash right, MD5 where the loader has it",
    ([chip, stub, block]) =>
      Effect.gen(function* () {
        const board = yield* espBoard({ chip, pace: false, faults: [`drop_frame:${block}`] })
        const session = yield* (yield* esp(chip)).connect(board.hostPath, chip, { ...ptyOptions, stub })
        const regions =
          chip === "esp32"
            ? makeEsp32FlashSet({ version: "1", appSize: 160 * 1024 }).slice(2)
            : makeEsp8266FlashSet({ version: "1", appSize: 160 * 1024 })
        const syncsBefore = board.emulator.stats.commands["SYNC"] ?? 0
        const report = yield* session.write(regions, () => Effect.void)
        expect(board.emulator.stats.droppedResponses).toBe(1)
        expect(report.retries).toBe(1)
        expect(board.emulator.stats.commands["SYNC"]! - syncsBefore).toBeGreaterThanOrEqual(1)
        expect(report.regions[0]!.verifiedBy).toBe(chip === "esp8266" && !stub ? "none" : "md5")
        expect(
          Buffer.from(board.emulator.readFlash(regions[0]!.offset, regions[0]!.data.length)).equals(Buffer.from(regions[0]!.data))
        ).toBe(true)
      }).pipe(Effect.provide(flasherLayer(quick)))
  )

  it.scopedLive("a slow erase within the per-MB allowance succeeds", () =>
    Effect.gen(function* () {
      // 256 KiB app at 1500 ms/MiB ≈ 375 ms of erase; allowance max(400 ms, 3 s/MiB × 0.25) = 750 ms.
      const board = yield* espBoard({ chip: "esp32", pace: false, faults: ["slow_erase:1500"] })
      const session = yield* (yield* esp("esp32")).connect(board.hostPath, "esp32", ptyOptions)
      const report = yield* session.write(makeEsp32FlashSet({ version: "1", appSize: 256 * 1024 }).slice(2), () => Effect.void)
      expect(report.regions[0]!.verifiedBy).toBe("md5")
    }).pipe(Effect.provide(flasherLayer({ timeouts: { ...quick.timeouts, erasePerMb: Duration.seconds(3) } })))
  )

  it.scopedLive("an erase slower than the per-MB allowance is FlashTimeout naming the step", () =>
    Effect.gen(function* () {
      const board = yield* espBoard({ chip: "esp32", pace: false, faults: ["slow_erase:8000"] })
      const session = yield* (yield* esp("esp32")).connect(board.hostPath, "esp32", ptyOptions)
      const error = yield* Effect.flip(session.write(makeEsp32FlashSet({ version: "1", appSize: 256 * 1024 }).slice(2), () => Effect.void))
      expect(error._tag).toBe("FlashTimeout")
      expect(error.message).toContain("FLASH_DEFL_BEGIN")
    }).pipe(Effect.provide(flasherLayer(quick)))
  )

  it.scopedLive("the port vanishing mid-flash is a SerialIoError at once, not a hang", () =>
    Effect.gen(function* () {
      const board = yield* espBoard({ chip: "esp32", pace: true })
      const session = yield* (yield* esp("esp32")).connect(board.hostPath, "esp32", { ...ptyOptions, flashBaudRate: 921600 })
      const writing = yield* Effect.fork(
        session.write(makeEsp32FlashSet({ version: "1", appSize: 512 * 1024 }).slice(2), () => Effect.void)
      )
      yield* Effect.sleep("300 millis")
      yield* Effect.promise(() => board.unplug())
      const exit = yield* Fiber.await(writing).pipe(Effect.timeout("3 seconds"))
      expect(exit._tag).toBe("Failure")
      const error = yield* Effect.flip(Fiber.join(writing))
      expect(["SerialIoError", "PortUnavailable"]).toContain(error._tag)
    }).pipe(Effect.provide(flasherLayer()))
  )

  it.scopedLive("the emulator's own vanish fault (device end closes) also ends in SerialIoError", () =>
    Effect.gen(function* () {
      const board = yield* espBoard({ chip: "esp32", pace: false, faults: ["vanish_after_bytes:20000"] })
      const session = yield* (yield* esp("esp32")).connect(board.hostPath, "esp32", ptyOptions)
      const error = yield* Effect.flip(
        session
          .write(makeEsp32FlashSet({ version: "1", appSize: 128 * 1024 }).slice(2), () => Effect.void)
          .pipe(Effect.timeout("5 seconds"))
      )
      expect(error._tag).toBe("SerialIoError")
    }).pipe(Effect.provide(flasherLayer(quick)))
  )

  it.scopedLive("a missing port is PortUnavailable; an unknown platform is UnsupportedPlatform", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip((yield* esp("esp32")).connect("/dev/ttyUSB_fp_missing_9", "esp32", ptyOptions))
      expect(error._tag).toBe("PortUnavailable")
      const unsupported = yield* Effect.flip((yield* Flasher).forPlatform("avr"))
      expect(unsupported._tag).toBe("UnsupportedPlatform")
    }).pipe(Effect.provide(flasherLayer()))
  )
})
