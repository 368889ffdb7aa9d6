/**
 * `provision flash` and the shared store: which one (files, or PostgreSQL
 * from `--database` / PROVISION_DATABASE_URL / database.url), and the
 * station's life in it — registered and heartbeating for the run, delivering
 * the registration outbox in the background, records spooled locally while
 * the database is away. `--offline` keeps a configured station on files.
 */
import { Options } from "@effect/cli"
import type { FileSystem, Path } from "@effect/platform"
import { Duration, Effect, Layer } from "effect"
import type { DatabaseUnreachable, DatabaseUrlInvalid, StationIdTaken, DatabaseError } from "../domain/errors/store.js"
import type { Backend } from "../factory/Backend.js"
import type { FactoryConfig } from "../factory/loadConfig.js"
import type { FactoryLog } from "../factory/log.js"
import { outboxDrainer, PgRegistrationQueueLive } from "../factory/outbox.js"
import type { RegistrationQueue } from "../factory/RegistrationQueue.js"
import { pgLayer } from "../store/connect.js"
import { type DatabaseTarget, resolveDatabase } from "../store/databaseUrl.js"
import { makePgRecordStore, stationHost } from "../store/PgRecordStore.js"
import { FileRecordStore, RecordStore, type StationClaim } from "../store/RecordStore.js"

export const SPOOL_FILE = "var/records/db-spool.jsonl"

export const databaseOptions = {
  database: Options.text("database").pipe(
    Options.withDescription(
      "shared PostgreSQL for many stations: postgres://USER:PASSWORD@HOST:PORT/DB (else PROVISION_DATABASE_URL, else database.url; none: files only)"
    ),
    Options.optional
  ),
  offline: Options.boolean("offline").pipe(
    Options.withDescription("work on the local files only even when a database is configured (records are replayed by a later run)")
  )
}

/** The database this run uses, or undefined (files). */
export const databaseTarget = (config: FactoryConfig, flag: string | undefined, offline: boolean) =>
  offline
    ? Effect.succeed<DatabaseTarget | undefined>(undefined)
    : resolveDatabase({ flag, env: process.env.PROVISION_DATABASE_URL, config: config.raw.database?.url, configFile: config.file })

export interface SharedStoreOptions {
  readonly target: DatabaseTarget | undefined
  readonly config: FactoryConfig
  readonly stations: ReadonlyArray<StationClaim>
  readonly queueFile: string
  readonly log: FactoryLog
}

/**
 * Runs `effect` with the RecordStore (and, on PostgreSQL, the outbox-backed
 * RegistrationQueue) in place. On PostgreSQL the stations are claimed before
 * the first board and released when it ends.
 */
export const withSharedStore = <A, E, R>(options: SharedStoreOptions, effect: Effect.Effect<A, E, R>) => {
  type Out = Effect.Effect<
    A,
    E | DatabaseUnreachable | DatabaseUrlInvalid | StationIdTaken | DatabaseError,
    Exclude<R, RecordStore | RegistrationQueue> | Backend | FileSystem.FileSystem | Path.Path
  >
  const { target } = options
  if (target === undefined) return Effect.provideService(effect, RecordStore, FileRecordStore) as Out
  const heartbeat = Duration.seconds(options.config.raw.database?.heartbeat_s ?? 2)
  const run = Effect.scoped(
    Effect.gen(function* () {
      const store = yield* makePgRecordStore({
        display: target.display,
        spoolFile: SPOOL_FILE,
        heartbeat,
        notice: (text) => options.log.warn(text)
      })
      yield* options.log.info(`records: shared database ${target.display} (and the local files)`)
      yield* store.openStations(options.stations)
      yield* outboxDrainer({
        by: `${stationHost()}:${process.pid}`,
        fallbackFile: options.queueFile,
        every: Duration.times(heartbeat, 2)
      }).pipe(Effect.forkScoped)
      return yield* Effect.provideService(effect, RecordStore, store)
    })
  )
  return run.pipe(
    Effect.provide(PgRegistrationQueueLive(options.queueFile)),
    Effect.provide(Layer.fresh(pgLayer(target)))
  ) as unknown as Out
}
