/**
 * The shared store on PostgreSQL (see RecordStore.ts for the contract).
 *
 * - A board's record is one transaction: the record row (unique per board
 *   attempt: `ON CONFLICT DO NOTHING`, so a replay is a no-op), its attempt
 *   marked done, a run event, and a NOTIFY for the live dashboard.
 * - When a write fails the store goes offline: records go to the local spool
 *   at once (boards never wait on a dead database); the heartbeat keeps
 *   trying, and the first one that reaches the database replays the spool.
 * - Stations register with host, pid and a per-process instance id; a live
 *   process holding the same station id (fresh heartbeat) refuses the start.
 */
import { PgClient } from "@effect/sql-pg"
import { Clock, Duration, Effect, Either, Fiber, Ref, type Scope } from "effect"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { DatabaseError, isRowRejected, StationIdTaken } from "../domain/errors/store.js"
import { makeCoalescer } from "./coalesce.js"
import { causeText, sqlStateOf } from "./connect.js"
import type { BatchEnd, BatchStart, BoardRecordRow, RecordOutcome, RecordStoreService, StationClaim, StepTiming } from "./RecordStore.js"
import { makeSpool, type SpoolEntry } from "./spool.js"

/** NOTIFY channel the dashboard listens on. */
export const LINE_CHANNEL = "provision_line"

export interface PgStoreOptions {
  /** The display form of the URL (for `label`). */
  readonly display: string
  /** Local spool file (var/records/db-spool.jsonl). */
  readonly spoolFile: string
  readonly heartbeat?: Duration.DurationInput
  /** Per database call. */
  readonly callTimeout?: Duration.DurationInput
  /** A station whose heartbeat is older than this is no longer live. */
  readonly staleAfter?: Duration.DurationInput
  /** Record writes running at once (records ending meanwhile are written together); default 2. */
  readonly writers?: number
  /** How long a change of the live state (steps, finished boards) waits for more before it is pushed to the dashboard; default 1 s. */
  readonly liveFlush?: Duration.DurationInput
  /** Log lines for the operator (database lost / back / replayed). */
  readonly notice?: (text: string) => Effect.Effect<void>
}

/** The name this machine shows in `provision stations` (PROVISION_STATION_HOST overrides the hostname). */
export const stationHost = (): string => process.env.PROVISION_STATION_HOST?.trim() || hostname()

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code === "EPERM"
  }
}

interface PortState {
  step: string
  since: number
  board?: { startedAt: number; steps: Array<StepTiming> } | undefined
  /** The board's "running" row on its way (written beside the board's first steps; joined before its record). */
  startRow?: Fiber.RuntimeFiber<void> | undefined
}

export const makePgRecordStore = (options: PgStoreOptions) =>
  Effect.gen(function* () {
    const sql = yield* PgClient.PgClient
    const spool = yield* makeSpool(options.spoolFile)
    const instance = randomUUID()
    const host = stationHost()
    const heartbeat = Duration.decode(options.heartbeat ?? Duration.seconds(5))
    const staleMs = Duration.toMillis(options.staleAfter ?? Duration.times(heartbeat, 3))
    const callTimeout = Duration.decode(options.callTimeout ?? Duration.seconds(3))
    const liveFlush = Duration.decode(options.liveFlush ?? Duration.seconds(1))
    const notice = options.notice ?? (() => Effect.void)
    const online = yield* Ref.make(true)
    const claimed = yield* Ref.make<ReadonlyArray<StationClaim>>([])
    const currentBatch = new Map<string, string>()
    /** station → port → live step */
    const live = new Map<string, Map<string, PortState>>()
    let dirty = false
    /** Open while the live state has changes the database has not had (the beat loop waits on it). */
    const changed = yield* Effect.makeLatch(false)
    const markDirty = () => {
      dirty = true
      changed.unsafeOpen()
    }
    /** Something went into the spool since the last replay started. */
    let spoolDirty = false
    const counters = { stored: 0, spooled: 0, boards: 0, boardPathMs: 0 }
    /** The batch-start row on its way (see batchStarted). */
    let batchStartWrite: Fiber.RuntimeFiber<void> | undefined

    /** A database call with a deadline; its failure in words (StationIdTaken passes through). */
    const call = <A, E, R>(operation: string, effect: Effect.Effect<A, E, R>) =>
      effect.pipe(
        // A transaction whose connection died fails its ROLLBACK as a defect: still just "database away".
        Effect.catchAllDefect((defect) => Effect.fail(new DatabaseError({ operation, detail: causeText(defect) }))),
        Effect.timeoutFail({
          duration: callTimeout,
          onTimeout: () => new DatabaseError({ operation, detail: `no answer within ${Duration.format(callTimeout)}` })
        }),
        Effect.mapError((error): Exclude<E, { readonly _tag: "SqlError" }> | DatabaseError =>
          error instanceof DatabaseError || (error as { _tag?: string })._tag === "StationIdTaken"
            ? (error as Exclude<E, { readonly _tag: "SqlError" }>)
            : new DatabaseError({ operation, detail: causeText(error), sqlState: sqlStateOf(error) })
        )
      )

    const goOffline = (error: DatabaseError) =>
      Ref.getAndSet(online, false).pipe(
        Effect.flatMap((was) =>
          was ? notice(`database lost (${error.detail}); records go to ${options.spoolFile} and are replayed when it is back`) : Effect.void
        )
      )

    const portsState = (stationId: string, ports: ReadonlyArray<string>) => {
      const states = live.get(stationId)
      return ports.map((port) => {
        const s = states?.get(port)
        return { port, step: s?.step ?? "idle", since: s ? new Date(s.since).toISOString() : null }
      })
    }
    const portsJson = (stationId: string, ports: ReadonlyArray<string>) => JSON.stringify(portsState(stationId, ports))

    const notify = (payload: Record<string, unknown>) => sql`SELECT pg_notify(${LINE_CHANNEL}, ${JSON.stringify(payload)})`

    // ── records ────────────────────────────────────────────────────────────
    /**
     * One call of `provision_record` (migrations.ts): one round trip, one
     * transaction — the record (a replay of the same attempt is a no-op), its
     * attempt marked done, a run event when the record is new. No NOTIFY here:
     * PostgreSQL serialises every notifying transaction through one lock held
     * across its commit flush, which would undo group commit for all stations;
     * the dashboard hears about the board from this station's next live-state
     * flush (about `liveFlush`, `dirty`).
     */
    const recordItem = (row: BoardRecordRow, steps: ReadonlyArray<StepTiming>) => {
      const rec = {
        attempt_key: row.attemptKey,
        batch_id: row.batchId,
        station_id: row.stationId,
        port: row.port,
        device_id: row.deviceId ?? null,
        mac: row.mac ?? null,
        board: row.board,
        platform: row.platform,
        chip: row.chip ?? null,
        firmware_version: row.firmwareVersion,
        status: row.status,
        error_code: row.errorCode ?? null,
        failure_step: row.failureStep ?? null,
        registration: row.registration ?? null,
        flash_s: row.flashSeconds ?? null,
        total_s: row.totalSeconds,
        attempts: row.attempts,
        retries: row.retries,
        steps,
        day: row.day,
        started_at: row.startedAt,
        finished_at: row.finishedAt,
        csv_row: row.csvRow,
        result: row.result
      }
      const detail = {
        attempt_key: row.attemptKey,
        device_id: row.deviceId ?? null,
        port: row.port,
        status: row.status,
        error_code: row.errorCode ?? null
      }
      return { rec, detail }
    }
    const writeRecord = (row: BoardRecordRow, steps: ReadonlyArray<StepTiming>) => {
      const { rec, detail } = recordItem(row, steps)
      return sql<{
        inserted: boolean
      }>`SELECT provision_record(${JSON.stringify(rec)}::jsonb, ${JSON.stringify(detail)}::jsonb) AS inserted`.pipe(
        Effect.map((rows) => rows[0]?.inserted === true)
      )
    }
    /**
     * Records that end while another write is on its way go together in one
     * `provision_records` call (one transaction; each record still all or
     * nothing, a replay still a no-op). When such a call fails, each record is
     * tried alone, so one bad row never takes the others to the spool.
     */
    type RecordItem = { readonly row: BoardRecordRow; readonly steps: ReadonlyArray<StepTiming> }
    const writeOne = (item: RecordItem) => call("record", writeRecord(item.row, item.steps)).pipe(Effect.either)
    const records = yield* makeCoalescer<RecordItem, boolean, DatabaseError>({
      writers: options.writers ?? 2,
      max: 64,
      write: (items) =>
        Effect.gen(function* () {
          if (items.length === 1) return [yield* writeOne(items[0]!)]
          const together = yield* call(
            "record",
            sql<{ key: string }>`SELECT provision_records(${JSON.stringify(items.map((i) => recordItem(i.row, i.steps)))}::jsonb) AS key`
          ).pipe(Effect.either)
          if (Either.isRight(together)) {
            const fresh = new Set(together.right.map((r) => r.key))
            return items.map((i) => Either.right(fresh.has(i.row.attemptKey)))
          }
          return yield* Effect.forEach(items, writeOne)
        })
    })

    /**
     * A batch's start or end for each of its stations, with their run events
     * and the dashboard's NOTIFY: one statement (data-modifying CTEs run once
     * and together, in the statement's own transaction), so one round trip
     * where a BEGIN … COMMIT took five, at the moment a station's boards start.
     */
    const writeBatch = (entry: {
      readonly batchId: string
      readonly stationIds: ReadonlyArray<string>
      readonly configFile?: string
      readonly requested?: number
      readonly startedAt?: string
      readonly finishedAt?: string
      readonly report?: unknown
    }) =>
      sql`WITH s AS (SELECT value AS station_id FROM jsonb_array_elements_text(${JSON.stringify(entry.stationIds)}::jsonb)),
          b AS (
            INSERT INTO batches (batch_id, station_id, config_file, requested, started_at, finished_at, report)
            SELECT ${entry.batchId}, s.station_id, ${entry.configFile ?? ""}, ${entry.requested ?? 0},
              ${entry.startedAt ?? entry.finishedAt ?? new Date().toISOString()}::timestamptz, ${entry.finishedAt ?? null}::timestamptz,
              ${entry.report === undefined ? null : JSON.stringify(entry.report)}::jsonb
            FROM s
            ON CONFLICT (batch_id, station_id) DO UPDATE SET
              finished_at = COALESCE(EXCLUDED.finished_at, batches.finished_at),
              report = COALESCE(EXCLUDED.report, batches.report)
            RETURNING 1),
          e AS (
            INSERT INTO run_events (station_id, batch_id, kind)
            SELECT s.station_id, ${entry.batchId}, ${entry.finishedAt ? "batch_finished" : "batch_started"} FROM s
            RETURNING 1)
        SELECT pg_notify(${LINE_CHANNEL}, ${JSON.stringify({ kind: "batch", batch_id: entry.batchId })}), (SELECT count(*) FROM b), (SELECT count(*) FROM e)`

    const replay = Effect.gen(function* () {
      // Cleared before reading: an entry appended from here on is seen by the next replay.
      spoolDirty = false
      const entries = yield* spool.entries
      const done = new Set<string>()
      let rejected = 0
      let failure: DatabaseError | undefined
      for (const entry of entries) {
        const written = yield* call("replay", writeSpooled(entry)).pipe(Effect.either)
        if (written._tag === "Left" && isRowRejected(written.left)) {
          // A row the server refuses for good would stop every replay behind it
          // (the store would never come back online): it is set aside, kept whole.
          const setAside = yield* spool.reject(entry, written.left.detail).pipe(Effect.either)
          if (setAside._tag === "Left") {
            failure = setAside.left
            break
          }
          yield* notice(
            `spooled ${entry.kind} ${entry.key} refused by the database (${written.left.detail}); kept in ${spool.rejectedFile}, the replay goes on`
          )
          rejected += 1
        } else if (written._tag === "Left") {
          failure = written.left
          break
        }
        done.add(entry.key)
      }
      if (done.size > 0) {
        yield* spool.remove(done)
        if (done.size > rejected) yield* notice(`replayed ${done.size - rejected} spooled record(s) into the database`)
      }
      if (failure) {
        spoolDirty = true
        return yield* Effect.fail(failure)
      }
      return { replayed: done.size - rejected, remaining: entries.length - done.size, rejected, rejectedFile: spool.rejectedFile }
    })

    const writeSpooled = (entry: SpoolEntry) =>
      entry.kind === "record"
        ? Effect.asVoid(writeRecord(entry.row as BoardRecordRow, entry.steps as ReadonlyArray<StepTiming>))
        : Effect.asVoid(writeBatch(entry.batch as Parameters<typeof writeBatch>[0]))

    /** Back online: replay first, so the spool keeps its order before new writes. */
    const tryOnline = Effect.gen(function* () {
      const result = yield* replay.pipe(Effect.either)
      if (result._tag === "Left") return false
      const was = yield* Ref.getAndSet(online, true)
      if (!was) yield* notice("database is back")
      return true
    })

    const spoolOrWrite = (entry: SpoolEntry, operation: string): Effect.Effect<RecordOutcome> =>
      Effect.gen(function* () {
        if (yield* Ref.get(online)) {
          const written = yield* (
            entry.kind === "record"
              ? records.submit({ row: entry.row as BoardRecordRow, steps: entry.steps as ReadonlyArray<StepTiming> })
              : call(operation, writeSpooled(entry))
          ).pipe(Effect.either)
          if (written._tag === "Right") return "stored" as const
          // A refused row is not a lost database: the store stays online; the
          // row waits in the spool, and the next replay sets it aside.
          if (!isRowRejected(written.left)) yield* goOffline(written.left)
        }
        const spooled = yield* spool.append(entry).pipe(Effect.either)
        // A write that failed just before a replay brought the store back online must not stay behind.
        spoolDirty = true
        if (spooled._tag === "Left") yield* notice(`cannot keep the record in the spool: ${spooled.left.message}`)
        return "spooled" as const
      })

    // ── stations ───────────────────────────────────────────────────────────
    /**
     * One round trip (`provision_claim_station`, migrations.ts): the id is this
     * process's unless another live process holds it. A holder on this host
     * whose pid is gone (killed before its heartbeat went stale) does not count:
     * the claim is asked again, naming that pid.
     */
    const claimOne = (claim: StationClaim) =>
      Effect.gen(function* () {
        const attempt = (deadPid: number | null) =>
          sql<{ taken: boolean; holder_host: string; holder_pid: number; age_ms: number; interrupted: number }>`
            SELECT * FROM provision_claim_station(${claim.stationId}, ${host}, ${process.pid}, ${instance},
              ${portsJson(claim.stationId, claim.ports)}::jsonb, ${staleMs}, ${deadPid}, ${LINE_CHANNEL})`.pipe(
            Effect.map((rows) => rows[0]!)
          )
        let result = yield* attempt(null)
        if (result.taken && result.holder_host === host && !pidAlive(result.holder_pid)) result = yield* attempt(result.holder_pid)
        if (result.taken)
          return yield* new StationIdTaken({
            stationId: claim.stationId,
            host: result.holder_host,
            pid: result.holder_pid,
            lastSeenSeconds: result.age_ms / 1000
          })
        return result.interrupted
      })

    const beat = Effect.gen(function* () {
      const claims = yield* Ref.get(claimed)
      if ((!(yield* Ref.get(online)) || spoolDirty) && !(yield* tryOnline)) return
      const wasDirty = dirty
      dirty = false
      // All of this process's stations in one statement (one commit); the NOTIFY rides along only when something changed.
      // Live state commits asynchronously (synchronous_commit off for this transaction only): a heartbeat lost in a
      // server crash is rewritten by the next one, and a notifying commit holds PostgreSQL's global NOTIFY lock, so
      // waiting for its WAL flush there would serialise every station's beat behind the disk. Records, batches and
      // the outbox keep the server's durable default.
      const states = JSON.stringify(
        claims.map((c) => ({
          station_id: c.stationId,
          ports: portsState(c.stationId, c.ports),
          current_batch: currentBatch.get(c.stationId) ?? null
        }))
      )
      const result = yield* call(
        "heartbeat",
        sql`WITH beat AS (
              UPDATE stations s SET last_seen = now(), ports = b.ports, current_batch = b.current_batch
              FROM jsonb_to_recordset(${states}::jsonb) AS b(station_id text, ports jsonb, current_batch text)
              WHERE s.station_id = b.station_id AND s.instance = ${instance}
              RETURNING 1)
            SELECT set_config('synchronous_commit', 'off', true),
              CASE WHEN ${wasDirty} THEN pg_notify(${LINE_CHANNEL}, ${JSON.stringify({ kind: "ports" })}) END,
              (SELECT count(*) FROM beat)`
      ).pipe(Effect.either)
      if (result._tag === "Left") {
        if (wasDirty) markDirty()
        yield* goOffline(result.left)
      }
    })

    /**
     * One fiber for the heartbeat and the live state. Idle, it sleeps until the
     * live state changes or `heartbeat` has passed since the last beat: no
     * polling. A change is not sent at once: the fiber waits `liveFlush` first,
     * so a burst of step changes (a board's connect, sync, detect and erase come
     * within a second, and every port of a station starts together) goes out as
     * one beat, and the dashboard still sees a step within about `liveFlush`.
     * Every beat wakes the station, the server and its WAL writer on a machine
     * that is flashing boards; in `npm run bench:stations` (a) the beats were
     * most of what the database added to a board's cycle. A change-driven beat
     * is also the heartbeat. The claim has just set last_seen, so the first beat
     * waits for a change or one interval. While the database is away only the
     * heartbeat comes round (each tries to reconnect), not every step change.
     */
    const beatLoop = Effect.gen(function* () {
      const heartbeatMs = Duration.toMillis(heartbeat)
      let lastBeat = yield* Clock.currentTimeMillis
      const untilHeartbeatMs = Effect.map(Clock.currentTimeMillis, (now) => heartbeatMs - (now - lastBeat))
      while (true) {
        const due = yield* untilHeartbeatMs
        if (due > 0) {
          const untilDue = Effect.sleep(Duration.millis(due))
          if (!(yield* Ref.get(online))) yield* untilDue
          else if (yield* Effect.raceFirst(Effect.as(changed.await, true), Effect.as(untilDue, false))) {
            // The rest of the burst joins this beat (never later than the heartbeat is due anyway).
            const left = yield* untilHeartbeatMs
            yield* Effect.sleep(Duration.millis(Math.max(0, Math.min(Duration.toMillis(liveFlush), left))))
          }
        }
        // Closed before the beat reads `dirty`: a change during the beat opens it again for the next one.
        changed.unsafeClose()
        lastBeat = yield* Clock.currentTimeMillis
        yield* beat
      }
    })

    const openStations = (stations: ReadonlyArray<StationClaim>): Effect.Effect<void, StationIdTaken | DatabaseError, Scope.Scope> =>
      Effect.gen(function* () {
        for (const claim of stations) {
          const interrupted = yield* call(`registering station ${claim.stationId}`, claimOne(claim))
          if (interrupted > 0)
            yield* notice(`station ${claim.stationId}: ${interrupted} board(s) of its previous run were interrupted (no record)`)
        }
        yield* Ref.set(claimed, stations)
        // A spool left by an earlier run goes in now.
        yield* replay.pipe(Effect.ignore)
        const beats = yield* beatLoop.pipe(Effect.forkScoped)
        yield* Effect.addFinalizer(() =>
          Effect.gen(function* () {
            yield* Fiber.interrupt(beats)
            // A board's "running" row still on its way lands before the stop marks the station's running boards.
            for (const [, ports] of live) for (const [, state] of ports) if (state.startRow) yield* Fiber.await(state.startRow)
            if (batchStartWrite !== undefined) yield* Fiber.await(batchStartWrite)
            for (const [, ports] of live) ports.clear()
            yield* call(
              "station stop",
              Effect.forEach(
                stations,
                (c) =>
                  sql`UPDATE stations SET stopped_at = now(), last_seen = now(), current_batch = NULL, ports = ${portsJson(c.stationId, c.ports)}::jsonb WHERE station_id = ${c.stationId} AND instance = ${instance}`,
                { discard: true }
              ).pipe(Effect.zipRight(notify({ kind: "station" })))
            ).pipe(Effect.ignore)
          })
        )
      })

    const portState = (stationId: string, port: string): PortState => {
      let ports = live.get(stationId)
      if (!ports) live.set(stationId, (ports = new Map()))
      let state = ports.get(port)
      if (!state) ports.set(port, (state = { step: "idle", since: Date.now() }))
      return state
    }

    const service: RecordStoreService = {
      kind: "postgres",
      label: options.display,
      openStations,
      batchStarted: (batch: BatchStart) =>
        Effect.gen(function* () {
          for (const id of batch.stationIds) currentBatch.set(id, batch.batchId)
          markDirty()
          // Written beside the batch's first boards, not before them: its commit carries a NOTIFY, and PostgreSQL
          // serialises notifying commits, so stations starting together would wait on each other's disk flush.
          // A child of the batch's fiber, joined before the batch end is written (and before a station stops).
          batchStartWrite = yield* Effect.fork(
            spoolOrWrite(
              {
                kind: "batch",
                key: `batch-start/${batch.batchId}/${instance}`,
                batch: {
                  batchId: batch.batchId,
                  stationIds: batch.stationIds,
                  configFile: batch.configFile,
                  requested: batch.requested,
                  startedAt: batch.startedAt.toISOString()
                }
              },
              "batch start"
            ).pipe(Effect.asVoid)
          )
        }),
      boardStarted: (attempt) =>
        Effect.gen(function* () {
          const state = portState(attempt.stationId, attempt.port)
          const now = yield* Clock.currentTimeMillis
          state.board = { startedAt: now, steps: [] }
          if (!(yield* Ref.get(online))) return
          // The "running" row commits while the board connects and flashes (seconds), not before: the board does
          // not wait for it. It is a child of the board's fiber (gone with it) and joined before the board's record,
          // so the two stay in order; a station killed mid-board has long committed it (shown as interrupted).
          state.startRow = yield* Effect.fork(
            call(
              "board start",
              sql`INSERT INTO board_attempts (attempt_key, batch_id, station_id, port, state, started_at)
                  VALUES (${attempt.attemptKey}, ${attempt.batchId}, ${attempt.stationId}, ${attempt.port}, 'running', now())
                  ON CONFLICT (attempt_key) DO NOTHING`
            ).pipe(Effect.asVoid, Effect.catchAll(goOffline))
          )
        }),
      stepChanged: (stationId, port, step) => {
        const state = portState(stationId, port)
        if (state.step === step) return
        const now = Date.now()
        if (state.board && state.step !== "idle") state.board.steps.push({ step: state.step, ms: now - state.since })
        state.step = step
        state.since = now
        markDirty()
      },
      boardFinished: (row) =>
        Effect.gen(function* () {
          const state = portState(row.stationId, row.port)
          if (state.startRow !== undefined) {
            // Only what is left of the start row's commit counts against the board (usually nothing).
            const [waited] = yield* Effect.timed(Fiber.join(state.startRow))
            counters.boardPathMs += Duration.toMillis(waited)
            state.startRow = undefined
          }
          const now = yield* Clock.currentTimeMillis
          const steps = state.board
            ? [...state.board.steps, ...(state.step !== "idle" ? [{ step: state.step, ms: now - state.since }] : [])]
            : []
          state.board = undefined
          state.step = row.status === "pass" ? "done: pass" : `done: fail ${row.errorCode ?? ""}`.trim()
          state.since = now
          markDirty()
          const [took, outcome] = yield* Effect.timed(spoolOrWrite({ kind: "record", key: row.attemptKey, row, steps }, "record"))
          counters.boards += 1
          counters.boardPathMs += Duration.toMillis(took)
          if (outcome === "stored") counters.stored += 1
          else counters.spooled += 1
          return outcome
        }),
      batchFinished: (batch: BatchEnd) =>
        Effect.gen(function* () {
          if (batchStartWrite !== undefined) yield* Fiber.await(batchStartWrite)
          batchStartWrite = undefined
          for (const id of batch.stationIds) currentBatch.delete(id)
          markDirty()
          yield* spoolOrWrite(
            {
              kind: "batch",
              key: `batch-end/${batch.batchId}/${instance}`,
              batch: {
                batchId: batch.batchId,
                stationIds: batch.stationIds,
                finishedAt: batch.finishedAt.toISOString(),
                report: batch.report
              }
            },
            "batch end"
          )
          // Last chance to empty the spool before the process ends.
          if (!(yield* Ref.get(online)) || spoolDirty) yield* tryOnline
        }),
      stats: Effect.sync(() => ({ ...counters })),
      spoolFile: options.spoolFile,
      pendingRecords: spool.entries.pipe(
        Effect.map((e) => e.filter((entry) => entry.kind === "record").length),
        Effect.orElseSucceed(() => 0)
      ),
      pending: spool.entries.pipe(
        Effect.map((e) => e.length),
        Effect.orElseSucceed(() => 0)
      ),
      replay: replay.pipe(
        Effect.tap(() => Ref.set(online, true)),
        Effect.catchAll(() =>
          spool.entries.pipe(
            Effect.map((e) => ({ replayed: 0, remaining: e.length, rejected: 0 })),
            Effect.orElseSucceed(() => ({ replayed: 0, remaining: 0, rejected: 0 }))
          )
        )
      )
    }
    return service
  })
