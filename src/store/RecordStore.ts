/**
 * Where a finished board's record goes besides the station's own files.
 *
 * The station always writes the seed's files (CSV per day, JSON batch report,
 * log) itself; the RecordStore is the shared copy. `FileRecordStore` is the
 * embedded default: files only, nothing shared (today's behaviour).
 * `PgRecordStore` (PgRecordStore.ts) writes every record into PostgreSQL in
 * one transaction, registers and heartbeats the stations, and keeps what it
 * cannot write in a local spool until the database is back.
 *
 * The store knows rows, not boards: the factory maps a board result onto a
 * `BoardRecordRow` (factory/storeRecord.ts), so the import direction stays
 * factory → store.
 */
import { Context, Effect, type Scope } from "effect"
import type { DatabaseError, StationIdTaken } from "../domain/errors/store.js"

export interface BoardRecordRow {
  /** Unique per board attempt: a replay of the same attempt is a no-op. */
  readonly attemptKey: string
  readonly batchId: string
  readonly stationId: string
  readonly port: string
  readonly deviceId?: string | undefined
  readonly mac?: string | undefined
  readonly board: string
  readonly platform: string
  readonly chip?: string | undefined
  readonly firmwareVersion: string
  readonly status: string
  readonly errorCode?: string | undefined
  readonly failureStep?: string | undefined
  readonly registration?: string | undefined
  readonly flashSeconds?: number | undefined
  readonly totalSeconds: number
  readonly attempts: number
  readonly retries: number
  /** `YYYYMMDD` of the CSV file the row went into. */
  readonly day: string
  readonly startedAt: string
  readonly finishedAt: string
  /** The exact CSV line the station wrote (export reproduces the file). */
  readonly csvRow: string
  /** The whole board result as JSON (no secrets). */
  readonly result: unknown
}

export interface StepTiming {
  readonly step: string
  readonly ms: number
}

export interface StationClaim {
  readonly stationId: string
  readonly ports: ReadonlyArray<string>
}

export interface BatchStart {
  readonly batchId: string
  readonly stationIds: ReadonlyArray<string>
  readonly configFile: string
  readonly requested: number
  readonly startedAt: Date
}

export interface BatchEnd {
  readonly batchId: string
  readonly stationIds: ReadonlyArray<string>
  readonly finishedAt: Date
  /** The station's JSON batch report. */
  readonly report: unknown
}

/** What this process's store did with its boards so far. */
export interface StoreStats {
  /** Records committed to the database. */
  readonly stored: number
  /** Records kept in the local spool (database away). */
  readonly spooled: number
  /** Boards that went through boardStarted/boardFinished. */
  readonly boards: number
  /** Time the boards' own path spent in the store (board start + record), summed over boards. */
  readonly boardPathMs: number
}

/** What became of a record: in the database, in the local spool (database away), or files only. */
export type RecordOutcome = "stored" | "spooled" | "files"

export interface RecordStoreService {
  readonly kind: "files" | "postgres"
  /** For the operator: `files` or the database URL without its password. */
  readonly label: string
  /** Registers these stations for this process and heartbeats them until the scope closes. */
  readonly openStations: (stations: ReadonlyArray<StationClaim>) => Effect.Effect<void, StationIdTaken | DatabaseError, Scope.Scope>
  readonly batchStarted: (batch: BatchStart) => Effect.Effect<void>
  readonly boardStarted: (attempt: {
    readonly attemptKey: string
    readonly batchId: string
    readonly stationId: string
    readonly port: string
  }) => Effect.Effect<void>
  /** The port's pipeline moved to another step (live view and step timings); never blocks. */
  readonly stepChanged: (stationId: string, port: string, step: string) => void
  /** Never fails: what cannot reach the database goes to the spool. */
  readonly boardFinished: (row: BoardRecordRow) => Effect.Effect<RecordOutcome>
  readonly batchFinished: (batch: BatchEnd) => Effect.Effect<void>
  readonly stats: Effect.Effect<StoreStats>
  /** The local spool file (records kept while the database is away); undefined for files. */
  readonly spoolFile: string | undefined
  /** Board records in the local spool, not yet in the database. */
  readonly pendingRecords: Effect.Effect<number>
  /** Spooled records and registrations not yet in the database. */
  readonly pending: Effect.Effect<number>
  /** Writes the spool into the database now (no-op for files). */
  /** Written in, still waiting, and refused for good (set aside in `rejectedFile`, see spool.ts). */
  readonly replay: Effect.Effect<{
    readonly replayed: number
    readonly remaining: number
    readonly rejected: number
    readonly rejectedFile?: string | undefined
  }>
}

export class RecordStore extends Context.Tag("fleet-provision/RecordStore")<RecordStore, RecordStoreService>() {}

/** Files only: the station's CSV/JSON/log are the whole record (the embedded default). */
export const FileRecordStore: RecordStoreService = {
  kind: "files",
  label: "files",
  openStations: () => Effect.void,
  batchStarted: () => Effect.void,
  boardStarted: () => Effect.void,
  stepChanged: () => {},
  boardFinished: () => Effect.succeed("files"),
  batchFinished: () => Effect.void,
  stats: Effect.succeed({ stored: 0, spooled: 0, boards: 0, boardPathMs: 0 }),
  spoolFile: undefined,
  pendingRecords: Effect.succeed(0),
  pending: Effect.succeed(0),
  replay: Effect.succeed({ replayed: 0, remaining: 0, rejected: 0 })
}
