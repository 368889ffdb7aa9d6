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
import { heartbeatSeconds } from "../factory/config.js"
import type { FactoryConfig } from "../factory/loadConfig.js"
import type { FactoryLog } from "../factory/log.js"
import { outboxDrainer, PgRegistrationQueueLive } from "../factory/outbox.js"
import type { RegistrationQueue } from "../factory/RegistrationQueue.js"
import { pgLayer } from "../store/connect.js"
import { withSecretPassword } from "../store/databaseSecret.js"
import { type DatabaseTarget, resolveDatabase } from "../store/databaseUrl.js"
import { makePgRecordStore, stationHost } from "../store/PgRecordStore.js"
import { FileRecordStore, RecordStore, type StationClaim, type StoreStats } from "../store/RecordStore.js"

export const SPOOL_FILE = "var/records/db-spool.jsonl"

/**
 * A `provision flash` process keeps one connection to the shared database: its
 * statements are a few milliseconds each (a beat, a board's start row, its
 * record), so a second one would rarely be busy, and every connection costs the
 * server a backend process that starts cold (authentication, then its catalog
 * caches and PL/pgSQL plans filled on the first statements): on a 2-core
 * machine running 8 stations and their server, the second and third
 * connections the pool of 4 used to open were half the server's CPU per batch
 * (`npm run bench:stations` (a), README). The outbox delivery, which holds a
 * connection while the backend answers, gets its own (`outboxDrainer`).
 */
const STATION_CONNECTIONS = 1

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
export const databaseTarget = (config: FactoryConfig, flag: string | undefined, offline: boolean, secretsFile: string | undefined) =>
  offline
    ? Effect.succeed<DatabaseTarget | undefined>(undefined)
    : resolveDatabase({ flag, env: process.env.PROVISION_DATABASE_URL, config: config.raw.database?.url, configFile: config.file }).pipe(
        Effect.flatMap((target) => withSecretPassword(target, secretsFile))
      )

export interface SharedStoreOptions {
  readonly target: DatabaseTarget | undefined
  readonly config: FactoryConfig
  readonly stations: ReadonlyArray<StationClaim>
  readonly queueFile: string
  readonly log: FactoryLog
}

/** What the shared store did in this run (undefined on files). */
export interface StoreRunSummary {
  readonly display: string
  readonly spoolFile: string
  readonly stats: StoreStats
  /** Records still in the local spool when the run ended. */
  readonly spooledRemaining: number
}

/**
 * Runs `effect` with the RecordStore (and, on PostgreSQL, the outbox-backed
 * RegistrationQueue) in place. On PostgreSQL the stations are claimed before
 * the first board and released when it ends.
 */
export const withSharedStore = <A, E, R>(options: SharedStoreOptions, effect: Effect.Effect<A, E, R>) => {
  type Out = Effect.Effect<
    readonly [A, StoreRunSummary | undefined],
    E | DatabaseUnreachable | DatabaseUrlInvalid | StationIdTaken | DatabaseError,
    Exclude<R, RecordStore | RegistrationQueue> | Backend | FileSystem.FileSystem | Path.Path
  >
  const { target } = options
  if (target === undefined)
    return Effect.provideService(effect, RecordStore, FileRecordStore).pipe(Effect.map((a) => [a, undefined] as const)) as Out
  const heartbeat = Duration.seconds(heartbeatSeconds(options.config.raw))
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
        every: Duration.times(heartbeat, 2),
        deliverOn: pgLayer(target, { maxConnections: 1, migrate: false, applicationName: "provision outbox" })
      }).pipe(Effect.forkScoped)
      const value = yield* Effect.provideService(effect, RecordStore, store)
      const stats = yield* store.stats
      const spooledRemaining = yield* store.pendingRecords
      yield* options.log.info(
        `records: ${stats.stored} stored in the database, ${stats.spooled} spooled (${spooledRemaining} still in ${SPOOL_FILE}); database time on the boards' path ${stats.boardPathMs.toFixed(0)} ms${stats.boards ? ` (${(stats.boardPathMs / stats.boards).toFixed(1)} ms per board)` : ""}`
      )
      return [value, { display: target.display, spoolFile: SPOOL_FILE, stats, spooledRemaining }] as const
    })
  )
  return run.pipe(
    Effect.provide(PgRegistrationQueueLive(options.queueFile)),
    Effect.provide(Layer.fresh(pgLayer(target, { maxConnections: STATION_CONNECTIONS })))
  ) as unknown as Out
}

/** The operator's line about records the database did not take during the run (none: undefined). */
export const spooledLine = (summary: StoreRunSummary | undefined): string | undefined => {
  if (summary === undefined || (summary.stats.spooled === 0 && summary.spooledRemaining === 0)) return undefined
  const n = summary.spooledRemaining
  if (n === 0)
    return `${summary.stats.spooled} record(s) spooled to ${summary.spoolFile} while the database was away; all replayed into ${summary.display}`
  return `${n} record(s) spooled to ${summary.spoolFile}; replayed when the database returns (or run: provision flash sync)`
}
