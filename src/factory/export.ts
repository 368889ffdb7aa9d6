/**
 * `provision report export`: the seed's files rebuilt from the shared
 * database for any station, day or batch — `factory_records_YYYYMMDD.csv`
 * (the rows exactly as the stations wrote them) and
 * `batch_report_YYYYMMDD_HHMMSS.json` per batch (the same report builder as
 * the station's own).
 */
import { Path } from "@effect/platform"
import { Effect } from "effect"
import { batchInfo, exportRecords, type RecordFilter } from "../store/queries.js"
import { writeFileAtomic } from "../runtime/safeWrite.js"
import { CSV_COLUMNS } from "./records.js"
import { buildBatchReport, writeBatchReport } from "./report.js"
import type { BoardResult } from "./result.js"

export interface ExportSummary {
  readonly records: number
  readonly files: ReadonlyArray<string>
}

export const exportFromStore = (filter: RecordFilter, outDir: string) =>
  Effect.gen(function* () {
    const path = yield* Path.Path
    const records = yield* exportRecords(filter)
    const files: Array<string> = []
    const byDay = new Map<string, Array<string>>()
    for (const r of records) byDay.set(r.day, [...(byDay.get(r.day) ?? []), r.csvRow])
    for (const [day, rows] of [...byDay].sort()) {
      const file = path.join(outDir, `factory_records_${day}.csv`)
      yield* writeFileAtomic(file, `${CSV_COLUMNS.join(",")}\n${rows.map((row) => `${row}\n`).join("")}`)
      files.push(file)
    }
    const byBatch = new Map<string, Array<BoardResult>>()
    for (const r of records) byBatch.set(r.batchId, [...(byBatch.get(r.batchId) ?? []), r.result as BoardResult])
    for (const [batchId, results] of byBatch) {
      const info = yield* batchInfo(batchId, filter.stationId)
      const times = results.map((r) => new Date(r.startedAt).getTime())
      const ends = results.map((r) => new Date(r.finishedAt).getTime())
      const startedAt = info?.startedAt ?? new Date(Math.min(...times))
      const report = buildBatchReport(
        {
          batchId,
          configFile: info?.configFile ?? "",
          requested: info?.requested ?? results.length,
          startedAt,
          finishedAt: info?.finishedAt ?? new Date(Math.max(...ends)),
          stations: info?.stationIds ?? [...new Set(results.map((r) => r.stationId))].sort()
        },
        results
      )
      files.push(yield* writeBatchReport(outDir, report, startedAt))
    }
    const summary: ExportSummary = { records: records.length, files }
    return summary
  })
