import { Effect, Schema } from "effect"
import { Path } from "@effect/platform"
import { writeFileAtomic } from "../runtime/safeWrite.js"
import { timeStamp } from "./records.js"
import type { BoardResult } from "./result.js"
import { PlatformSchema } from "../flash/families.js"

/** Nearest-rank percentile (p in 0..100) of an unsorted sample; undefined when empty. */
export const percentile = (values: ReadonlyArray<number>, p: number): number | undefined => {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[Math.min(rank, sorted.length) - 1]
}

const round = (n: number | undefined, digits = 2) => (n === undefined ? null : Number(n.toFixed(digits)))

const Count = Schema.Number
const Seconds = Schema.NullOr(Schema.Number)

/** p50/p95/min/max/mean of the flash times, seconds (null without any flashed board). */
export const FlashTimeStats = Schema.Struct({ p50: Seconds, p95: Seconds, min: Seconds, max: Seconds, mean: Seconds })
export type FlashTimeStats = typeof FlashTimeStats.Type

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

/**
 * A batch report (var/reports/batch_report_*.json), whole: the writer below
 * encodes through it and every reader (the web UI's factory page) decodes
 * through it, so the two cannot drift apart. Decoding ignores keys it does
 * not know, so a report from a newer writer still reads.
 */
export const BatchReport = Schema.Struct({
  batch_id: Schema.String,
  config: Schema.String,
  started_at: Schema.String,
  finished_at: Schema.String,
  duration_s: Seconds,
  totals: Schema.Struct({
    requested: Count,
    total: Count,
    passed: Count,
    failed: Count,
    registered: Count,
    queued: Count
  }),
  pass_rate: Schema.NullOr(Schema.Number),
  flash_time_s: FlashTimeStats,
  throughput_boards_per_min: Schema.NullOr(Schema.Number),
  retries: Count,
  stations: Schema.Record({
    key: Schema.String,
    value: Schema.Struct({ total: Count, passed: Count, failed: Count, retries: Count, flash_time_s: FlashTimeStats })
  }),
  failures: Schema.Array(
    Schema.Struct({
      device_id: Schema.NullOr(Schema.String),
      identity: Schema.NullOr(Schema.String),
      station_id: Schema.String,
      port: Schema.String,
      step: Schema.NullOr(Schema.String),
      code: Schema.NullOr(Schema.String),
      reason: Schema.NullOr(Schema.String),
      hint: Schema.NullOr(Schema.String)
    })
  ),
  boards: Schema.Array(
    Schema.Struct({
      device_id: Schema.NullOr(Schema.String),
      identity: Schema.NullOr(Schema.Struct({ kind: Schema.Literal("mac", "uid", "serial"), value: Schema.String })),
      chip: Schema.NullOr(Schema.String),
      station_id: Schema.String,
      port: Schema.String,
      board: Schema.String,
      platform: PlatformSchema,
      firmware_version: Schema.String,
      status: Schema.Literal("pass", "fail"),
      error_code: Schema.NullOr(Schema.String),
      flash_time_s: Seconds,
      attempts: Count,
      retries: Count,
      wire_bytes: Count,
      tests: Schema.Array(Schema.Struct({ name: Schema.String, passed: Schema.Boolean, response: Schema.String, duration_ms: Count })),
      registration: Schema.NullOr(Schema.Literal("registered", "already_registered", "queued")),
      qr_png: Schema.NullOr(Schema.String)
    })
  )
})
export type BatchReport = typeof BatchReport.Type

/** The report file's text: two-space JSON (the newline is added on write). */
const encodeReport = Schema.encode(Schema.parseJson(BatchReport, { space: 2 }))

/** A report file's text back; a file that is not a batch report is a ParseError. */
export const decodeBatchReport = Schema.decodeUnknownEither(Schema.parseJson(BatchReport))

export const buildBatchReport = (meta: BatchMeta, results: ReadonlyArray<BoardResult>): BatchReport => {
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
export const writeBatchReport = (dir: string, report: BatchReport, at: Date) =>
  Effect.gen(function* () {
    const path = yield* Path.Path
    const file = path.join(dir, `batch_report_${timeStamp(at)}.json`)
    // Built from typed results: a report its own Schema refuses is a defect of ours.
    const text = yield* Effect.orDie(encodeReport(report))
    yield* writeFileAtomic(file, `${text}\n`)
    return file
  })
