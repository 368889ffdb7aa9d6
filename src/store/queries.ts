/**
 * Read side of the shared store: the station list, exports, a board's full
 * record, and the line overview for the dashboard. Nothing here selects the
 * outbox payload (it holds device secrets).
 */
import { PgClient } from "@effect/sql-pg"
import { Effect } from "effect"

export interface StationRow {
  readonly stationId: string
  readonly host: string
  readonly pid: number
  readonly ports: ReadonlyArray<{ readonly port: string; readonly step: string; readonly since: string | null }>
  readonly currentBatch: string | null
  readonly lastSeenSeconds: number
  /** live: fresh heartbeat; stopped: ended cleanly; stale: heartbeat lost (killed, or the database went away for it). */
  readonly state: "live" | "stopped" | "stale"
  readonly boards: number
  readonly passed: number
  readonly failed: number
  /** Boards finished in the last hour. */
  readonly lastHour: number
  readonly yield: number | null
  readonly interrupted: number
}

/** Running attempts of a station that is no longer live count as interrupted. */
export const listStations = (staleMs: number) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{
      station_id: string
      host: string
      pid: number
      ports: StationRow["ports"]
      current_batch: string | null
      age_s: number
      stopped: boolean
      boards: number
      passed: number
      failed: number
      last_hour: number
      interrupted: number
      running: number
    }>`
      SELECT s.station_id, s.host, s.pid, s.ports, s.current_batch, extract(epoch FROM now() - s.last_seen)::float8 AS age_s, s.stopped_at IS NOT NULL AS stopped,
        COALESCE(r.boards, 0)::int AS boards, COALESCE(r.passed, 0)::int AS passed, COALESCE(r.failed, 0)::int AS failed, COALESCE(r.last_hour, 0)::int AS last_hour,
        COALESCE(a.interrupted, 0)::int AS interrupted, COALESCE(a.running, 0)::int AS running
      FROM stations s
      LEFT JOIN (SELECT station_id, count(*) AS boards, count(*) FILTER (WHERE status = 'pass') AS passed, count(*) FILTER (WHERE status = 'fail') AS failed,
                   count(*) FILTER (WHERE finished_at > now() - interval '1 hour') AS last_hour
                 FROM board_records GROUP BY station_id) r USING (station_id)
      LEFT JOIN (SELECT station_id, count(*) FILTER (WHERE state = 'interrupted') AS interrupted, count(*) FILTER (WHERE state = 'running') AS running
                 FROM board_attempts GROUP BY station_id) a USING (station_id)
      ORDER BY s.station_id`.pipe(
      Effect.map((rows) =>
        rows.map((r): StationRow => {
          const state = r.stopped ? "stopped" : r.age_s * 1000 > staleMs ? "stale" : "live"
          return {
            stationId: r.station_id,
            host: r.host,
            pid: r.pid,
            ports: r.ports,
            currentBatch: r.current_batch,
            lastSeenSeconds: r.age_s,
            state,
            boards: r.boards,
            passed: r.passed,
            failed: r.failed,
            lastHour: r.last_hour,
            yield: r.boards ? r.passed / r.boards : null,
            interrupted: r.interrupted + (state === "live" ? 0 : r.running)
          }
        })
      )
    )
  )

export interface RecordFilter {
  readonly stationId?: string | undefined
  readonly day?: string | undefined
  readonly batchId?: string | undefined
}

export interface ExportedRecord {
  readonly day: string
  readonly batchId: string
  readonly stationId: string
  readonly csvRow: string
  readonly result: unknown
}

export const exportRecords = (filter: RecordFilter) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ day: string; batch_id: string; station_id: string; csv_row: string; result: unknown }>`
      SELECT day, batch_id, station_id, csv_row, result FROM board_records
      WHERE (${filter.stationId ?? null}::text IS NULL OR station_id = ${filter.stationId ?? null})
        AND (${filter.day ?? null}::text IS NULL OR day = ${filter.day ?? null})
        AND (${filter.batchId ?? null}::text IS NULL OR batch_id = ${filter.batchId ?? null})
      ORDER BY finished_at, attempt_key`.pipe(
      Effect.map((rows) =>
        rows.map((r): ExportedRecord => ({ day: r.day, batchId: r.batch_id, stationId: r.station_id, csvRow: r.csv_row, result: r.result }))
      )
    )
  )

export interface BatchRow {
  readonly batchId: string
  readonly stationIds: ReadonlyArray<string>
  readonly configFile: string
  readonly requested: number
  readonly startedAt: Date
  readonly finishedAt: Date | null
}

export const batchInfo = (batchId: string, stationId?: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ station_id: string; config_file: string; requested: number; started_at: Date; finished_at: Date | null }>`
      SELECT station_id, config_file, requested, started_at, finished_at FROM batches
      WHERE batch_id = ${batchId} AND (${stationId ?? null}::text IS NULL OR station_id = ${stationId ?? null})`.pipe(
      Effect.map((rows): BatchRow | undefined =>
        rows.length === 0
          ? undefined
          : {
              batchId,
              stationIds: rows.map((r) => r.station_id).sort(),
              configFile: rows[0]!.config_file,
              requested: rows.reduce((n, r) => n + r.requested, 0),
              startedAt: new Date(Math.min(...rows.map((r) => new Date(r.started_at).getTime()))),
              finishedAt: rows.every((r) => r.finished_at)
                ? new Date(Math.max(...rows.map((r) => new Date(r.finished_at!).getTime())))
                : null
            }
      )
    )
  )

/** A board's full records (every attempt) by device id or MAC. */
export const findBoard = (query: string) =>
  Effect.flatMap(
    PgClient.PgClient,
    (sql) =>
      sql<{
        attempt_key: string
        station_id: string
        batch_id: string
        port: string
        device_id: string | null
        mac: string | null
        status: string
        error_code: string | null
        finished_at: Date
        steps: unknown
        result: unknown
      }>`
      SELECT attempt_key, station_id, batch_id, port, device_id, mac, status, error_code, finished_at, steps, result FROM board_records
      WHERE device_id = ${query.trim()} OR lower(mac) = lower(${query.trim()})
      ORDER BY finished_at DESC LIMIT 20`
  )

export interface LineOverview {
  readonly stations: ReadonlyArray<StationRow>
  readonly lastHour: { readonly boards: number; readonly passed: number }
  readonly topFailures: ReadonlyArray<{ readonly code: string; readonly count: number }>
  readonly batches: ReadonlyArray<{
    readonly batchId: string
    readonly stations: string
    readonly boards: number
    readonly passed: number
    readonly first: Date
    readonly last: Date
  }>
  readonly days: ReadonlyArray<{ readonly day: string; readonly boards: number; readonly passed: number }>
  readonly recent: ReadonlyArray<{
    readonly finishedAt: Date
    readonly stationId: string
    readonly port: string
    readonly deviceId: string | null
    readonly mac: string | null
    readonly status: string
    readonly errorCode: string | null
  }>
}

export const lineOverview = (staleMs: number) =>
  Effect.gen(function* () {
    const sql = yield* PgClient.PgClient
    const stations = yield* listStations(staleMs)
    const [hour] = yield* sql<{ boards: number; passed: number }>`
      SELECT count(*)::int AS boards, count(*) FILTER (WHERE status = 'pass')::int AS passed FROM board_records WHERE finished_at > now() - interval '1 hour'`
    const topFailures = yield* sql<{ code: string; count: number }>`
      SELECT error_code AS code, count(*)::int AS count FROM board_records WHERE status = 'fail' AND error_code IS NOT NULL
      GROUP BY error_code ORDER BY count(*) DESC, error_code LIMIT 5`
    const batches = yield* sql<{ batch_id: string; stations: string; boards: number; passed: number; first: Date; last: Date }>`
      SELECT batch_id, string_agg(DISTINCT station_id, ', ') AS stations, count(*)::int AS boards, count(*) FILTER (WHERE status = 'pass')::int AS passed,
             min(finished_at) AS first, max(finished_at) AS last
      FROM board_records GROUP BY batch_id ORDER BY max(finished_at) DESC LIMIT 20`
    const days = yield* sql<{ day: string; boards: number; passed: number }>`
      SELECT day, count(*)::int AS boards, count(*) FILTER (WHERE status = 'pass')::int AS passed FROM board_records GROUP BY day ORDER BY day DESC LIMIT 14`
    const recent = yield* sql<{
      finished_at: Date
      station_id: string
      port: string
      device_id: string | null
      mac: string | null
      status: string
      error_code: string | null
    }>`
      SELECT finished_at, station_id, port, device_id, mac, status, error_code FROM board_records ORDER BY finished_at DESC LIMIT 20`
    const overview: LineOverview = {
      stations,
      lastHour: hour ?? { boards: 0, passed: 0 },
      topFailures,
      batches: batches.map((b) => ({
        batchId: b.batch_id,
        stations: b.stations,
        boards: b.boards,
        passed: b.passed,
        first: b.first,
        last: b.last
      })),
      days,
      recent: recent.map((r) => ({
        finishedAt: r.finished_at,
        stationId: r.station_id,
        port: r.port,
        deviceId: r.device_id,
        mac: r.mac,
        status: r.status,
        errorCode: r.error_code
      }))
    }
    return overview
  })
