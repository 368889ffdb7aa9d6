/**
 * `npm run bench:stations` — many stations, one PostgreSQL (issue 15).
 *
 * A throwaway cluster with PostgreSQL's durable defaults (fsync on), then:
 *  (a) 8 station processes (`provision flash`, one emulated ESP32 each) run
 *      twice: on files only, then into the database. lost/dup compare the
 *      boards with the database rows; p95_commit_ms is board end → row
 *      committed; overhead_pct compares the mean board cycle (total_s of the
 *      batch reports) of the database run with the files run.
 *  (b) 100 simulated stations (the real PgRecordStore, one shared pool)
 *      writing records only, back to back, for DURATION_S: records_per_s
 *      sustained and p95 of each record's transaction.
 * Prints one `bench stations …` line per part.
 */
import { NodeContext } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { execFile } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { startPgCluster } from "../sim/postgres/cluster.js"
import { emulatedLine } from "../src/cli/demo/factoryLine.js"
import { pgLayer } from "../src/store/connect.js"
import { parseDatabaseUrl } from "../src/store/databaseUrl.js"
import { makePgRecordStore } from "../src/store/PgRecordStore.js"
import type { BoardRecordRow } from "../src/store/RecordStore.js"

const STATIONS_A = 8
const STATIONS_B = 100
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10)
const BIN = resolve("bin/provision.mjs")
/** BENCH_PARTS=a or =b runs one part only. */
const PARTS = process.env.BENCH_PARTS ?? "ab"

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : 0
}
const run = (cwd: string, args: ReadonlyArray<string>) =>
  new Promise<{ code: number; stderr: string }>((done) => {
    execFile("node", [BIN, ...args], { cwd, timeout: 300_000, env: { ...process.env, NO_COLOR: "1" } }, (error, _stdout, stderr) =>
      done({ code: error ? (typeof error.code === "number" ? error.code : 70) : 0, stderr })
    )
  })

const cluster = await startPgCluster({ durable: true, maxConnections: 200 })
try {
  const psql = (db: string, sql: string) =>
    new Promise<string>((done, fail) =>
      execFile(
        "runuser",
        ["-u", "postgres", "--", "psql", "-h", cluster.dir, "-p", String(cluster.port), "-d", db, "-At", "-c", sql],
        (e, out) => (e ? fail(e) : done(out.trim()))
      )
    )

  // ── (b) 100 simulated stations writing records only ─────────────────────
  const urlB = cluster.createDatabase("bench_b")
  const target = Effect.runSync(parseDatabaseUrl(urlB, "--database"))
  const spoolDir = mkdtempSync(join(tmpdir(), "fp-bench-spool-"))
  const partB = Effect.scoped(
    Effect.gen(function* () {
      const context = yield* Layer.build(Layer.mergeAll(pgLayer(target, { maxConnections: 32 }), NodeContext.layer))
      const latencies: Array<number> = []
      let written = 0
      let spooled = 0
      // Stations register first (a few at a time, as a line starts up), then all write at once.
      const stores = yield* Effect.forEach(
        Array.from({ length: STATIONS_B }, (_, i) => i + 1),
        (n) =>
          Effect.gen(function* () {
            const store = yield* makePgRecordStore({
              display: target.display,
              spoolFile: join(spoolDir, `s${n}.jsonl`),
              heartbeat: "2 seconds",
              callTimeout: "10 seconds"
            })
            yield* store.openStations([{ stationId: `sim_${n}`, ports: ["/dev/ttyUSB0"] }])
            return store
          }).pipe(Effect.provide(context)),
        { concurrency: 4 }
      )
      const station = (n: number) =>
        Effect.gen(function* () {
          const store = stores[n - 1]!
          const until = Date.now() + DURATION_S * 1000
          for (let i = 1; Date.now() < until; i++) {
            const now = new Date().toISOString()
            const row: BoardRecordRow = {
              attemptKey: `bench/sim_${n}/p/0-${i}`,
              batchId: "bench",
              stationId: `sim_${n}`,
              port: "/dev/ttyUSB0",
              deviceId: `esp32-${String(n).padStart(4, "0")}${String(i).padStart(8, "0")}`,
              mac: "aa:bb:cc:dd:ee:ff",
              board: "esp32",
              platform: "esp32",
              firmwareVersion: "1.0.0",
              status: i % 50 === 0 ? "fail" : "pass",
              errorCode: i % 50 === 0 ? "self_test_failed" : undefined,
              totalSeconds: 8,
              flashSeconds: 6,
              attempts: 1,
              retries: 0,
              day: "20261205",
              startedAt: now,
              finishedAt: now,
              csvRow: `${now},bench,esp32-${n}-${i},…`,
              result: { n, i, tests: [{ name: "boot_test", passed: true }] }
            }
            const t0 = performance.now()
            const outcome = yield* store.boardFinished(row)
            latencies.push(performance.now() - t0)
            if (outcome === "stored") written += 1
            else spooled += 1
          }
        }).pipe(Effect.provide(context))
      const t0 = Date.now()
      yield* Effect.forEach(
        Array.from({ length: STATIONS_B }, (_, i) => i + 1),
        station,
        { concurrency: "unbounded", discard: true }
      )
      const elapsed = (Date.now() - t0) / 1000
      const rows = Number(yield* Effect.promise(() => psql("bench_b", "SELECT count(*) FROM board_records")))
      const distinct = Number(yield* Effect.promise(() => psql("bench_b", "SELECT count(DISTINCT attempt_key) FROM board_records")))
      console.log(
        `# (b) ${STATIONS_B} stations for ${DURATION_S} s: ${written} stored, ${spooled} spooled, elapsed ${elapsed.toFixed(1)} s`
      )
      console.log(
        `bench stations stations=${STATIONS_B} boards=${written + spooled} records_per_s=${(rows / elapsed).toFixed(0)} p95_commit_ms=${percentile(latencies, 95).toFixed(1)} lost=${Math.max(0, written + spooled - distinct)} dup=${rows - distinct} overhead_pct=-`
      )
    })
  )
  if (PARTS.includes("b")) await Effect.runPromise(partB)
  rmSync(spoolDir, { recursive: true, force: true })
  // ── (a) 8 station processes on emulated boards ──────────────────────────
  const urlA = cluster.createDatabase("bench_a")
  const partA = Effect.scoped(
    Effect.gen(function* () {
      const root = mkdtempSync(join(tmpdir(), "fp-bench-stations-"))
      const line = yield* emulatedLine({
        dir: root,
        stations: Array.from({ length: STATIONS_A }, (_, i) => ({
          id: `station_${i + 1}`,
          boardType: "esp32" as const,
          boards: [{ chip: "esp32" as const, mac: `24:0a:c4:70:00:${String(i + 1).padStart(2, "0")}` }]
        }))
      })
      const cycle = async (database: string | undefined) => {
        const before = new Set(readdirSync(join(root, "var/reports"), { withFileTypes: false }).map(String))
        const started = Date.now()
        const results = await Promise.all(
          Array.from({ length: STATIONS_A }, (_, i) =>
            run(root, [
              "flash",
              "--config",
              line.configFile,
              "--secrets",
              line.secretsFile,
              "--before",
              "no_reset",
              "--station",
              `station_${i + 1}`,
              ...(database ? ["--database", database] : ["--offline"])
            ])
          )
        )
        const elapsed = (Date.now() - started) / 1000
        const reports = readdirSync(join(root, "var/reports")).filter((f) => !before.has(f))
        const boards = reports.flatMap(
          (f) => JSON.parse(readFileSync(join(root, "var/reports", f), "utf8")).boards as Array<{ device_id: string; status: string }>
        )
        const totals = reports.map(
          (f) => JSON.parse(readFileSync(join(root, "var/reports", f), "utf8")) as { duration_s: number; boards: Array<unknown> }
        )
        const cycleMean = totals.reduce((n, r) => n + r.duration_s, 0) / Math.max(totals.length, 1)
        return { results, elapsed, boards, cycleMean }
      }
      yield* Effect.promise(() =>
        run(root, [
          "flash",
          "--config",
          line.configFile,
          "--secrets",
          line.secretsFile,
          "--before",
          "no_reset",
          "--station",
          "station_1",
          "--offline"
        ])
      )
      const files = yield* Effect.promise(() => cycle(undefined))
      const db = yield* Effect.promise(() => cycle(urlA))
      const failedRuns = db.results.filter((r) => r.code !== 0 && r.code !== 1)
      for (const f of failedRuns) console.error(`a station run failed: ${f.stderr.slice(-400)}`)
      const rows = Number(yield* Effect.promise(() => psql("bench_a", "SELECT count(*) FROM board_records")))
      const distinct = Number(yield* Effect.promise(() => psql("bench_a", "SELECT count(DISTINCT attempt_key) FROM board_records")))
      const commits = (yield* Effect.promise(() =>
        psql("bench_a", "SELECT (extract(epoch FROM recorded_at - finished_at) * 1000)::float8 FROM board_records")
      ))
        .split("\n")
        .filter(Boolean)
        .map(Number)
      const expected = db.boards.length
      const overhead = files.cycleMean > 0 ? ((db.cycleMean - files.cycleMean) / files.cycleMean) * 100 : 0
      console.log(
        `# (a) files run: ${files.boards.length} boards, mean batch cycle ${files.cycleMean.toFixed(2)} s; database run: ${db.boards.length} boards, mean batch cycle ${db.cycleMean.toFixed(2)} s, wall ${db.elapsed.toFixed(1)} s`
      )
      console.log(
        `bench stations stations=${STATIONS_A} boards=${expected} records_per_s=${(rows / db.elapsed).toFixed(2)} p95_commit_ms=${percentile(commits, 95).toFixed(1)} lost=${Math.max(0, expected - distinct)} dup=${rows - distinct} overhead_pct=${overhead.toFixed(2)}`
      )
      rmSync(root, { recursive: true, force: true })
    })
  ).pipe(Effect.provide(NodeContext.layer))
  if (PARTS.includes("a")) await Effect.runPromise(partA)
} finally {
  cluster.destroy()
}
