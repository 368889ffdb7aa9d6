// The PostgreSQL store against a real server (a throwaway cluster): schema by
// migrations, one row per board attempt, station claims, interrupted boards,
// the spool while the database is away, and the registration outbox drained
// by several stations at once while the backend flaps.
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Redacted, Schedule, Scope, Stream } from "effect"
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { startBackendSim } from "../../sim/backend/server.js"
import { BackendLive } from "../../src/factory/BackendLive.js"
import { drainOutbox, outboxDrainer } from "../../src/factory/outbox.js"
import type { Registration } from "../../src/factory/registration.js"
import { pgLayer } from "../../src/store/connect.js"
import { displayUrl, parseDatabaseUrl, resolveDatabase, withPassword } from "../../src/store/databaseUrl.js"
import * as Migrator from "@effect/sql/Migrator"
import { latestMigration, migrate, migrationSteps } from "../../src/store/migrations.js"
import { outboxEnqueue } from "../../src/store/outbox.js"
import { LINE_CHANNEL, makePgRecordStore } from "../../src/store/PgRecordStore.js"
import type { BoardRecordRow } from "../../src/store/RecordStore.js"
import { tempDir } from "../factory/support.js"
import { createLineRole, freshDatabase, usePgCluster } from "../support/pg.js"

const pg = usePgCluster()

const target = (url: string) => Effect.runSync(parseDatabaseUrl(url, "--database"))

/** Reads again (every 20 ms, at most 10 s) until `done` holds; returns what it read last. */
const until = <A, R>(read: Effect.Effect<A, unknown, R>, done: (a: A) => boolean) =>
  read.pipe(Effect.filterOrFail(done), Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 500 }))

/** A station's row as the dashboard reads it: each port's live step, and when it was last seen. */
const stationRow = (id: string) =>
  Effect.flatMap(
    PgClient.PgClient,
    (sql) =>
      sql<{
        ports: Array<{ port: string; step: string }>
        last_seen: Date
      }>`SELECT ports, last_seen FROM stations WHERE station_id = ${id}`
  ).pipe(Effect.map((rows) => rows[0]!))

const row = (n: number, over: Partial<BoardRecordRow> = {}): BoardRecordRow => ({
  attemptKey: `batch-1/s1/port${n}/1000-1`,
  batchId: "batch-1",
  stationId: "s1",
  port: `/dev/pty${n}`,
  deviceId: `esp32-00000000000${n}`,
  mac: `24:0a:c4:00:00:0${n}`,
  board: "esp32",
  platform: "esp32",
  chip: "ESP32",
  firmwareVersion: "1.0.0",
  status: "pass",
  totalSeconds: 1.5,
  flashSeconds: 1.2,
  attempts: 1,
  retries: 0,
  day: "20261205",
  startedAt: "2026-12-05T10:00:00.000Z",
  finishedAt: "2026-12-05T10:00:01.500Z",
  csvRow: `2026-12-05T10:00:01.500Z,batch-1,esp32-00000000000${n},...`,
  result: { n },
  ...over
})

// A pooled connection that died with the server fails its next query once.
const count = (table: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(table)}`.pipe(
      Effect.map((r) => r[0]!.n),
      Effect.retry({ times: 2 })
    )
  )

const withHost = <A, E, R>(host: string, effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const before = process.env.PROVISION_STATION_HOST
      process.env.PROVISION_STATION_HOST = host
      return before
    }),
    () => effect,
    (before) =>
      Effect.sync(() => (before === undefined ? delete process.env.PROVISION_STATION_HOST : (process.env.PROVISION_STATION_HOST = before)))
  )

describe("database URL", () => {
  it("keeps the password out of the display form and errors", () => {
    const t = target("postgres://line:s3cret-pw@127.0.0.1:5432/factory")
    expect(t.display).toBe("postgres://line:***@127.0.0.1:5432/factory")
    expect(Redacted.value(t.url)).toContain("s3cret-pw")
    expect(String(t.url)).not.toContain("s3cret-pw")
    expect(displayUrl("postgresql://a@h/db")).toBe("postgresql://a@h/db")
    const bad = Effect.runSync(Effect.flip(parseDatabaseUrl("mysql://u:s3cret-pw@h/db", "PROVISION_DATABASE_URL")))
    expect(bad.message).toContain("PROVISION_DATABASE_URL")
    expect(bad.message).not.toContain("s3cret-pw")
    // --database wins over the environment, which wins over the config file.
    expect(Effect.runSync(resolveDatabase({ flag: "postgres://a@f/x", env: "postgres://a@e/x", config: "postgres://a@c/x" }))?.source).toBe(
      "--database"
    )
    expect(Effect.runSync(resolveDatabase({ env: "postgres://a@e/x", config: "postgres://a@c/x" }))?.source).toBe("PROVISION_DATABASE_URL")
    expect(Effect.runSync(resolveDatabase({ config: "postgres://a@c/x", configFile: "f.yaml" }))?.source).toBe("database.url (f.yaml)")
    expect(Effect.runSync(resolveDatabase({}))).toBeUndefined()
  })

  it("takes the password from the secrets file when the URL has none (the URL's own wins); never shows it", () => {
    const secret = Redacted.make("p@ss:w/rd %41")
    const t = withPassword(target("postgres://line@db.local:5432/factory"), secret, "data/secrets.yaml")
    expect(decodeURIComponent(new URL(Redacted.value(t.url)).password)).toBe("p@ss:w/rd %41")
    expect(new URL(Redacted.value(t.url)).username).toBe("line")
    expect(t.display).toBe("postgres://line@db.local:5432/factory")
    expect(t.source).toBe("--database + database.password (data/secrets.yaml)")
    const own = withPassword(target("postgres://line:in-url@db.local/factory"), secret, "data/secrets.yaml")
    expect(Redacted.value(own.url)).toBe("postgres://line:in-url@db.local/factory")
    expect(withPassword(target("postgres://line@db.local/factory"), undefined, "x").source).toBe("--database")
  })
})

describe("PostgreSQL store (real server)", () => {
  it.live("an unreachable database is a clear error with the fix, without the password", () =>
    Effect.gen(function* () {
      const t = target(`postgres://postgres:${pg.current().password}@127.0.0.1:1/nowhere`)
      const error = yield* Effect.flip(Effect.scoped(Layer.build(pgLayer(t, { connectTimeout: "2 seconds" }))))
      expect(error._tag).toBe("DatabaseUnreachable")
      expect(error.message).toContain("postgres://postgres:***@127.0.0.1:1/nowhere")
      expect(error.message).toMatch(/ECONNREFUSED/)
      expect(error.hint).toContain("--offline")
      expect(`${error.message} ${error.hint}`).not.toContain(pg.current().password)
    })
  )

  it.live("a URL without password plus database.password from the secrets file connects; a wrong one fails without showing it", () =>
    Effect.gen(function* () {
      const cluster = pg.current()
      const url = freshDatabase(cluster)
      const database = new URL(url).pathname.slice(1)
      const password = `line p@ss:w/rd %41 ${database}`
      const role = createLineRole(cluster, database, password)
      const bare = target(`postgres://${role}@127.0.0.1:${cluster.port}/${database}`)
      const good = withPassword(bare, Redacted.make(password), "secrets.yaml")
      const one = yield* Effect.scoped(
        Effect.flatMap(PgClient.PgClient, (sql) => sql<{ user: string }>`SELECT current_user AS user`).pipe(
          Effect.provide(Layer.fresh(pgLayer(good)))
        )
      )
      expect(one[0]!.user).toBe(`${database}_line`)
      const wrong = withPassword(bare, Redacted.make("not-the-password-41"), "secrets.yaml")
      const failed = yield* Effect.flip(
        Effect.scoped(Effect.flatMap(PgClient.PgClient, (sql) => sql`SELECT 1`).pipe(Effect.provide(Layer.fresh(pgLayer(wrong)))))
      )
      expect(failed._tag).toBe("DatabaseUnreachable")
      const shown = `${failed.message} ${"hint" in failed ? failed.hint : ""} ${JSON.stringify(failed)}`
      expect(shown).toMatch(/password authentication failed/)
      expect(shown).toContain("database.password (secrets.yaml)")
      expect(shown).not.toContain("not-the-password-41")
    })
  )

  it.live("migrations create the schema once; a second start applies nothing", () =>
    Effect.gen(function* () {
      const t = target(freshDatabase(pg.current()))
      yield* Effect.gen(function* () {
        for (const table of ["stations", "batches", "board_records", "board_attempts", "registration_outbox", "run_events"])
          expect(yield* count(table)).toBe(0)
        expect(yield* migrate).toEqual([])
      }).pipe(Effect.provide(Layer.fresh(pgLayer(t))))
    })
  )

  it.live("a database one schema step behind is upgraded at start; a current one is only read", () =>
    Effect.gen(function* () {
      const url = freshDatabase(pg.current())
      const t = target(url)
      // A line that ran an older build: only the first step applied.
      yield* Migrator.make({})({ loader: Migrator.fromRecord({ "1_line_store": migrationSteps["1_line_store"] }) }).pipe(
        Effect.provide(Layer.fresh(PgClient.layer({ url: t.url })))
      )
      yield* Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        // pgLayer ran the missing steps; the functions they create are there.
        const applied = yield* sql<{ id: number }>`SELECT migration_id::int AS id FROM effect_sql_migrations ORDER BY 1`
        expect(applied.map((r) => r.id)).toEqual(Array.from({ length: latestMigration }, (_, i) => i + 1))
        const fns = yield* sql<{
          n: number
        }>`SELECT count(*)::int AS n FROM pg_proc WHERE proname IN ('provision_record', 'provision_records')`
        expect(fns[0]!.n).toBe(2)
        // Current now: a start applies nothing.
        expect(yield* migrate).toEqual([])
      }).pipe(Effect.provide(Layer.fresh(pgLayer(t))))
    })
  )

  it.live("a record is one row per board attempt: a replay of the same attempt is a no-op", () =>
    Effect.gen(function* () {
      const t = target(freshDatabase(pg.current()))
      const dir = tempDir("fp-store-")
      yield* Effect.gen(function* () {
        const store = yield* makePgRecordStore({ display: t.display, spoolFile: join(dir, "spool.jsonl") })
        yield* store.openStations([{ stationId: "s1", ports: ["/dev/pty1", "/dev/pty2"] }])
        yield* store.boardStarted({ attemptKey: row(1).attemptKey, batchId: "batch-1", stationId: "s1", port: "/dev/pty1" })
        store.stepChanged("s1", "/dev/pty1", "flash")
        store.stepChanged("s1", "/dev/pty1", "test")
        expect(yield* store.boardFinished(row(1))).toBe("stored")
        expect(yield* store.boardFinished(row(1))).toBe("stored")
        expect(yield* store.boardFinished(row(2))).toBe("stored")
        expect(yield* count("board_records")).toBe(2)
        const sql = yield* PgClient.PgClient
        const [r] = yield* sql<{ steps: Array<{ step: string }>; state: string }>`
          SELECT r.steps, a.state FROM board_records r JOIN board_attempts a USING (attempt_key) WHERE attempt_key = ${row(1).attemptKey}`
        expect(r!.state).toBe("done")
        expect(r!.steps.map((s) => s.step)).toEqual(["flash", "test"])
        const events = yield* sql<{ kind: string }>`SELECT kind FROM run_events WHERE kind = 'board_finished'`
        expect(events).toHaveLength(2)
        // Boards ending together are written together (one call, one transaction): each still one row, replays still no-ops.
        const burst = yield* Effect.all(
          [...Array.from({ length: 20 }, (_, i) => row(i + 3)), row(1), row(2), row(3)].map((r) => store.boardFinished(r)),
          { concurrency: "unbounded" }
        )
        expect(burst.every((outcome) => outcome === "stored")).toBe(true)
        expect(yield* count("board_records")).toBe(22)
        expect(yield* sql<{ kind: string }>`SELECT kind FROM run_events WHERE kind = 'board_finished'`).toHaveLength(22)
        expect(yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM board_attempts WHERE state = 'done'`).toEqual([{ n: 22 }])
      }).pipe(Effect.scoped, Effect.provide(Layer.fresh(pgLayer(t))), Effect.provide(NodeContext.layer))
    })
  )

  it.live(
    "two stations with the same id: the second is refused, naming the other host; a stopped one frees the id and its running boards show as interrupted",
    () =>
      Effect.gen(function* () {
        const t = target(freshDatabase(pg.current()))
        const dir = tempDir("fp-store-")
        const program = Effect.gen(function* () {
          const scopeA = yield* Scope.make()
          const a = yield* withHost("bench-pc-a", makePgRecordStore({ display: t.display, spoolFile: join(dir, "a.jsonl") }))
          yield* a.openStations([{ stationId: "s1", ports: ["/dev/pty1"] }]).pipe(Scope.extend(scopeA))
          yield* a.boardStarted({ attemptKey: "k-running", batchId: "b", stationId: "s1", port: "/dev/pty1" })

          const b = yield* withHost("bench-pc-b", makePgRecordStore({ display: t.display, spoolFile: join(dir, "b.jsonl") }))
          const refused = yield* Effect.flip(Effect.scoped(b.openStations([{ stationId: "s1", ports: ["/dev/ttyUSB0"] }])))
          expect(refused._tag).toBe("StationIdTaken")
          expect(refused.message).toContain('station "s1" is already running on host bench-pc-a')

          // A's process ends without finishing its board (as if killed between start and record).
          yield* Scope.close(scopeA, Exit.void)
          yield* Effect.scoped(b.openStations([{ stationId: "s1", ports: ["/dev/ttyUSB0"] }]))
          const sql = yield* PgClient.PgClient
          const [attempt] = yield* sql<{ state: string }>`SELECT state FROM board_attempts WHERE attempt_key = 'k-running'`
          expect(attempt!.state).toBe("interrupted")
          expect(yield* count("board_records")).toBe(0)
          const [station] = yield* sql<{ host: string }>`SELECT host FROM stations WHERE station_id = 's1'`
          expect(station!.host).toBe("bench-pc-b")
        })
        yield* program.pipe(Effect.scoped, Effect.provide(Layer.fresh(pgLayer(t))), Effect.provide(NodeContext.layer))
      })
  )

  it.live("a holder on this host whose process is gone (killed, heartbeat still fresh) does not block the id; a live one does", () =>
    Effect.gen(function* () {
      const t = target(freshDatabase(pg.current()))
      const dir = tempDir("fp-store-")
      // A pid that existed and has exited: a process killed a moment ago.
      const deadPid = execFileSync("sh", ["-c", "echo $$"], { encoding: "utf8" }).trim()
      const program = Effect.gen(function* () {
        const sql = yield* PgClient.PgClient
        const holder = (pid: number) =>
          sql`INSERT INTO stations (station_id, host, pid, instance, ports, last_seen) VALUES ('s1', 'bench-pc-a', ${pid}, 'earlier-run', '[]', now())
              ON CONFLICT (station_id) DO UPDATE SET pid = EXCLUDED.pid, instance = EXCLUDED.instance, last_seen = now(), stopped_at = NULL`
        // Live: this test's own parent process holds the id on this host.
        yield* holder(process.ppid)
        const store = yield* withHost("bench-pc-a", makePgRecordStore({ display: t.display, spoolFile: join(dir, "a.jsonl") }))
        const refused = yield* Effect.flip(Effect.scoped(store.openStations([{ stationId: "s1", ports: ["/dev/pty1"] }])))
        expect(refused._tag).toBe("StationIdTaken")
        expect(refused.message).toContain(`pid ${process.ppid}`)

        // Gone: the same fresh heartbeat, a pid no process has, and a board it left running.
        yield* holder(Number(deadPid))
        yield* sql`INSERT INTO board_attempts (attempt_key, batch_id, station_id, port, state, started_at) VALUES ('k-left', 'b', 's1', '/dev/pty1', 'running', now())`
        yield* Effect.scoped(store.openStations([{ stationId: "s1", ports: ["/dev/pty1"] }]))
        const [station] = yield* sql<{ pid: number }>`SELECT pid FROM stations WHERE station_id = 's1'`
        expect(station!.pid).toBe(process.pid)
        const [attempt] = yield* sql<{ state: string }>`SELECT state FROM board_attempts WHERE attempt_key = 'k-left'`
        expect(attempt!.state).toBe("interrupted")
      })
      yield* program.pipe(Effect.scoped, Effect.provide(Layer.fresh(pgLayer(t))), Effect.provide(NodeContext.layer))
    })
  )

  it.live("a spooled row the database refuses for good is set aside, kept whole; the rows behind it and a torn line are not lost", () =>
    Effect.gen(function* () {
      const t = target(freshDatabase(pg.current()))
      const dir = tempDir("fp-store-")
      const spoolFile = join(dir, "spool.jsonl")
      // 22007 invalid_datetime_format: no replay can ever write this row.
      const poisoned = row(2, { startedAt: "not a time" })
      const line = (r: BoardRecordRow) => JSON.stringify({ kind: "record", key: r.attemptKey, row: r, steps: [] })
      const torn = '{"kind":"record","key":"batch-1/s1/port9'
      writeFileSync(spoolFile, `${line(row(1))}\n${line(poisoned)}\n${torn}\n${line(row(3))}\n`)
      const notices: Array<string> = []
      yield* Effect.gen(function* () {
        const store = yield* makePgRecordStore({
          display: t.display,
          spoolFile,
          notice: (text) => Effect.sync(() => void notices.push(text))
        })
        const result = yield* store.replay
        // The torn line is no entry: it counts neither as replayed nor as waiting.
        expect(result).toMatchObject({ replayed: 2, remaining: 0, rejected: 1 })
        expect(yield* count("board_records")).toBe(2)
        const sql = yield* PgClient.PgClient
        const keys = yield* sql<{ attempt_key: string }>`SELECT attempt_key FROM board_records ORDER BY attempt_key`
        expect(keys.map((k) => k.attempt_key)).toEqual([row(1).attemptKey, row(3).attemptKey])
        // The refused row is kept whole beside the spool, with the server's reason.
        const setAside = readFileSync(result.rejectedFile!, "utf8").trim().split("\n")
        expect(setAside).toHaveLength(1)
        const kept = JSON.parse(setAside[0]!)
        expect(kept.entry.row).toEqual(poisoned)
        expect(kept.reason).toMatch(/time|date/i)
        expect(notices.some((n) => n.includes(poisoned.attemptKey) && n.includes("refused by the database"))).toBe(true)
        // The torn line is neither replayed nor dropped.
        expect(readFileSync(spoolFile, "utf8")).toBe(`${torn}\n`)
        // A refused row on the live path does not take the store offline: the next board is stored at once.
        expect(yield* store.boardFinished(row(4, { startedAt: "also not a time" }))).toBe("spooled")
        expect(yield* store.boardFinished(row(5))).toBe("stored")
        expect(notices.some((n) => n.startsWith("database lost"))).toBe(false)
      }).pipe(Effect.scoped, Effect.provide(Layer.fresh(pgLayer(t))), Effect.provide(NodeContext.layer))
    })
  )

  it.live("live state: a step change reaches the stations row by itself (no heartbeat due); an idle station keeps beating", () =>
    Effect.gen(function* () {
      const t = target(freshDatabase(pg.current()))
      const dir = tempDir("fp-store-")
      yield* Effect.gen(function* () {
        // A heartbeat that never comes due in this test: only the change itself can send the step.
        const quiet = yield* makePgRecordStore({
          display: t.display,
          spoolFile: join(dir, "a.jsonl"),
          heartbeat: "1 hour",
          liveFlush: "50 millis"
        })
        yield* quiet.openStations([{ stationId: "s1", ports: ["/dev/pty1"] }])
        const claimed = yield* stationRow("s1")
        quiet.stepChanged("s1", "/dev/pty1", "connect")
        quiet.stepChanged("s1", "/dev/pty1", "flash")
        const shown = yield* until(stationRow("s1"), (s) => s.ports[0]?.step === "flash")
        expect(shown.ports).toEqual([expect.objectContaining({ port: "/dev/pty1", step: "flash" })])
        expect(shown.last_seen.getTime()).toBeGreaterThan(claimed.last_seen.getTime())
        quiet.stepChanged("s1", "/dev/pty1", "test")
        yield* until(stationRow("s1"), (s) => s.ports[0]?.step === "test")

        // Nothing changes on this one: its heartbeat still moves last_seen, beat after beat.
        const idle = yield* makePgRecordStore({ display: t.display, spoolFile: join(dir, "b.jsonl"), heartbeat: "100 millis" })
        yield* idle.openStations([{ stationId: "s2", ports: ["/dev/pty2"] }])
        const first = yield* stationRow("s2")
        const second = yield* until(stationRow("s2"), (s) => s.last_seen > first.last_seen)
        yield* until(stationRow("s2"), (s) => s.last_seen > second.last_seen)
      }).pipe(Effect.scoped, Effect.provide(Layer.fresh(pgLayer(t))), Effect.provide(NodeContext.layer))
    })
  )

  it.live(
    "live state: a burst of step changes on every port goes out as one beat (one NOTIFY), about liveFlush after its first change",
    () =>
      Effect.gen(function* () {
        const t = target(freshDatabase(pg.current()))
        const dir = tempDir("fp-store-")
        yield* Effect.gen(function* () {
          const sql = yield* PgClient.PgClient
          const ports = (id: string) => Effect.map(stationRow(id), (row) => row.ports)
          // The dashboard's side of the channel: every notification, from LISTEN in place (a probe came through) on.
          const heard: Array<{ kind: string }> = []
          const portBeats = () => heard.filter((n) => n.kind === "ports").length
          yield* sql.listen(LINE_CHANNEL).pipe(
            Stream.runForEach((payload) => Effect.sync(() => heard.push(JSON.parse(payload)))),
            Effect.forkScoped
          )
          // (PgClient.notify sends `NOTIFY channel, $1`, which PostgreSQL refuses; pg_notify takes parameters.)
          yield* until(sql`SELECT pg_notify(${LINE_CHANNEL}, ${JSON.stringify({ kind: "probe" })})`.pipe(Effect.as(heard)), (h) =>
            h.some((n) => n.kind === "probe")
          )
          const store = yield* makePgRecordStore({ display: t.display, spoolFile: join(dir, "a.jsonl"), heartbeat: "1 hour" })
          yield* store.openStations([{ stationId: "s1", ports: ["/dev/pty1", "/dev/pty2"] }])
          // A batch's start: both ports step through connect → erase within ~100 ms.
          for (const step of ["connect", "sync", "detect", "erase"]) {
            store.stepChanged("s1", "/dev/pty1", step)
            store.stepChanged("s1", "/dev/pty2", step)
            yield* Effect.sleep("20 millis")
          }
          yield* until(ports("s1"), (p) => p.every((port) => port.step === "erase"))
          // Longer than the default flush (1 s) again: a second beat for the same burst would have come by now.
          yield* Effect.sleep("1500 millis")
          expect(portBeats()).toBe(1)
          // The next change is a beat of its own.
          store.stepChanged("s1", "/dev/pty1", "flash")
          yield* until(ports("s1"), (p) => p[0]?.step === "flash")
          yield* until(Effect.sync(portBeats), (n) => n === 2)
        }).pipe(Effect.scoped, Effect.provide(Layer.fresh(pgLayer(t))), Effect.provide(NodeContext.layer))
      })
  )

  it.live("database lost mid-batch: records go to the spool and are replayed when it is back — nothing lost, nothing doubled", () =>
    Effect.gen(function* () {
      const cluster = pg.current()
      const t = target(freshDatabase(cluster))
      const dir = tempDir("fp-store-")
      const spoolFile = join(dir, "spool.jsonl")
      yield* Effect.gen(function* () {
        const store = yield* makePgRecordStore({ display: t.display, spoolFile, heartbeat: "200 millis", callTimeout: "2 seconds" })
        yield* store.openStations([{ stationId: "s1", ports: ["/dev/pty1"] }])
        expect(yield* store.boardFinished(row(1))).toBe("stored")
        yield* Effect.sync(() => cluster.stop())
        expect(yield* store.boardFinished(row(2))).toBe("spooled")
        expect(yield* store.boardFinished(row(3))).toBe("spooled")
        expect(yield* store.boardFinished(row(1))).toBe("spooled") // a repeat of a stored attempt
        expect(yield* store.pending).toBe(3)
        yield* Effect.sync(() => cluster.start())
        // The heartbeat finds the database again and replays the spool by itself.
        yield* store.pending.pipe(Effect.repeat({ until: (n) => n === 0, schedule: Schedule.spaced("100 millis"), times: 150 }))
        expect(existsSync(spoolFile)).toBe(false)
        expect(yield* count("board_records")).toBe(3)
        expect(yield* store.boardFinished(row(4))).toBe("stored")
        expect(yield* count("board_records")).toBe(4)
      }).pipe(Effect.scoped, Effect.provide(Layer.fresh(pgLayer(t))), Effect.provide(NodeContext.layer))
    })
  )

  it.live(
    "registration outbox: four stations drain at once while the backend flaps; the backend sees each device exactly once; a station's background drainer delivers what is queued later",
    () =>
      Effect.gen(function* () {
        const t = target(freshDatabase(pg.current()))
        const token = "outbox-token-0001"
        const backend = yield* Effect.acquireRelease(
          Effect.promise(() => startBackendSim({ token })),
          (b) => Effect.promise(() => b.close())
        )
        const devices = Array.from({ length: 40 }, (_, i) => `esp32-aabbcc0000${String(i).padStart(2, "0")}`)
        const registration = (id: string): Registration => ({
          device_id: id,
          identity: { kind: "mac", value: id.slice(6) },
          platform: "esp32",
          board: "esp32",
          board_model: "ESP32-WROOM-32",
          firmware_version: "1.0.0",
          station_id: "s1",
          batch_id: "batch-1",
          device_secret: Redacted.make(`secret-${id}-0123456789abcdef0123456789`),
          provisioning_token: Redacted.make(`token-${id}-0123456789`)
        })
        const { Registration: RegistrationSchema } = yield* Effect.promise(() => import("../../src/factory/registration.js"))
        const { Schema } = yield* Effect.promise(() => import("effect"))
        const encode = Schema.encodeSync(Schema.parseJson(RegistrationSchema))
        const backendLayer = BackendLive({
          url: backend.url,
          token: Redacted.make(token),
          retries: 3,
          retryBase: "10 millis",
          timeout: "2 seconds"
        }).pipe(Layer.provide(NodeHttpClient.layer))
        yield* Effect.gen(function* () {
          yield* Effect.forEach(
            devices,
            (id) => outboxEnqueue({ deviceId: id, batchId: "batch-1", stationId: "s1", payload: encode(registration(id)) }),
            { discard: true }
          )
          // Flapping: bursts of 500s and a full outage while the drains run.
          backend.failNext(7)
          const flap = Effect.gen(function* () {
            yield* Effect.sleep("30 millis")
            yield* Effect.promise(() => backend.down())
            yield* Effect.sleep("150 millis")
            yield* Effect.promise(() => backend.up())
            backend.failNext(5)
          })
          const drains = Effect.forEach([1, 2, 3, 4], (n) => drainOutbox({ by: `station-${n}`, chunk: 3 }), { concurrency: "unbounded" })
          const [summaries] = yield* Effect.all([drains, flap], { concurrency: "unbounded" })
          // Devices a drain could not deliver during the outage stay pending; a later drain (sync) delivers them.
          const last = yield* drainOutbox({ by: "sync" })
          expect(last.remaining).toBe(0)
          const delivered = summaries.reduce((n, s) => n + s.delivered, 0) + last.delivered
          expect(delivered).toBe(devices.length)
          const attempts = backend.attempts()
          expect([...attempts.keys()].sort()).toEqual(devices)
          for (const id of devices) expect(attempts.get(id)).toBe(1)
          expect(backend.registrations()).toHaveLength(devices.length)
          const sql = yield* PgClient.PgClient
          const by = yield* sql<{ delivered_by: string }>`SELECT DISTINCT delivered_by FROM registration_outbox`
          expect(by.length).toBeGreaterThan(1)

          // A station's background drainer: nothing pending, it only looks; new entries go out on its next pass.
          const drainer = yield* outboxDrainer({
            by: "station-bg",
            fallbackFile: join(tempDir("fp-outbox-"), "q.jsonl"),
            every: "50 millis"
          }).pipe(Effect.forkScoped)
          yield* Effect.sleep("200 millis")
          expect(backend.registrations()).toHaveLength(devices.length)
          const late = ["esp32-aabbcc0000f1", "esp32-aabbcc0000f2"]
          yield* Effect.forEach(
            late,
            (id) => outboxEnqueue({ deviceId: id, batchId: "batch-1", stationId: "s1", payload: encode(registration(id)) }),
            { discard: true }
          )
          // Done when the pass that sent them has committed (the backend sees a device before its row is marked).
          const deliveredByDrainer = sql<{
            n: number
          }>`SELECT count(*)::int AS n FROM registration_outbox WHERE delivered_by = 'station-bg'`.pipe(Effect.map((rows) => rows[0]!.n))
          yield* deliveredByDrainer.pipe(
            Effect.repeat({ until: (n) => n === late.length, schedule: Schedule.spaced("50 millis") }),
            Effect.timeout("5 seconds")
          )
          yield* Fiber.interrupt(drainer)
          for (const id of late) expect(backend.attempts().get(id)).toBe(1)
          expect(backend.registrations()).toHaveLength(devices.length + late.length)

          // A station as `provision flash` runs it: a pool of one connection, and its drainer delivering on a
          // connection of its own. While a slow backend holds the delivery (and its transaction), the station's
          // connection still answers: its SELECT comes back before the backend has taken the device.
          const station = yield* Layer.build(Layer.fresh(pgLayer(t, { maxConnections: 1 })))
          const slow = "esp32-aabbcc0000f3"
          yield* outboxEnqueue({ deviceId: slow, batchId: "batch-1", stationId: "s1", payload: encode(registration(slow)) })
          backend.setDelay(1500)
          const requestsBefore = backend.requestCount()
          const stationDrainer = yield* outboxDrainer({
            by: "station-one",
            fallbackFile: join(tempDir("fp-outbox-"), "q.jsonl"),
            every: "50 millis",
            deliverOn: pgLayer(t, { maxConnections: 1, migrate: false, applicationName: "provision outbox" })
          }).pipe(Effect.provide(station), Effect.forkScoped)
          yield* until(
            Effect.sync(() => backend.requestCount()),
            (n) => n > requestsBefore
          )
          const heldBy = yield* sql<{
            n: number
          }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'provision outbox' AND state = 'idle in transaction'`
          expect(heldBy[0]!.n).toBe(1)
          const answered = yield* Effect.flatMap(PgClient.PgClient, (own) => own<{ one: number }>`SELECT 1 AS one`).pipe(
            Effect.provide(station)
          )
          expect(answered[0]!.one).toBe(1)
          expect(backend.attempts().get(slow)).toBeUndefined()
          yield* until(
            Effect.sync(() => backend.attempts().get(slow)),
            (n) => n === 1
          )
          yield* Fiber.interrupt(stationDrainer)
          backend.setDelay(0)
        }).pipe(Effect.provide(Layer.mergeAll(Layer.fresh(pgLayer(t)), backendLayer, NodeContext.layer)))
      }).pipe(Effect.scoped)
  )
})
