import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { runBatch } from "../../src/factory/batch.js"
import { emulatedLine } from "../../src/factory/demo.js"
import { loadFactoryConfig } from "../../src/factory/loadConfig.js"
import { CSV_COLUMNS } from "../../src/factory/records.js"
import { parseIntelHex, segmentsToImage } from "../../src/flash/formats/intelHex.js"
import { liveLineLayer, noProgress, tempDir, testLog } from "./support.js"

const STM32_UID = "0a1b2c3d4e5f60718293a4b5"
const PICO_ID = "e6614103e73d5f2f"

/** The CSV rows as column → value maps (no field in these rows needs quoting). */
const csvRecords = (file: string) => {
  const [header, ...rows] = readFileSync(file, "utf8").trim().split("\n")
  expect(header).toBe(CSV_COLUMNS.join(","))
  return rows.map((row) => Object.fromEntries(row.split(",").map((value, i) => [CSV_COLUMNS[i]!, value])) as Record<(typeof CSV_COLUMNS)[number], string>)
}

describe("mixed factory batch: AVR + STM32 + Pico emulators beside an ESP32 (real serialport, flashers, backend)", () => {
  it.scopedLive("every family passes flash → test → register → label, each recorded with its own identity kind", () =>
    Effect.gen(function* () {
      const root = tempDir("fp-mixed-")
      const line = yield* emulatedLine({
        dir: root,
        stations: [{ id: "s_esp", boardType: "esp32", boards: [{ chip: "esp32", mac: "24:0a:c4:40:00:01" }] }],
        mcuStations: [
          // The AVR's first page write is corrupted once: read-back catches it and the pipeline retries.
          { id: "s_uno", boardType: "arduino_uno", boards: [{ faults: ["verify_error:1"] }] },
          { id: "s_stm32", boardType: "stm32f103", boards: [{ uid: STM32_UID }] },
          { id: "s_pico", boardType: "pico", boards: [{ uid: PICO_ID }] }
        ]
      })
      const { config } = yield* loadFactoryConfig(line.configFile)
      expect(config.boards["arduino_uno"]!.firmwarePath.endsWith(".hex")).toBe(true)
      const log = yield* testLog(root)
      const outcome = yield* runBatch({ config, before: "no_reset", root, retryBase: "10 millis", hooks: { progress: noProgress, log } }).pipe(
        Effect.provide(liveLineLayer(line.backendUrl, line.token, join(root, "q.jsonl")))
      )

      expect(outcome.results.map((r) => [r.stationId, r.status, r.failure?.code])).toEqual(
        expect.arrayContaining([
          ["s_esp", "pass", undefined],
          ["s_uno", "pass", undefined],
          ["s_stm32", "pass", undefined],
          ["s_pico", "pass", undefined]
        ])
      )
      expect(outcome.report.totals).toMatchObject({ total: 4, passed: 4, failed: 0 })
      const byStation = (id: string) => outcome.results.find((r) => r.stationId === id)!
      expect(byStation("s_uno").retries).toBeGreaterThanOrEqual(1)
      for (const id of ["s_uno", "s_stm32", "s_pico"]) {
        expect(byStation(id).tests.map((t) => [t.name, t.passed])).toEqual([["boot_test", true], ["wifi_test", true], ["memory_test", true]])
      }

      const [records] = outcome.recordFiles
      const rows = csvRecords(records!)
      const row = (station: string) => rows.find((r) => r.station_id === station)!
      expect(row("s_esp")).toMatchObject({ platform: "esp32", identity_kind: "mac", device_id: "esp32-240ac4400001", status: "pass", registration: "registered" })
      expect(row("s_uno")).toMatchObject({ platform: "avr", identity_kind: "serial", board: "arduino_uno", chip: "ATmega328P", status: "pass", registration: "registered" })
      expect(row("s_uno").device_id).toMatch(/^avr-[0-9a-f]{12}$/)
      expect(row("s_stm32")).toMatchObject({ platform: "stm32", identity_kind: "uid", device_id: `stm32-${STM32_UID}`, status: "pass", registration: "registered" })
      // The Pico's identity is known only once its application answered after the UF2 copy.
      expect(row("s_pico")).toMatchObject({ platform: "rp2040", identity_kind: "uid", device_id: `rp2040-${PICO_ID}`, status: "pass", registration: "registered" })
      for (const r of [row("s_uno"), row("s_stm32"), row("s_pico")]) expect(r.qr_code).toMatch(/\.png$/)

      expect(line.backend!.registrations().map((r) => r.device_id).sort()).toEqual([row("s_uno").device_id, "esp32-240ac4400001", `rp2040-${PICO_ID}`, `stm32-${STM32_UID}`].sort())

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
    }).pipe(Effect.provide(NodeContext.layer)), 60_000)

  it.scopedLive("a silent bootloader fails at flash with sync_failed and a hint for that family (not the ESP's BOOT button)", () =>
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
      const log = yield* testLog(root)
      const outcome = yield* runBatch({ config, before: "no_reset", root, retryBase: "10 millis", hooks: { progress: noProgress, log } }).pipe(
        Effect.provide(liveLineLayer(line.backendUrl, line.token, join(root, "q.jsonl")))
      )
      const failure = (station: string) => outcome.results.find((r) => r.stationId === station)!.failure!
      expect(failure("s_uno")).toMatchObject({ step: "flash", code: "sync_failed" })
      expect(failure("s_uno").hint).toContain("optiboot")
      expect(failure("s_stm32")).toMatchObject({ step: "flash", code: "sync_failed" })
      expect(failure("s_stm32").hint).toContain("BOOT0")
      for (const station of ["s_uno", "s_stm32"]) expect(failure(station).hint).not.toContain("IO0")
      expect(line.backend!.requestCount()).toBe(0)
    }).pipe(Effect.provide(NodeContext.layer)), 60_000)
})
