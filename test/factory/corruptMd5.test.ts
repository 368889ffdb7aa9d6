/**
 * Issue 12 §3: a board whose MD5 reply is corrupted (`corrupt_md5`: the flash is
 * right, the digest on the wire is not) fails, and nothing is recorded as PASS for
 * it — not in the CSV records, not in the JSON batch report, not at the backend.
 * Stub and ROM (`--no-stub`) on ESP32; the stub on ESP8266 (its ROM has no MD5).
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { runBatch } from "../../src/factory/batch.js"
import { emulatedLine } from "../../src/cli/demo/factoryLine.js"
import { loadFactoryConfig } from "../../src/factory/loadConfig.js"
import { CSV_COLUMNS } from "../../src/factory/records.js"
import { liveLineLayer, tempDir, testLog } from "./support.js"

/** The day's CSV as objects (no field here holds a comma or quote, checked by the column count). */
const readCsvRecords = (root: string): Array<Record<string, string>> => {
  const dir = join(root, "var/records")
  const files = readdirSync(dir).filter((f) => /^factory_records_\d{8}\.csv$/.test(f))
  return files.flatMap((file) => {
    const [header, ...rows] = readFileSync(join(dir, file), "utf8").trim().split("\n")
    expect(header!.split(",")).toEqual([...CSV_COLUMNS])
    return rows.map((row) => {
      const fields = row.split(",")
      expect(fields).toHaveLength(CSV_COLUMNS.length)
      return Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, fields[i]!]))
    })
  })
}

describe("factory: a corrupted MD5 reply fails the board and nothing records it as PASS", () => {
  it.scopedLive.each([
    ["stub", false],
    ["--no-stub", true]
  ] as const)("ESP32 + ESP8266 (%s)", ([, noStub]) =>
    Effect.gen(function* () {
      const root = tempDir("fp-md5-")
      const line = yield* emulatedLine({
        dir: root,
        stations: [
          {
            id: "s1",
            boardType: "esp32",
            boards: [
              { chip: "esp32", mac: "24:0a:c4:35:00:01", faults: ["corrupt_md5"] },
              { chip: "esp32", mac: "24:0a:c4:35:00:02" }
            ]
          },
          ...(noStub
            ? []
            : [
                {
                  id: "s2",
                  boardType: "esp8266" as const,
                  boards: [{ chip: "esp8266" as const, mac: "18:fe:34:35:00:03", faults: ["corrupt_md5"] }]
                }
              ])
        ],
        configPatch: (c) => ({ ...c, quality_gates: { ...(c["quality_gates"] as object), max_retry_attempts: 2 } })
      })
      const { config } = yield* loadFactoryConfig(line.configFile)
      const outcome = yield* runBatch({
        config,
        before: "no_reset",
        root,
        retryBase: "10 millis",
        noStub
      }).pipe(Effect.provide(liveLineLayer(line.backendUrl, line.token, join(root, "q.jsonl"))), Effect.provide(testLog(root)))
      const bad = noStub ? ["esp32-240ac4350001"] : ["esp32-240ac4350001", "esp8266-18fe34350003"]
      const byId = (id: string) => outcome.results.find((r) => r.deviceId === id)
      for (const id of bad) {
        expect(byId(id)).toMatchObject({ status: "fail", failure: { step: "flash" } })
        expect(byId(id)!.failure!.code).toMatch(/verify|md5/i)
      }
      expect(byId("esp32-240ac4350002")).toMatchObject({ status: "pass" })
      // The corrupted digest was really asked for (the fault sits in the MD5 reply only).
      for (const board of line.boards.filter((b) => b.emulator.mac !== "24:0a:c4:35:00:02")) {
        expect(board.emulator.stats.commands["SPI_FLASH_MD5"] ?? 0).toBeGreaterThan(0)
      }

      // CSV records: one row per board; the corrupted ones are fail, never pass.
      const rows = readCsvRecords(root)
      expect(rows).toHaveLength(bad.length + 1)
      for (const id of bad) {
        const own = rows.filter((r) => r["device_id"] === id)
        expect(own.length).toBeGreaterThan(0)
        expect(own.every((r) => r["status"] === "fail")).toBe(true)
        expect(own.every((r) => r["registration"] !== "registered")).toBe(true)
      }
      expect(rows.filter((r) => r["status"] === "pass").map((r) => r["device_id"])).toEqual(["esp32-240ac4350002"])

      // JSON batch report on disk: same verdicts.
      const report = JSON.parse(readFileSync(outcome.reportFile, "utf8")) as {
        totals: { passed: number; failed: number }
        boards: Array<{ device_id: string | null; status: string }>
        failures: Array<{ device_id: string | null }>
      }
      expect(report.totals).toMatchObject({ passed: 1, failed: bad.length })
      expect(report.boards.filter((b) => b.status === "pass").map((b) => b.device_id)).toEqual(["esp32-240ac4350002"])
      expect(report.failures.map((f) => f.device_id).sort()).toEqual([...bad].sort())

      // Nothing registered for a board that failed verification.
      expect(line.backend!.registrations().map((r) => r.device_id)).toEqual(["esp32-240ac4350002"])
    }).pipe(Effect.provide(NodeContext.layer))
  )
})
