// Errors of the shared PostgreSQL store (see base.ts for the convention).
// URLs in these errors are always the display form (password replaced by ***).
import { Data } from "effect"
import type { OperatorError } from "./base.js"

/** `--database` / `PROVISION_DATABASE_URL` / `database.url` is not a PostgreSQL URL. */
export class DatabaseUrlInvalid
  extends Data.TaggedError("DatabaseUrlInvalid")<{
    readonly source: string
    readonly problem: string
  }>
  implements OperatorError
{
  readonly code = "database_url_invalid"
  get hint() {
    return "write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE (or unset it to work on files only)"
  }
  override get message() {
    return `${this.source}: ${this.problem}`
  }
}

/** The database could not be reached (or migrated) when the run started. */
export class DatabaseUnreachable
  extends Data.TaggedError("DatabaseUnreachable")<{
    /** Display form of the URL: no password. */
    readonly url: string
    readonly source: string
    readonly detail: string
  }>
  implements OperatorError
{
  readonly code = "database_unreachable"
  get hint() {
    return `start PostgreSQL or fix ${this.source}; or run with --offline to work on the local files only (records are replayed into the database by the next run that reaches it)`
  }
  override get message() {
    return `cannot use the shared database ${this.url}: ${this.detail}`
  }
}

/** A database call failed after the start (the store falls back to local files where it can). */
export class DatabaseError
  extends Data.TaggedError("DatabaseError")<{
    readonly operation: string
    readonly detail: string
    /** PostgreSQL's SQLSTATE when the server answered with an error (absent: no answer, connection lost). */
    readonly sqlState?: string | undefined
  }>
  implements OperatorError
{
  readonly code = "database_error"
  get hint() {
    return "check that PostgreSQL is up and reachable; records written meanwhile stay in var/records and are replayed once it is back"
  }
  override get message() {
    return `database ${this.operation} failed: ${this.detail}`
  }
}

/** Another live process already runs this station id (two stations configured with the same id). */
export class StationIdTaken
  extends Data.TaggedError("StationIdTaken")<{
    readonly stationId: string
    readonly host: string
    readonly pid: number
    readonly lastSeenSeconds: number
  }>
  implements OperatorError
{
  readonly code = "station_id_taken"
  get hint() {
    return `give this station its own station_id in factory-config.yaml (or stop the one on ${this.host}); a station that died is free again once its heartbeat is stale`
  }
  override get message() {
    return `station "${this.stationId}" is already running on host ${this.host} (pid ${this.pid}, last seen ${this.lastSeenSeconds.toFixed(1)} s ago)`
  }
}

/**
 * The server refused this very row (SQLSTATE class 22 data exception, 23
 * integrity constraint violation): sending it again can never succeed, unlike
 * a lost connection or a server shutting down, which pass with time.
 */
export const isRowRejected = (error: DatabaseError): boolean =>
  error.sqlState !== undefined && (error.sqlState.startsWith("22") || error.sqlState.startsWith("23"))
