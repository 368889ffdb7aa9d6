import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import fc from "fast-check"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { makeFactoryLog } from "../../src/factory/log.js"
import * as RunOutput from "../../src/runtime/RunOutput.js"
import { parseQrPayload, qrPayload } from "../../src/factory/qr.js"
import { CSV_COLUMNS, csvField, makeRecordWriter } from "../../src/factory/records.js"
import { BatchReport, buildBatchReport, decodeBatchReport, percentile } from "../../src/factory/report.js"
import type { BoardResult } from "../../src/factory/result.js"
import { Redacted } from "effect"
import { tempDir } from "./support.js"

const board = (over: Partial<BoardResult>): BoardResult => ({
  batchId: "b1",
  stationId: "station_1",
  port: "/dev/ttyUSB0",
  boardConfig: "esp32",
  platform: "esp32",
  boardModel: "ESP32-WROOM-32",
  firmwareVersion: "1.2.3",
  chip: "ESP32-D0WDQ6",
  identity: { kind: "mac", value: "240AC4000001" },
  deviceId: "esp32-240ac4000001",
  status: "pass",
  flashSeconds: 2,
  totalSeconds: 3,
  attempts: 1,
  retries: 0,
  wireBytes: 1000,
  tests: [
    { name: "boot_test", command: "info", passed: true, response: "OK", durationMs: 5 },
    { name: "wifi_test", command: "wifi", passed: true, response: "OK", durationMs: 5 }
  ],
  registration: "registered",
  startedAt: "2026-03-04T10:00:00.000Z",
  finishedAt: "2026-03-04T10:00:03.000Z",
  ...over
})

/** Minimal RFC 4180 reader for the assertions (the writer is what is under test). */
const parseCsv = (text: string): Array<Array<string>> => {
  const rows: Array<Array<string>> = []
  let row: Array<string> = []
  let field = ""
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++
      else if (c === '"') quoted = false
      else field += c
    } else if (c === '"') quoted = true
    else if (c === ",") row.push(field), (field = "")
    else if (c === "\n") row.push(field), rows.push(row), (row = []), (field = "")
    else field += c
  }
  return rows
}

describe("records", () => {
  it("csvField round-trips any text through an RFC 4180 reader", () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 5 }), (fields) => {
        const line = fields.map(csvField).join(",") + "\n"
        expect(parseCsv(line)).toEqual([fields])
      })
    )
  })

  it.effect("factory_records_YYYYMMDD.csv: header once, one row per board, appended across writers", () =>
    Effect.gen(function* () {
      const root = tempDir("fp-rec-")
      const dir = join(root, "var/records")
      const first = yield* makeRecordWriter(dir, root)
      const file = yield* first.append(board({ qr: { png: join(root, "var/records/qr/esp32-240ac4000001.png"), svg: "x" } }))
      // A second run the same day appends below, without a second header.
      const second = yield* makeRecordWriter(dir, root)
      yield* Effect.all(
        [
          second.append(
            board({
              deviceId: "esp32-240ac4000002",
              port: "/dev/ttyUSB1",
              status: "fail",
              failure: { step: "test", code: "self_test_failed", message: 'said "no", really', hint: "h" },
              tests: []
            })
          ),
          second.append(board({ deviceId: "esp32-240ac4000003", port: "/dev/ttyUSB2", retries: 2 }))
        ],
        { concurrency: 2 }
      )
      expect(file).toBe(join(dir, "factory_records_20260304.csv"))
      const rows = parseCsv(readFileSync(file, "utf8"))
      expect(rows[0]).toEqual([...CSV_COLUMNS])
      expect(rows.filter((r) => r[0] === "timestamp")).toHaveLength(1)
      expect(rows).toHaveLength(4)
      const byId = Object.fromEntries(rows.slice(1).map((r) => [r[2], Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, r[i]]))]))
      expect(byId["esp32-240ac4000001"]).toMatchObject({
        mac: "24:0a:c4:00:00:01",
        board: "esp32",
        firmware_version: "1.2.3",
        flash_time_s: "2.00",
        station_id: "station_1",
        test_results: "boot_test=pass;wifi_test=pass",
        qr_code: "var/records/qr/esp32-240ac4000001.png",
        status: "pass"
      })
      expect(byId["esp32-240ac4000002"]).toMatchObject({ status: "fail", error_code: "self_test_failed", test_results: "" })
      expect(byId["esp32-240ac4000003"]!.retries).toBe("2")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it("percentile is nearest-rank", () => {
    expect(percentile([], 50)).toBeUndefined()
    expect(percentile([5], 95)).toBe(5)
    expect(percentile([4, 1, 3, 2], 50)).toBe(2)
    expect(
      percentile(
        Array.from({ length: 20 }, (_, i) => i + 1),
        95
      )
    ).toBe(19)
    fc.assert(
      fc.property(
        fc.array(fc.double({ noNaN: true, min: 0, max: 1e6 }), { minLength: 1 }),
        fc.integer({ min: 1, max: 100 }),
        (values, p) => {
          const v = percentile(values, p)!
          expect(values).toContain(v)
          expect(values.filter((x) => x <= v).length / values.length).toBeGreaterThanOrEqual(p / 100)
        }
      )
    )
  })

  it("the batch report counts, per station, p50/p95, throughput, retries and failures with reasons", () => {
    const results = [
      board({ flashSeconds: 1 }),
      board({ deviceId: "b", flashSeconds: 2, retries: 1 }),
      board({ deviceId: "c", flashSeconds: 3, stationId: "station_2", registration: "queued" }),
      board({
        deviceId: "d",
        flashSeconds: 10,
        stationId: "station_2",
        status: "fail",
        registration: undefined,
        failure: { step: "flash", code: "verify_failed", message: "MD5 mismatch", hint: "cable" }
      })
    ]
    const report = buildBatchReport(
      {
        batchId: "b1",
        configFile: "f.yaml",
        requested: 5,
        startedAt: new Date("2026-03-04T10:00:00Z"),
        finishedAt: new Date("2026-03-04T10:02:00Z"),
        stations: ["station_1", "station_2"]
      },
      results
    )
    expect(report.totals).toEqual({ requested: 5, total: 4, passed: 3, failed: 1, registered: 2, queued: 1 })
    expect(report.flash_time_s).toMatchObject({ p50: 2, p95: 10, min: 1, max: 10, mean: 4 })
    expect(report.throughput_boards_per_min).toBe(2)
    expect(report.retries).toBe(1)
    expect(report.stations.station_1).toMatchObject({ total: 2, passed: 2, failed: 0, retries: 1 })
    expect(report.stations.station_2).toMatchObject({ total: 2, passed: 1, failed: 1, flash_time_s: { p50: 3, p95: 10 } })
    expect(report.failures).toEqual([
      {
        device_id: "d",
        identity: "240AC4000001",
        station_id: "station_2",
        port: "/dev/ttyUSB0",
        step: "flash",
        code: "verify_failed",
        reason: "MD5 mismatch",
        hint: "cable"
      }
    ])
    // What the web UI's factory page reads back is decoded with the writer's own Schema, whole.
    const text = Schema.encodeSync(Schema.parseJson(BatchReport))(report)
    // Encoding keeps the builder's key order: the file reads as it always did.
    expect(text).toBe(JSON.stringify(report))
    const summary = Schema.decodeUnknownSync(Schema.parseJson(BatchReport))(text)
    expect(summary).toEqual(report)
    expect(summary).toMatchObject({ batch_id: "b1", totals: { total: 4, passed: 3, failed: 1 }, pass_rate: 0.75 })
    expect(summary.stations.station_2).toMatchObject({ total: 2, passed: 1, failed: 1, retries: 0 })
    // A key the reader does not know (a newer writer) is ignored; a missing one refuses the file.
    const newer = { ...JSON.parse(text), written_by: "provision 9" }
    expect(decodeBatchReport(JSON.stringify(newer))).toEqual(Either.right(report))
    const { boards: _, ...partial } = JSON.parse(text)
    expect(Either.isLeft(decodeBatchReport(JSON.stringify(partial)))).toBe(true)
  })

  it.effect("the log rotates by size and keeps backup_count files", () =>
    Effect.gen(function* () {
      const root = tempDir("fp-log-")
      const file = join(root, "var/log/factory-provisioning.log")
      const echoed: Array<string> = []
      const log = yield* makeFactoryLog({ file, level: "INFO", maxFileSize: 300, backupCount: 2, console: true }).pipe(
        Effect.provide(RunOutput.capture((line) => echoed.push(line)))
      )
      for (let i = 0; i < 12; i++) yield* log.info(`line ${i} ${"x".repeat(60)}`)
      yield* log.debug("below the level")
      yield* log.warn("a warning\nover two lines")
      // console_output: what the result lines do not show (not INFO) goes to the run's diagnostics too, on one line.
      expect(echoed).toHaveLength(1)
      expect(echoed[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z WARNING a warning over two lines$/)
      expect(existsSync(`${file}.1`)).toBe(true)
      expect(existsSync(`${file}.2`)).toBe(true)
      expect(existsSync(`${file}.3`)).toBe(false)
      for (const f of [file, `${file}.1`, `${file}.2`]) expect(readFileSync(f).length).toBeLessThanOrEqual(300)
      const current = readFileSync(file, "utf8")
      expect(current).toContain("line 11")
      expect(current).toContain("WARNING a warning over two lines")
      expect(current).not.toContain("below the level")
      // Newest in the live file, older in .1 then .2.
      expect(readFileSync(`${file}.1`, "utf8")).toMatch(/line (8|9|10)/)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it("the QR payload carries id and token and parses back", () => {
    const payload = qrPayload({ deviceId: "esp32-240ac4000001", secret: Redacted.make("s"), token: Redacted.make("AbC_-9") })
    expect(payload).toBe("fp1:esp32-240ac4000001:AbC_-9")
    expect(parseQrPayload(payload)).toEqual({ deviceId: "esp32-240ac4000001", token: "AbC_-9" })
    expect(parseQrPayload("fp2:x:y")).toBeUndefined()
  })
})
