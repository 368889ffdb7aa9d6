import { Effect, Schema } from "effect"
import { Path } from "@effect/platform"
import { writeFileAtomic } from "../runtime/safeWrite.js"
import { timeStamp } from "./records.js"
import type { BoardResult } from "./result.js"

/** Nearest-rank percentile (p in 0..100) of an unsorted sample; undefined when empty. */
export const percentile = (values: ReadonlyArray<number>, p: number): number | undefined => {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[Math.min(rank, sorted.length) - 1]
}

const round = (n: number | undefined, digits = 2) => (n === undefined ? null : Number(n.toFixed(digits)))

export interface FlashTimeStats {
  readonly p50: number | null
  readonly p95: number | null
  readonly min: number | null
  readonly max: number | null
  readonly mean: number | null
}

const flashStats = (results: ReadonlyArray<BoardResult>): FlashTimeStats => {
  const times = results.flatMap((r) => (r.flashSeconds !== undefined ? [r.flashSeconds] : []))
  return {
    p50: round(percentile(times, 50)),
    p95: round(percentile(times, 95)),
    min: round(times.length ? Math.min(...times) : undefined),
    max: round(times.length ? Math.max(...times) : undefined),
    mean: round(times.length ? times.reduce((a, b) => a + b, 0) / times.length : undefined)
  }
}

export interface BatchMeta {
  readonly batchId: string
  readonly configFile: string
  readonly requested: number
  readonly startedAt: Date
  readonly finishedAt: Date
  readonly stations: ReadonlyArray<string>
}

export const buildBatchReport = (meta: BatchMeta, results: ReadonlyArray<BoardResult>) => {
  const passed = results.filter((r) => r.status === "pass")
  const failed = results.filter((r) => r.status === "fail")
  const minutes = Math.max((meta.finishedAt.getTime() - meta.startedAt.getTime()) / 60000, 1e-9)
  const stationStats = Object.fromEntries(
    meta.stations.map((station) => {
      const own = results.filter((r) => r.stationId === station)
      return [
        station,
        {
          total: own.length,
          passed: own.filter((r) => r.status === "pass").length,
          failed: own.filter((r) => r.status === "fail").length,
          retries: own.reduce((sum, r) => sum + r.retries, 0),
          flash_time_s: flashStats(own)
        }
      ]
    })
  )
  return {
    batch_id: meta.batchId,
    config: meta.configFile,
    started_at: meta.startedAt.toISOString(),
    finished_at: meta.finishedAt.toISOString(),
    duration_s: round((meta.finishedAt.getTime() - meta.startedAt.getTime()) / 1000),
    totals: {
      requested: meta.requested,
      total: results.length,
      passed: passed.length,
      failed: failed.length,
      registered: results.filter((r) => r.registration === "registered" || r.registration === "already_registered").length,
      queued: results.filter((r) => r.registration === "queued").length
    },
    pass_rate: results.length ? round(passed.length / results.length, 4) : null,
    flash_time_s: flashStats(results),
    throughput_boards_per_min: round(results.length / minutes),
    retries: results.reduce((sum, r) => sum + r.retries, 0),
    stations: stationStats,
    failures: failed.map((r) => ({
      device_id: r.deviceId ?? null,
      identity: r.identity?.value ?? null,
      station_id: r.stationId,
      port: r.port,
      step: r.failure?.step ?? null,
      code: r.failure?.code ?? null,
      reason: r.failure?.message ?? null,
      hint: r.failure?.hint ?? null
    })),
    boards: results.map((r) => ({
      device_id: r.deviceId ?? null,
      identity: r.identity ?? null,
      chip: r.chip ?? null,
      station_id: r.stationId,
      port: r.port,
      board: r.boardConfig,
      platform: r.platform,
      firmware_version: r.firmwareVersion,
      status: r.status,
      error_code: r.failure?.code ?? null,
      flash_time_s: round(r.flashSeconds),
      attempts: r.attempts,
      retries: r.retries,
      wire_bytes: r.wireBytes,
      tests: r.tests.map((t) => ({ name: t.name, passed: t.passed, response: t.response, duration_ms: t.durationMs })),
      registration: r.registration ?? null,
      qr_png: r.qr?.png ?? null
    }))
  }
}
export type BatchReport = ReturnType<typeof buildBatchReport>

/**
 * The part of a batch report (var/reports/batch_report_*.json) that readers
 * rely on — the web UI's factory page decodes it with this Schema, and the
 * writer's output is checked against it at compile time (below), so the two
 * cannot drift apart.
 */
export const BatchReportSummary = Schema.Struct({
  batch_id: Schema.String,
  finished_at: Schema.String,
  totals: Schema.Struct({ total: Schema.Number, passed: Schema.Number, failed: Schema.Number }),
  pass_rate: Schema.NullOr(Schema.Number),
  stations: Schema.Record({
    key: Schema.String,
    value: Schema.Struct({ total: Schema.Number, passed: Schema.Number, failed: Schema.Number, retries: Schema.Number })
  })
})

/** Compile-time: every report the writer builds decodes as a BatchReportSummary. */
export const asReportSummary = (report: BatchReport): typeof BatchReportSummary.Encoded => report

export const writeBatchReport = (dir: string, report: BatchReport, at: Date) =>
  Effect.gen(function* () {
    const path = yield* Path.Path
    const file = path.join(dir, `batch_report_${timeStamp(at)}.json`)
    yield* writeFileAtomic(file, `${JSON.stringify(report, null, 2)}\n`)
    return file
  })
