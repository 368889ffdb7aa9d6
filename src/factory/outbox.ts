/**
 * Registrations through the shared database's outbox (PostgreSQL mode).
 *
 * `PgRegistrationQueueLive` replaces the file queue: a registration the
 * backend did not take goes into the outbox; while the database is away it
 * falls back to the file queue, which the next drain moves into the outbox.
 * `drainOutbox` delivers pending rows (any station, `FOR UPDATE SKIP LOCKED`,
 * one request per device with its id as idempotency key).
 */
import { FileSystem, Path } from "@effect/platform"
import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Layer, Schedule, Schema } from "effect"
import { describeError, type OperatorError } from "../domain/errors/base.js"
import { DatabaseError } from "../domain/errors/store.js"
import { causeText } from "../store/connect.js"
import { type Delivery, outboxEnqueue, outboxPass, outboxPending } from "../store/outbox.js"
import { Backend } from "./Backend.js"
import { Registration } from "./registration.js"
import { makeRegistrationQueue, RegistrationQueue, type RegistrationQueueService } from "./RegistrationQueue.js"

const Payload = Schema.parseJson(Registration)
const encodePayload = Schema.encodeSync(Payload)
const decodePayload = Schema.decodeUnknownEither(Payload)

const dbError = (operation: string) => (error: unknown) => new DatabaseError({ operation, detail: causeText(error) })
const within = Duration.seconds(3)

export const PgRegistrationQueueLive = (fallbackFile: string) =>
  Layer.effect(
    RegistrationQueue,
    Effect.gen(function* () {
      const sql = yield* PgClient.PgClient
      const file = yield* makeRegistrationQueue(fallbackFile)
      const provide = Effect.provideService(PgClient.PgClient, sql)
      const service: RegistrationQueueService = {
        path: `registration outbox (shared database; ${fallbackFile} while it is away)`,
        enqueue: (registration) =>
          outboxEnqueue({
            deviceId: registration.device_id,
            batchId: registration.batch_id,
            stationId: registration.station_id,
            payload: encodePayload(registration)
          }).pipe(
            provide,
            Effect.timeout(within),
            Effect.catchAll(() => file.enqueue(registration))
          ),
        read: file.read,
        remove: file.remove
      }
      return service
    })
  )

/** Moves registrations the file queue holds (queued while the database was away) into the outbox. */
export const absorbFileQueue = (fallbackFile: string) =>
  Effect.gen(function* () {
    const file = yield* makeRegistrationQueue(fallbackFile)
    const { entries } = yield* file.read
    if (entries.length === 0) return 0
    yield* Effect.forEach(
      entries,
      (r) => outboxEnqueue({ deviceId: r.device_id, batchId: r.batch_id, stationId: r.station_id, payload: encodePayload(r) }),
      { discard: true }
    ).pipe(Effect.mapError(dbError("outbox absorb")))
    yield* file.remove(new Set(entries.map((e) => e.device_id)))
    return entries.length
  })

export interface DrainSummary {
  readonly delivered: number
  readonly created: number
  readonly existing: number
  readonly failed: number
  readonly remaining: number
  readonly errors: ReadonlyArray<string>
}

/**
 * Delivers what the outbox holds: passes of `chunk` rows until none is left
 * that this drain has not tried (a device that failed waits for the next drain).
 */
export const drainOutbox = (options: { readonly by: string; readonly chunk?: number; readonly maxPasses?: number }) =>
  Effect.gen(function* () {
    const backend = yield* Backend
    const skip: Array<string> = []
    const errors = new Set<string>()
    let delivered = 0
    let created = 0
    let existing = 0
    const deliver = (entries: ReadonlyArray<{ readonly deviceId: string; readonly payload: string }>) =>
      Effect.forEach(entries, (entry): Effect.Effect<Delivery> => {
        const registration = decodePayload(entry.payload)
        if (registration._tag === "Left") return Effect.succeed({ deviceId: entry.deviceId, error: "outbox entry does not parse" })
        return backend.register(registration.right).pipe(
          Effect.map((r): Delivery => ({ deviceId: entry.deviceId, created: r.created })),
          Effect.catchAll((error: OperatorError) => Effect.succeed<Delivery>({ deviceId: entry.deviceId, error: describeError(error) }))
        )
      })
    for (let pass = 0; pass < (options.maxPasses ?? 1000); pass++) {
      const result = yield* outboxPass({ limit: options.chunk ?? 10, skip, by: options.by, deliver }).pipe(
        Effect.mapError(dbError("outbox delivery"))
      )
      if (result.claimed === 0) break
      delivered += result.delivered.length
      for (const d of result.delivered) d.created ? (created += 1) : (existing += 1)
      for (const f of result.failed) {
        skip.push(f.deviceId)
        errors.add(f.error)
      }
    }
    const remaining = yield* outboxPending.pipe(Effect.mapError(dbError("outbox count")))
    const summary: DrainSummary = { delivered, created, existing, failed: skip.length, remaining, errors: [...errors] }
    return summary
  })

/**
 * A station's background delivery while it runs: absorb the file queue, drain, every `every`.
 *
 * `deliverOn`: the connection the delivery passes run on, opened for a drain and
 * closed after it. A pass holds its connection in a transaction while the
 * backend answers (seconds when it is slow), so a station whose own pool is one
 * connection delivers on a second one and its records never wait behind the
 * backend. Without it the passes use the PgClient in context.
 */
export const outboxDrainer = <E>(options: {
  readonly by: string
  readonly fallbackFile: string
  readonly every?: Duration.DurationInput
  readonly deliverOn?: Layer.Layer<PgClient.PgClient, E>
}) =>
  Effect.gen(function* () {
    yield* absorbFileQueue(options.fallbackFile).pipe(Effect.ignore)
    // Almost always nothing is pending (the boards register directly): one indexed count, not a locking pass.
    const pending = yield* outboxPending.pipe(Effect.orElseSucceed(() => 1))
    if (pending === 0) return
    const drain = drainOutbox({ by: options.by, maxPasses: 20 })
    yield* (options.deliverOn ? drain.pipe(Effect.provide(Layer.fresh(options.deliverOn))) : drain).pipe(Effect.ignore)
  }).pipe(Effect.repeat(Schedule.spaced(options.every ?? Duration.seconds(5))), Effect.asVoid)

export type OutboxRequirements = Backend | PgClient.PgClient | FileSystem.FileSystem | Path.Path
