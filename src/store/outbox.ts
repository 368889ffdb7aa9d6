/**
 * The registration outbox in the shared database. Any station may deliver:
 * a delivery pass locks a few pending rows with `FOR UPDATE SKIP LOCKED`
 * (another station's pass skips them instead of sending them too), hands them
 * to the deliverer, and marks each delivered in the same transaction. The
 * deliverer sends one request per device with the device id as idempotency
 * key, so even a commit lost after the backend took a device only repeats a
 * request the backend recognises.
 *
 * The payload holds the device secret and token (they must reach the
 * backend); it is read only here, never listed.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect } from "effect"

export interface OutboxEntry {
  readonly deviceId: string
  readonly batchId: string
  readonly stationId: string
  /** JSON of the registration (with its secrets). */
  readonly payload: string
}

export type Delivery = { readonly deviceId: string; readonly created: boolean } | { readonly deviceId: string; readonly error: string }

/** Queues a registration; a device already queued keeps its first entry (as the file queue did). */
export const outboxEnqueue = (entry: OutboxEntry) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql`INSERT INTO registration_outbox (device_id, batch_id, station_id, payload) VALUES (${entry.deviceId}, ${entry.batchId}, ${entry.stationId}, ${entry.payload})
        ON CONFLICT (device_id) DO NOTHING`.pipe(Effect.asVoid)
  )

/**
 * Registrations not yet delivered. Read through the partial index on pending
 * rows: delivered rows stay in the table for good (the line's history), so
 * counting them every few seconds from every station would scan all of it.
 */
export const outboxPending = Effect.flatMap(PgClient.PgClient, (sql) =>
  sql<{ pending: number }>`SELECT count(*)::int AS pending FROM registration_outbox WHERE delivered_at IS NULL`.pipe(
    Effect.map((rows) => rows[0]?.pending ?? 0)
  )
)

export interface PassResult {
  readonly claimed: number
  readonly delivered: ReadonlyArray<{ readonly deviceId: string; readonly created: boolean }>
  readonly failed: ReadonlyArray<{ readonly deviceId: string; readonly error: string }>
}

/**
 * One delivery pass over at most `limit` pending rows that no other station
 * holds and that are not in `skip` (failed earlier in this drain).
 */
export const outboxPass = <E, R>(options: {
  readonly limit: number
  readonly skip: ReadonlyArray<string>
  readonly by: string
  readonly deliver: (entries: ReadonlyArray<OutboxEntry>) => Effect.Effect<ReadonlyArray<Delivery>, E, R>
}) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql.withTransaction(
      Effect.gen(function* () {
        const rows = yield* sql<{ device_id: string; batch_id: string; station_id: string; payload: string }>`
          SELECT device_id, batch_id, station_id, payload FROM registration_outbox
          WHERE delivered_at IS NULL AND NOT (${JSON.stringify(options.skip)}::jsonb ? device_id)
          ORDER BY enqueued_at, device_id
          LIMIT ${options.limit}
          FOR UPDATE SKIP LOCKED`
        if (rows.length === 0) return { claimed: 0, delivered: [], failed: [] } satisfies PassResult
        const outcomes = yield* options.deliver(
          rows.map((r) => ({ deviceId: r.device_id, batchId: r.batch_id, stationId: r.station_id, payload: r.payload }))
        )
        const delivered: Array<{ deviceId: string; created: boolean }> = []
        const failed: Array<{ deviceId: string; error: string }> = []
        for (const outcome of outcomes) {
          if ("error" in outcome) {
            failed.push(outcome)
            yield* sql`UPDATE registration_outbox SET tries = tries + 1, last_error = ${outcome.error} WHERE device_id = ${outcome.deviceId}`
          } else {
            delivered.push(outcome)
            yield* sql`UPDATE registration_outbox SET tries = tries + 1, last_error = NULL, delivered_at = now(), delivered_by = ${options.by}, created = ${outcome.created}
                       WHERE device_id = ${outcome.deviceId}`
          }
        }
        if (delivered.length > 0)
          yield* sql`SELECT pg_notify('provision_line', ${JSON.stringify({ kind: "outbox", delivered: delivered.length })})`
        return { claimed: rows.length, delivered, failed } satisfies PassResult
      })
    )
  )
