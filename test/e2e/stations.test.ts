// Many stations, one PostgreSQL (a real throwaway cluster): `provision flash`
// processes on emulated boards writing into one database, `provision
// stations`, `provision report export`, and the faults of issue 15 — database
// unreachable at start, lost mid-batch, a station SIGKILLed mid-board, two
// stations with the same id.
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Schedule } from "effect"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { emulatedLine, type EmulatedLineSpec } from "../../src/cli/demo/factoryLine.js"
import { tempDir } from "../factory/support.js"
import { createLineRole, freshDatabase, usePgCluster } from "../support/pg.js"

const BIN = resolve("bin/provision.mjs")
const pg = usePgCluster()

interface Run {
  readonly child: ChildProcess
  readonly done: Promise<{ code: number; stdout: string; stderr: string }>
}

/** Starts the CLI (the emulators live in this process's event loop, so never block it). */
const start = (cwd: string, args: ReadonlyArray<string>, env: Record<string, string> = {}): Run => {
  const child = spawn("node", [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()))
  const timer = setTimeout(() => child.kill("SIGKILL"), 90_000)
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolveRun) =>
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolveRun({ code: code ?? (signal ? 128 : 70), stdout, stderr })
    })
  )
  return { child, done }
}
const provision = (cwd: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.promise(() => start(cwd, args, env).done)

/** psql against the test cluster's socket (trust as postgres locally). */
const query = (url: string, text: string): string => {
  const cluster = pg.current()
  const database = new URL(url).pathname.slice(1)
  return execFileSync(
    "runuser",
    ["-u", "postgres", "--", "psql", "-h", cluster.dir, "-p", String(cluster.port), "-d", database, "-At", "-c", text],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }
  ).trim()
}
const countOf = (url: string, text: string) => Number(query(url, text))
/** -1 while the station has not created the schema yet (or the server is down). */
const countSoFar = (url: string, text: string) => {
  try {
    return countOf(url, text)
  } catch {
    return -1
  }
}

const waitFor = (what: string, check: () => boolean) =>
  Effect.suspend(() => (check() ? Effect.void : Effect.fail(what))).pipe(
    Effect.retry(Schedule.spaced(Duration.millis(100)).pipe(Schedule.intersect(Schedule.recurs(1200)))),
    Effect.orDie
  )

const esp32 = (n: number, faults: ReadonlyArray<string> = []) => ({
  chip: "esp32" as const,
  mac: `24:0a:c4:50:00:${String(n).padStart(2, "0")}`,
  faults
})

const line = (root: string, stations: EmulatedLineSpec["stations"], appSize = 256 * 1024, heartbeat = 0.5) =>
  emulatedLine({ dir: root, appSize, stations, configPatch: (c) => ({ ...c, database: { heartbeat_s: heartbeat } }) })

const csvRows = (root: string) =>
  readdirSync(join(root, "var/records"))
    .filter((f) => /^factory_records_\d{8}\.csv$/.test(f))
    .flatMap((f) =>
      readFileSync(join(root, "var/records", f), "utf8")
        .trim()
        .split("\n")
        .slice(1)
    )

describe("many stations into one PostgreSQL (CLI end to end)", () => {
  it.scopedLive(
    "two station processes write into one database; `provision stations` lists them; `report export` rebuilds the same CSV/JSON",
    () =>
      Effect.gen(function* () {
        const url = freshDatabase(pg.current())
        const root = tempDir("fp-e2e-stations-")
        const l = yield* line(root, [
          { id: "station_1", boardType: "esp32", boards: [esp32(1), esp32(2)] },
          { id: "station_2", boardType: "esp32", boards: [esp32(3), esp32(4, ["selftest_fail:mem"])] }
        ])
        const common = ["flash", "--config", l.configFile, "--secrets", l.secretsFile, "--before", "no_reset"]
        const [a, b] = yield* Effect.all(
          [
            provision(root, [...common, "--station", "station_1", "--database", url], { PROVISION_STATION_HOST: "bench-a" }),
            provision(root, [...common, "--station", "station_2"], { PROVISION_STATION_HOST: "bench-b", PROVISION_DATABASE_URL: url })
          ],
          { concurrency: "unbounded" }
        )
        expect(a.code, a.stderr).toBe(0)
        expect(b.code, b.stderr).toBe(1) // one failing self-test
        // The operator's lines are unchanged; the password is nowhere.
        expect(a.stdout).toMatch(/^Batch summary: total=2 passed=2 failed=0 queued=0/m)
        for (const text of [a.stdout, a.stderr, b.stdout, b.stderr, readFileSync(join(root, "var/log/factory-provisioning.log"), "utf8")])
          expect(text).not.toContain(pg.current().password)
        expect(readFileSync(join(root, "var/log/factory-provisioning.log"), "utf8")).toContain(
          "records: shared database postgres://postgres:***@127.0.0.1:"
        )

        expect(countOf(url, "SELECT count(*) FROM board_records")).toBe(4)
        expect(countOf(url, "SELECT count(DISTINCT device_id) FROM board_records")).toBe(4)
        expect(query(url, "SELECT station_id || ':' || host FROM stations ORDER BY 1")).toBe("station_1:bench-a\nstation_2:bench-b")
        expect(countOf(url, "SELECT count(*) FROM board_attempts WHERE state = 'done'")).toBe(4)
        expect(query(url, "SELECT jsonb_array_length(steps) > 2 FROM board_records LIMIT 1")).toBe("t")

        const stations = yield* provision(root, ["stations", "--database", url])
        expect(stations.code, stations.stderr).toBe(0)
        expect(stations.stdout).toMatch(
          /^○ station_1 @ bench-a \(pid \d+\) stopped .* ports=2 boards=2 passed=2 failed=0 throughput=2\/h yield=100\.0% interrupted=0$/m
        )
        expect(stations.stdout).toMatch(
          /^○ station_2 @ bench-b \(pid \d+\) stopped .* boards=2 passed=1 failed=1 throughput=2\/h yield=50\.0% interrupted=0$/m
        )
        expect(stations.stdout).toMatch(/^Stations: total=2 live=0 database=postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\//m)
        expect(stations.stdout).not.toContain(pg.current().password)

        const exported = yield* provision(root, ["report", "export", "--out", "var/export"], { PROVISION_DATABASE_URL: url })
        expect(exported.code, exported.stderr).toBe(0)
        expect(exported.stdout).toMatch(/^Export summary: records=4 files=\d+$/m)
        const exportedCsv = readdirSync(join(root, "var/export")).filter((f) => f.endsWith(".csv"))
        const rows = exportedCsv.flatMap((f) =>
          readFileSync(join(root, "var/export", f), "utf8")
            .trim()
            .split("\n")
            .slice(1)
        )
        expect(rows.sort()).toEqual(csvRows(root).sort())
        // Per station: only its rows; the batch JSON has the same totals as the station's own report.
        const one = yield* provision(root, ["report", "export", "--station", "station_2", "--out", "var/export2", "--json"], {
          PROVISION_DATABASE_URL: url
        })
        const files = JSON.parse(one.stdout).files as Array<string>
        const report = JSON.parse(readFileSync(join(root, files.find((f) => f.endsWith(".json"))!), "utf8"))
        expect(report.totals).toMatchObject({ total: 2, passed: 1, failed: 1 })
        expect(report.failures[0]).toMatchObject({ device_id: "esp32-240ac4500004", code: "self_test_failed" })
        expect(Object.keys(report.stations)).toEqual(["station_2"])
      }).pipe(Effect.provide(NodeContext.layer)),
    240_000
  )

  it.scopedLive(
    "database unreachable at start: a clear error with the fix (exit 2, nothing flashed); --offline runs on the files",
    () =>
      Effect.gen(function* () {
        const root = tempDir("fp-e2e-stations-")
        const l = yield* line(root, [{ id: "station_1", boardType: "esp32", boards: [esp32(11)] }])
        const dead = `postgres://postgres:${pg.current().password}@127.0.0.1:1/factory`
        const common = ["flash", "--config", l.configFile, "--secrets", l.secretsFile, "--before", "no_reset"]
        const refused = yield* provision(root, [...common, "--database", dead])
        expect(refused.code).toBe(2)
        expect(refused.stderr).toMatch(
          /error: cannot use the shared database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/factory: .*ECONNREFUSED.* \[database_unreachable\] — start PostgreSQL or fix --database; or run with --offline/
        )
        expect(refused.stderr + refused.stdout).not.toContain(pg.current().password)
        expect(existsSync(join(root, "var/records"))).toBe(false)

        const offline = yield* provision(root, [...common, "--offline"], { PROVISION_DATABASE_URL: dead })
        expect(offline.code, offline.stderr).toBe(0)
        expect(csvRows(root)).toHaveLength(1)
      }).pipe(Effect.provide(NodeContext.layer)),
    240_000
  )

  it.scopedLive(
    "database lost mid-batch: boards keep flashing, records go to the spool and are replayed when it is back — nothing lost, nothing doubled",
    () =>
      Effect.gen(function* () {
        const cluster = pg.current()
        const url = freshDatabase(cluster)
        const root = tempDir("fp-e2e-stations-")
        // The database goes away once every port has started its board, and comes back once a record is in the spool.
        const l = yield* line(root, [
          { id: "station_1", boardType: "esp32", boards: [esp32(21), esp32(22), esp32(23), esp32(24, ["slow_erase:20000"])] }
        ])
        const run = start(root, ["flash", "--config", l.configFile, "--secrets", l.secretsFile, "--before", "no_reset", "--database", url])
        yield* waitFor("four boards running", () => countSoFar(url, "SELECT count(*) FROM board_attempts WHERE state = 'running'") === 4)
        yield* Effect.sync(() => cluster.stop())
        try {
          // The station notices within one call timeout and keeps the record in its spool; its boards keep flashing.
          // (The file exists from the open on; its first line lands a moment later: wait for the line, not the file.)
          const spool = join(root, "var/records/db-spool.jsonl")
          yield* waitFor("a record in the local spool", () => existsSync(spool) && readFileSync(spool, "utf8").includes('"kind":"record"'))
          expect(readFileSync(spool, "utf8")).toMatch(/"deviceId":"esp32-240ac45000(21|22|23|24)"/)
        } finally {
          cluster.start()
        }
        const result = yield* Effect.promise(() => run.done)
        expect(result.code, result.stderr).toBe(0)
        expect(result.stdout).toMatch(/^Batch summary: total=4 passed=4 failed=0/m)
        expect(csvRows(root)).toHaveLength(4)
        expect(countOf(url, "SELECT count(*) FROM board_records")).toBe(4)
        expect(countOf(url, "SELECT count(DISTINCT attempt_key) FROM board_records")).toBe(4)
        expect(countOf(url, "SELECT count(DISTINCT device_id) FROM board_records")).toBe(4)
        expect(existsSync(join(root, "var/records/db-spool.jsonl"))).toBe(false)
        const log = readFileSync(join(root, "var/log/factory-provisioning.log"), "utf8")
        expect(log).toMatch(/database lost .*records go to var\/records\/db-spool\.jsonl/)
        expect(log).toMatch(/replayed \d+ spooled record\(s\) into the database/)
        // The operator is told, on stdout, without the password.
        expect(result.stdout).toMatch(
          /^\d+ record\(s\) spooled to var\/records\/db-spool\.jsonl while the database was away; all replayed into postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/\w+$/m
        )
        expect(result.stdout + result.stderr).not.toContain(cluster.password)
      }).pipe(Effect.provide(NodeContext.layer)),
    240_000
  )

  it.scopedLive(
    "database still away when the run ends: stdout says how many records wait in the spool and how they get in; `provision flash sync` replays them, and a second replay of the same spool doubles nothing",
    () =>
      Effect.gen(function* () {
        const cluster = pg.current()
        const url = freshDatabase(cluster)
        const root = tempDir("fp-e2e-stations-")
        const l = yield* line(root, [
          { id: "station_1", boardType: "esp32", boards: [esp32(41, ["slow_erase:3000"]), esp32(42, ["slow_erase:3000"])] }
        ])
        const common = ["--config", l.configFile, "--secrets", l.secretsFile, "--database", url]
        const run = start(root, ["flash", ...common, "--before", "no_reset"])
        yield* waitFor("two boards running", () => countSoFar(url, "SELECT count(*) FROM board_attempts WHERE state = 'running'") === 2)
        yield* Effect.sync(() => cluster.stop())
        let result: { code: number; stdout: string; stderr: string }
        try {
          result = yield* Effect.promise(() => run.done)
        } finally {
          cluster.start()
        }
        expect(result.code, result.stderr).toBe(0)
        expect(result.stdout).toMatch(/^Batch summary: total=2 passed=2 failed=0/m)
        expect(result.stdout).toMatch(
          /^2 record\(s\) spooled to var\/records\/db-spool\.jsonl; replayed when the database returns \(or run: provision flash sync\)$/m
        )
        expect(result.stdout + result.stderr).not.toContain(cluster.password)
        expect(countOf(url, "SELECT count(*) FROM board_records")).toBe(0)
        const spoolFile = join(root, "var/records/db-spool.jsonl")
        const spooled = readFileSync(spoolFile, "utf8")

        const sync = yield* provision(root, ["flash", "sync", ...common])
        expect(sync.code, sync.stderr + sync.stdout).toBe(0)
        expect(sync.stdout).toMatch(/^Spool: replayed=\d+ remaining=0 file=var\/records\/db-spool\.jsonl$/m)
        expect(existsSync(spoolFile)).toBe(false)
        expect(countOf(url, "SELECT count(*) FROM board_records")).toBe(2)
        expect(countOf(url, "SELECT count(*) FROM board_attempts WHERE state = 'done'")).toBe(2)
        expect(countOf(url, "SELECT count(*) FROM batches WHERE finished_at IS NOT NULL")).toBe(1)

        // The same spool again (a crash between the commit and the spool rewrite): nothing doubles.
        yield* Effect.sync(() => writeFileSync(spoolFile, spooled))
        const again = yield* provision(root, ["flash", "sync", ...common, "--json"])
        expect(again.code, again.stderr + again.stdout).toBe(0)
        expect(JSON.parse(again.stdout).spool).toMatchObject({ remaining: 0 })
        expect(countOf(url, "SELECT count(*) FROM board_records")).toBe(2)
        expect(countOf(url, "SELECT count(DISTINCT device_id) FROM board_records")).toBe(2)
        expect(countOf(url, "SELECT count(*) FROM run_events WHERE kind = 'board_finished'")).toBe(2)
        expect(existsSync(spoolFile)).toBe(false)
      }).pipe(Effect.provide(NodeContext.layer)),
    240_000
  )

  it.scopedLive(
    "database.url without the password, database.password in the secrets file: flash and stations connect; a wrong one is refused without ever showing it",
    () =>
      Effect.gen(function* () {
        const cluster = pg.current()
        const url = freshDatabase(cluster)
        const database = new URL(url).pathname.slice(1)
        const password = `p@ss:w/rd %41 ${database}`
        const role = createLineRole(cluster, database, password)
        const bare = `postgres://${role}@127.0.0.1:${cluster.port}/${database}`
        const root = tempDir("fp-e2e-stations-")
        const l = yield* emulatedLine({
          dir: root,
          appSize: 256 * 1024,
          stations: [{ id: "station_1", boardType: "esp32", boards: [esp32(51)] }],
          configPatch: (c) => ({ ...c, database: { url: bare, heartbeat_s: 0.5 } })
        })
        const secrets = readFileSync(l.secretsFile, "utf8")
        yield* Effect.sync(() => writeFileSync(l.secretsFile, `${secrets}\ndatabase:\n  password: ${JSON.stringify(password)}\n`))
        const flash = yield* provision(root, ["flash", "--config", l.configFile, "--secrets", l.secretsFile, "--before", "no_reset"])
        expect(flash.code, flash.stderr).toBe(0)
        expect(countOf(url, "SELECT count(*) FROM board_records")).toBe(1)
        const listed = yield* provision(root, ["stations", "--json", "--config", l.configFile, "--secrets", l.secretsFile])
        expect(listed.code, listed.stderr).toBe(0)
        expect(JSON.parse(listed.stdout)).toMatchObject({ database: bare, stations: [{ stationId: "station_1", boards: 1 }] })

        const wrongFile = join(root, "data/wrong-secrets.yaml")
        yield* Effect.sync(() => writeFileSync(wrongFile, `${secrets}\ndatabase:\n  password: "not-the-password-51"\n`))
        const refused = yield* provision(root, ["stations", "--config", l.configFile, "--secrets", wrongFile])
        expect(refused.code).not.toBe(0)
        expect(refused.stderr).toMatch(/password authentication failed/)
        expect(refused.stderr).toContain(`database.password (${wrongFile})`)
        const shown = [flash.stdout, flash.stderr, listed.stdout, listed.stderr, refused.stdout, refused.stderr]
        for (const file of ["var/log/factory-provisioning.log", ...readdirSync(join(root, "var/reports")).map((f) => `var/reports/${f}`)])
          shown.push(readFileSync(join(root, file), "utf8"))
        for (const text of shown) {
          expect(text).not.toContain(password)
          expect(text).not.toContain(encodeURIComponent(password))
          expect(text).not.toContain("not-the-password-51")
        }
      }).pipe(Effect.provide(NodeContext.layer)),
    240_000
  )

  it.scopedLive(
    "a station SIGKILLed mid-board leaves no half-written row; its board shows as interrupted; a second station with the same id is refused, naming the other host",
    () =>
      Effect.gen(function* () {
        const url = freshDatabase(pg.current())
        const root = tempDir("fp-e2e-stations-")
        const l = yield* line(root, [{ id: "station_1", boardType: "esp32", boards: [esp32(31, ["slow_erase:28000"])] }], 1024 * 1024)
        const common = ["flash", "--config", l.configFile, "--secrets", l.secretsFile, "--before", "no_reset", "--database", url]
        const a = start(root, common, { PROVISION_STATION_HOST: "bench-a" })
        yield* waitFor("the board is running", () => countSoFar(url, "SELECT count(*) FROM board_attempts WHERE state = 'running'") === 1)

        const twin = yield* provision(root, common, { PROVISION_STATION_HOST: "bench-b" })
        expect(twin.code).toBe(2)
        expect(twin.stderr).toMatch(
          /error: station "station_1" is already running on host bench-a \(pid \d+, last seen [\d.]+ s ago\) \[station_id_taken\]/
        )

        a.child.kill("SIGKILL")
        yield* Effect.promise(() => a.done)
        expect(countOf(url, "SELECT count(*) FROM board_records")).toBe(0)
        // Once its heartbeat is stale (3 × 0.5 s), the killed station and its board show as such.
        yield* Effect.sleep("2 seconds")
        const listed = yield* provision(root, ["stations", "--json", "--config", l.configFile, "--database", url])
        const station = JSON.parse(listed.stdout).stations[0]
        expect(station).toMatchObject({ stationId: "station_1", host: "bench-a", state: "stale", interrupted: 1, boards: 0 })
      }).pipe(Effect.provide(NodeContext.layer)),
    240_000
  )
})
