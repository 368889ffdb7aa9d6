import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { runBatch } from "../../src/factory/batch.js"
import { emulatedLine } from "../../src/cli/demo/factoryLine.js"
import { loadFactoryConfig } from "../../src/factory/loadConfig.js"
import { CSV_COLUMNS } from "../../src/factory/records.js"
import { parseIntelHex, segmentsToImage } from "../../src/flash/formats/intelHex.js"
import { liveLineLayer, tempDir, testLog } from "./support.js"

const STM32_UID = "0a1b2c3d4e5f60718293a4b5"
const PICO_ID = "e6614103e73d5f2f"

/** The CSV rows as column → value maps (no field in these rows needs quoting). */
const csvRecords = (file: string) => {
  const [header, ...rows] = readFileSync(file, "utf8").trim().split("\n")
  expect(header).toBe(CSV_COLUMNS.join(","))
  return rows.map(
    (row) => Object.fromEntries(row.split(",").map((value, i) => [CSV_COLUMNS[i]!, value])) as Record<(typeof CSV_COLUMNS)[number], string>
  )
}

describe("mixed factory batch: AVR + STM32 + Pico emulators beside an ESP32 (real serialport, flashers, backend)", () => {
  it.scopedLive(
    "one mixed station (AVR + STM32 + Pico, per-port board types) beside an ESP32 station: every family passes flash → test → register → label, each recorded with its own identity kind",
    () =>
      Effect.gen(function* () {
        const root = tempDir("fp-mixed-")
        const line = yield* emulatedLine({
          dir: root,
          stations: [{ id: "s_esp", boardType: "esp32", boards: [{ chip: "esp32", mac: "24:0a:c4:40:00:01" }] }],
          mcuStations: [
            {
              id: "s_mixed",
              boardType: "arduino_uno",
              boards: [
                // The AVR's first page write is corrupted once: read-back catches it and the pipeline retries.
                { faults: ["verify_error:1"] },
                { boardType: "stm32f103", uid: STM32_UID },
                { boardType: "pico", uid: PICO_ID }
              ]
            }
          ]
        })
        const { config } = yield* loadFactoryConfig(line.configFile)
        expect(config.boards["arduino_uno"]!.firmwarePath.endsWith(".hex")).toBe(true)
        const mixed = config.stations.find((s) => s.station_id === "s_mixed")!
        expect(mixed.portBoardTypes).toEqual(["arduino_uno", "stm32f103", "pico"])
        const outcome = yield* runBatch({
          config,
          before: "no_reset",
          root,
          retryBase: "10 millis"
        }).pipe(Effect.provide(liveLineLayer(line.backendUrl, line.token, join(root, "q.jsonl"))), Effect.provide(testLog(root)))

        expect(outcome.results.map((r) => [r.stationId, r.platform, r.status, r.failure?.code])).toEqual(
          expect.arrayContaining([
            ["s_esp", "esp32", "pass", undefined],
            ["s_mixed", "avr", "pass", undefined],
            ["s_mixed", "stm32", "pass", undefined],
            ["s_mixed", "rp2040", "pass", undefined]
          ])
        )
        expect(outcome.report.totals).toMatchObject({ total: 4, passed: 4, failed: 0 })
        const byPlatform = (platform: string) => outcome.results.find((r) => r.platform === platform)!
        expect(byPlatform("avr").retries).toBeGreaterThanOrEqual(1)
        for (const platform of ["avr", "stm32", "rp2040"]) {
          expect(byPlatform(platform).tests.map((t) => [t.name, t.passed])).toEqual([
            ["boot_test", true],
            ["wifi_test", true],
            ["memory_test", true]
          ])
        }

        const [records] = outcome.recordFiles
        const rows = csvRecords(records!)
        const keyOf: Record<string, string> = { s_uno: "avr", s_stm32: "stm32", s_pico: "rp2040" }
        const row = (station: string) =>
          rows.find((r) => (station === "s_esp" ? r.station_id === station : r.station_id === "s_mixed" && r.platform === keyOf[station]))!
        expect(row("s_esp")).toMatchObject({
          platform: "esp32",
          identity_kind: "mac",
          device_id: "esp32-240ac4400001",
          status: "pass",
          registration: "registered"
        })
        expect(row("s_uno")).toMatchObject({
          platform: "avr",
          identity_kind: "serial",
          board: "arduino_uno",
          chip: "ATmega328P",
          status: "pass",
          registration: "registered"
        })
        expect(row("s_uno").device_id).toMatch(/^avr-[0-9a-f]{12}$/)
        expect(row("s_stm32")).toMatchObject({
          platform: "stm32",
          identity_kind: "uid",
          device_id: `stm32-${STM32_UID}`,
          status: "pass",
          registration: "registered"
        })
        // The Pico's identity is known only once its application answered after the UF2 copy.
        expect(row("s_pico")).toMatchObject({
          platform: "rp2040",
          identity_kind: "uid",
          device_id: `rp2040-${PICO_ID}`,
          status: "pass",
          registration: "registered"
        })
        for (const r of [row("s_uno"), row("s_stm32"), row("s_pico")]) expect(r.qr_code).toMatch(/\.png$/)

        expect(
          line
            .backend!.registrations()
            .map((r) => r.device_id)
            .sort()
        ).toEqual([row("s_uno").device_id, "esp32-240ac4400001", `rp2040-${PICO_ID}`, `stm32-${STM32_UID}`].sort())

        // What each board holds is the configured image: the AVR's from the Intel HEX, the others' raw .bin.
        const hex = parseIntelHex(readFileSync(join(root, "firmware/avr/firmware.hex"), "latin1"))
        if (hex._tag !== "Right") throw new Error("demo AVR image does not parse")
        const avrImage = segmentsToImage(hex.right, 0)
        const mcu = (kind: string) => line.mcuBoards.find((b) => b.kind === kind)!
        const uno = mcu("avr")
        const stm32 = mcu("stm32")
        const pico = mcu("pico")
        if (uno.kind !== "avr" || stm32.kind !== "stm32" || pico.kind !== "pico") throw new Error("emulated line lost a board")
        expect(Buffer.from(uno.board.emulator.flash.subarray(0, avrImage.length)).equals(Buffer.from(avrImage))).toBe(true)
        const stm32Image = readFileSync(join(root, "firmware/stm32/firmware.bin"))
        expect(Buffer.from(stm32.board.emulator.flash.subarray(0, stm32Image.length)).equals(stm32Image)).toBe(true)
        const picoImage = readFileSync(join(root, "firmware/rp2040/firmware.bin"))
        expect(Buffer.from(pico.board.flash().subarray(0, picoImage.length)).equals(picoImage)).toBe(true)
      }).pipe(Effect.provide(NodeContext.layer)),
    60_000
  )

  it.scopedLive(
    "a silent bootloader fails at flash with sync_failed and a hint for that family (not the ESP's BOOT button)",
    () =>
      Effect.gen(function* () {
        const root = tempDir("fp-mixed-nosync-")
        const line = yield* emulatedLine({
          dir: root,
          stations: [],
          mcuStations: [
            { id: "s_uno", boardType: "arduino_uno", boards: [{ faults: ["no_sync"] }] },
            { id: "s_stm32", boardType: "stm32f103", boards: [{ faults: ["no_sync"] }] }
          ],
          configPatch: (c) => ({ ...c, quality_gates: { max_flash_time: 30, max_retry_attempts: 1 } })
        })
        const { config } = yield* loadFactoryConfig(line.configFile)
        const outcome = yield* runBatch({
          config,
          before: "no_reset",
          root,
          retryBase: "10 millis"
        }).pipe(Effect.provide(liveLineLayer(line.backendUrl, line.token, join(root, "q.jsonl"))), Effect.provide(testLog(root)))
        const failure = (station: string) => outcome.results.find((r) => r.stationId === station)!.failure!
        expect(failure("s_uno")).toMatchObject({ step: "flash", code: "sync_failed" })
        expect(failure("s_uno").hint).toContain("optiboot")
        expect(failure("s_stm32")).toMatchObject({ step: "flash", code: "sync_failed" })
        expect(failure("s_stm32").hint).toContain("BOOT0")
        for (const station of ["s_uno", "s_stm32"]) expect(failure(station).hint).not.toContain("IO0")
        expect(line.backend!.requestCount()).toBe(0)
      }).pipe(Effect.provide(NodeContext.layer)),
    60_000
  )

  it.scopedLive(
    "two Picos in BOOTSEL on one station, flashed at once: each volume is matched to its port by USB hub port, so each record gets its own id, port and outcome",
    () =>
      Effect.gen(function* () {
        const root = tempDir("fp-two-picos-")
        const ids = ["e6614103e73d5f2f", "e66141040b1a2c3d"]
        const line = yield* emulatedLine({
          dir: root,
          stations: [],
          // Board 0's app crashes after the copy: only the session that really flashed board 0 may fail.
          mcuStations: [{ id: "s_picos", boardType: "pico", boards: [{ uid: ids[0]!, faults: ["no_app"] }, { uid: ids[1]! }] }],
          configPatch: (c) => {
            const stations = c["stations"] as Array<{ ports: Array<string> }>
            // Ports listed against the volumes' sort order: a session taking "the first free volume" would take the other board's.
            stations[0]!.ports.reverse()
            const boards = c["board_configs"] as Record<string, Record<string, unknown>>
            return {
              ...c,
              board_configs: { ...boards, pico: { ...boards["pico"], boot_wait: 2 } },
              quality_gates: { max_flash_time: 30, max_retry_attempts: 1 },
              testing: { enabled: true, tests: [{ name: "boot_test", command: "info", expected_response: "OK", timeout: 3 }] }
            }
          }
        })
        const picos = line.mcuBoards.flatMap((b) => (b.kind === "pico" ? [b] : []))
        // Both boot ROMs report the same USB serial: by-id cannot tell the BOOTSEL devices apart, the hub port can.
        expect(readFileSync(join(root, "sys/bus/usb/devices/1-1.1/serial"), "utf8").trim()).toBe("E0C9125B0D9B")
        expect(readFileSync(join(root, "sys/bus/usb/devices/1-1.2/serial"), "utf8").trim()).toBe("E0C9125B0D9B")
        const { config } = yield* loadFactoryConfig(line.configFile)
        expect(config.stations[0]!.ports).toEqual([picos[1]!.port, picos[0]!.port])
        const outcome = yield* runBatch({
          config,
          before: "no_reset",
          root,
          retryBase: "10 millis"
        }).pipe(Effect.provide(liveLineLayer(line.backendUrl, line.token, join(root, "q.jsonl"))), Effect.provide(testLog(root)))
        expect(outcome.report.totals).toMatchObject({ total: 2, passed: 1, failed: 1 })
        const resultOf = (i: number) => outcome.results.find((r) => r.port === picos[i]!.port)!
        expect(resultOf(0)).toMatchObject({ status: "fail", failure: { step: "flash", code: "flash_timeout" } })
        expect(resultOf(0).failure!.message).toContain("USB serial port")
        expect(resultOf(1)).toMatchObject({ status: "pass", identity: { kind: "uid", value: ids[1] }, deviceId: `rp2040-${ids[1]}` })
        for (const pico of picos) expect(pico.board.stats.uf2Accepted).toBe(1)
        expect([picos[0]!.board.state, picos[1]!.board.state]).toEqual(["crashed", "app"])
        const rows = csvRecords(outcome.recordFiles[0]!)
        const rowOf = (i: number) => rows.find((r) => r.port === picos[i]!.port)!
        expect(rowOf(1)).toMatchObject({ device_id: `rp2040-${ids[1]}`, status: "pass" })
        expect(rowOf(0)).toMatchObject({ status: "fail" })
        expect(line.backend!.registrations().map((r) => r.device_id)).toEqual([`rp2040-${ids[1]}`])
      }).pipe(Effect.provide(NodeContext.layer)),
    60_000
  )
})
