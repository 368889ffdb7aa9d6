/**
 * Opens the shared database: a pool (@effect/sql-pg), a first `SELECT 1`
 * within the connect timeout, then the migrations. Any failure here is
 * `DatabaseUnreachable` with the fix (or `--offline`); the URL in it is the
 * display form, the password never leaves the Redacted.
 */
import { PgClient } from "@effect/sql-pg"
import { Reactivity } from "@effect/experimental"
import { SqlClient } from "@effect/sql"
import { Context, Duration, Effect, Layer, Schedule } from "effect"
import { DatabaseUnreachable } from "../domain/errors/store.js"
import { noteCodePath } from "../runtime/codeCache.js"
import type { DatabaseTarget } from "./databaseUrl.js"
import { migrate } from "./migrations.js"

export interface ConnectOptions {
  readonly connectTimeout?: Duration.DurationInput
  readonly maxConnections?: number
  /** Shown in pg_stat_activity. */
  readonly applicationName?: string
  /**
   * false: the schema is not checked (a further connection of a process whose
   * first one has already checked it). Default true.
   */
  readonly migrate?: boolean
}

/** Why a connection failed, in words, without the URL (pg's messages never hold the password). */
export const causeText = (error: unknown): string => {
  const cause = (error as { cause?: unknown })?.cause
  const inner = cause instanceof Error ? cause : error instanceof Error ? error : undefined
  const text = inner?.message || (cause as { code?: string })?.code || String((error as { message?: unknown })?.message ?? error)
  const code = (inner as { code?: string } | undefined)?.code
  return code && !text.includes(code) ? `${text} (${code})` : text
}

/** PostgreSQL's five-character SQLSTATE of a failed statement (the driver's error under `cause`), when the server sent one. */
export const sqlStateOf = (error: unknown): string | undefined => {
  const code = ((error as { cause?: unknown })?.cause as { code?: unknown } | undefined)?.code
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

export const pgLayer = (
  target: DatabaseTarget,
  options: ConnectOptions = {}
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, DatabaseUnreachable> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      // The first run on a database after runs on files adds the driver's code to the bundle's code cache.
      noteCodePath("postgres")
      const client = yield* PgClient.make({
        url: target.url,
        connectTimeout: options.connectTimeout ?? Duration.seconds(10),
        maxConnections: options.maxConnections ?? 4,
        idleTimeout: Duration.seconds(30),
        applicationName: options.applicationName ?? "provision"
      })
      // Stations starting at once may race to create the migrations table; a retry after the winner commits settles it.
      if (options.migrate !== false)
        yield* migrate.pipe(
          Effect.retry(Schedule.spaced(Duration.millis(250)).pipe(Schedule.intersect(Schedule.recurs(5)))),
          Effect.provideService(SqlClient.SqlClient, client)
        )
      return Context.make(PgClient.PgClient, client).pipe(Context.add(SqlClient.SqlClient, client))
    }).pipe(
      Effect.provide(Reactivity.layer),
      Effect.mapError((error) => new DatabaseUnreachable({ url: target.display, source: target.source, detail: causeText(error) }))
    )
  )
