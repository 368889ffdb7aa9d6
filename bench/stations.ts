/**
 * `npm run bench:stations` — many stations, one PostgreSQL (issue 15).
 *
 * A throwaway cluster with PostgreSQL's durable defaults (fsync, synchronous_commit
 * and full_page_writes on; the only setting changed is max_connections=200), then:
 *  (b) 100 simulated stations writing records only: 100 real PgRecordStores
 *      (each with its heartbeat and live-state flush) in this process, on one
 *      pool. Two runs: closed loop (every station writes its next record as soon
 *      as the last committed: the most the server takes) and paced (every station
 *      writes at TARGET/100 records per second: does it sustain that, and what is
 *      the p95 of a record's commit at that rate).
 *  (a) 8 station processes (`provision flash`, each in its own folder like its own
 *      PC, PORTS_A emulated ESP32 each) run ROUNDS times on files only and ROUNDS
 *      times into the database, interleaved, after one uncounted round of each
 *      (page cache, bundle, V8 code cache; its own database). The boards are paced
 *      like real ones (sim/pacedLink.ts: every byte takes its wire time at the
 *      line's baud, flash writes their programming time), so a board's cycle is
 *      what it is on a line and not the CPU time of an emulator; BENCH_PACE=0 runs
 *      them unpaced (a cycle of pure CPU on a machine the 8 stations saturate: a
 *      stress figure). lost/dup compare every board of the database runs' batch
 *      reports with the rows; overhead_pct compares the mean
 *      batch cycle (report duration_s: first board start → last record written,
 *      the database writes included) of the database runs with the files runs;
 *      a second figure, measured inside the stations (the store's own timer around
 *      board-start and record writes), says what the database adds per board.
 * Every figure is printed with the load average: the machine is shared.
 */
import { NodeContext } from "@effect/platform-node"
import { Duration, Effect, Layer, Schedule } from "effect"
import { execFile, execFileSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { startBoardProcess } from "../sim/boardProcess.js"
import { startPgCluster } from "../sim/postgres/cluster.js"
import { emulatedLine } from "../src/cli/demo/factoryLine.js"
import { pgLayer } from "../src/store/connect.js"
import { parseDatabaseUrl } from "../src/store/databaseUrl.js"
import { makePgRecordStore } from "../src/store/PgRecordStore.js"
import type { BoardRecordRow, RecordStoreService } from "../src/store/RecordStore.js"

const STATIONS_A = Number(process.env.BENCH_STATIONS_A ?? 8)
/** Boards with their wire and flash-programming time (BENCH_PACE=0: as fast as the CPU goes). */
const PACE = process.env.BENCH_PACE !== "0"
/**
 * BENCH_BOARDS=process: each emulated board in its own process (sim/boardProcess.ts), as each is its
 * own chip; by default all 16 share this process. Measured both ways in session 5: the database's
 * difference was the same, so the shared event loop of the emulators is not what makes it.
 */
const BOARD_PROCESSES = process.env.BENCH_BOARDS === "process"
const PORTS_A = Number(process.env.BENCH_PORTS_A ?? 2)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)
const STATIONS_B = 100
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10)
/**
 * Records per second the paced run of (b) offers, over all stations: 10 % above the issue's 2,000/s, so the
 * measured rate (rows over the whole run, its start spread and tail included) shows 2,000/s sustained, not
 * "about 2,000" (offered 2,000, it measured 1,964/s).
 */
const TARGET = Number(process.env.BENCH_TARGET ?? 2200)
/** One station process's pool is 4; the 100 simulated stations share this one. */
const POOL_B = Number(process.env.BENCH_POOL ?? 16)
/** Station PCs (processes) the 100 stations of (b) run on. */
const PCS = Number(process.env.BENCH_PCS ?? 10)
const BIN = resolve("bin/provision.mjs")
/** BENCH_STATION_NODE_ARGS: node flags for the station processes only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
const STATION_NODE_ARGS = (process.env.BENCH_STATION_NODE_ARGS ?? "").split(" ").filter(Boolean)
/** BENCH_PARTS=a or =b runs one part only. */
const PARTS = process.env.BENCH_PARTS ?? "ab"

const load = () => {
  const [one, five, fifteen] = loadavg().map((n) => n.toFixed(2))
  return `load average ${one}, ${five}, ${fifteen} on ${cpus().length} cores`
}
const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : 0
}
const mean = (values: ReadonlyArray<number>) => values.reduce((n, v) => n + v, 0) / Math.max(values.length, 1)
const stddev = (values: ReadonlyArray<number>) => {
  const m = mean(values)
  return Math.sqrt(mean(values.map((v) => (v - m) ** 2)))
}
/**
 * CPU seconds used so far by the cluster's server processes, from /proc: the postmaster's own, its live children's
 * (backends, WAL writer, checkpointer…), and those of the children it has reaped (a station's backends end with it).
 */
const serverCpu = (dataDir: string): number => {
  const postmaster = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0])
  const tick = 100 // USER_HZ on Linux
  let ticks = 0
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
      // utime, stime; for the postmaster also cutime, cstime (its children that have exited).
      if (Number(pid) === postmaster) ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])
      else if (Number(fields[1]) === postmaster) ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // gone meanwhile
    }
  }
  return ticks / tick
}
/** One `provision` process; `cpuS` is its user + system CPU seconds (GNU time, Debian package `time`). */
const run = (cwd: string, args: ReadonlyArray<string>) =>
  new Promise<{ code: number; stderr: string; cpuS: number }>((done) => {
    execFile(
      "/usr/bin/time",
      ["-f", "cpu-seconds %U %S", "node", ...STATION_NODE_ARGS, BIN, ...args],
      { cwd, timeout: 300_000, env: { ...process.env, NO_COLOR: "1" } },
      (error, _stdout, stderr) => {
        const cpu = /cpu-seconds ([\d.]+) ([\d.]+)/.exec(stderr)
        done({
          code: error ? (typeof error.code === "number" ? error.code : 70) : 0,
          stderr,
          cpuS: cpu ? Number(cpu[1]) + Number(cpu[2]) : Number.NaN
        })
      }
    )
  })

const cluster = await startPgCluster({ durable: true, maxConnections: 200 })
console.log(
  `# PostgreSQL ${execFileSync(join("/usr/lib/postgresql", readdirSync("/usr/lib/postgresql")[0]!, "bin/postgres"), ["--version"], { encoding: "utf8" }).trim()}: durable defaults (fsync=on synchronous_commit=on full_page_writes=on), max_connections=200; ${load()}`
)
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
      const context = yield* Layer.build(Layer.mergeAll(pgLayer(target, { maxConnections: POOL_B }), NodeContext.layer))
      // Stations register first (a few at a time, as a line starts up), then all write at once.
      // The stations run on PCS station PCs (one store each, as one `provision flash` process runs every
      // station of its config); each PC registers its stations, heartbeats them and group-commits the
      // records of its stations that end together.
      const pcs = yield* Effect.forEach(
        Array.from({ length: PCS }, (_, p) => p),
        (p) =>
          Effect.gen(function* () {
            const store = yield* makePgRecordStore({
              display: target.display,
              spoolFile: join(spoolDir, `pc${p}.jsonl`),
              heartbeat: "2 seconds",
              callTimeout: "10 seconds"
            })
            yield* store.openStations(
              Array.from({ length: STATIONS_B / PCS }, (_, k) => ({
                stationId: `sim_${p * (STATIONS_B / PCS) + k + 1}`,
                ports: ["/dev/ttyUSB0"]
              }))
            )
            return store
          }).pipe(Effect.provide(context)),
        { concurrency: 2 }
      )
      const stores = Array.from({ length: STATIONS_B }, (_, n) => pcs[Math.floor(n / (STATIONS_B / PCS))]!)
      const row = (run: string, n: number, i: number): BoardRecordRow => {
        const now = new Date().toISOString()
        return {
          attemptKey: `${run}/sim_${n}/p/0-${i}`,
          batchId: `bench-${run}`,
          stationId: `sim_${n}`,
          port: "/dev/ttyUSB0",
          deviceId: `esp32-${run}-${String(n).padStart(4, "0")}${String(i).padStart(8, "0")}`,
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
      }
      /** Every station writes for DURATION_S: back to back (`every` undefined) or one record per `every` ms. */
      const measure = (run: string, every: number | undefined) =>
        Effect.gen(function* () {
          const latencies: Array<number> = []
          let stored = 0
          let spooled = 0
          const until = Date.now() + DURATION_S * 1000
          const station = (store: RecordStoreService, n: number) => {
            let i = 0
            const one = Effect.gen(function* () {
              const t0 = performance.now()
              const outcome = yield* store.boardFinished(row(run, n, ++i))
              latencies.push(performance.now() - t0)
              if (outcome === "stored") stored += 1
              else spooled += 1
            })
            const schedule = every === undefined ? Schedule.forever : Schedule.fixed(`${every} millis`)
            return one.pipe(Effect.repeat(Schedule.whileInput(schedule, () => Date.now() < until)))
          }
          const cpu0 = process.cpuUsage()
          const server0 = serverCpu(join(cluster.dir, "data"))
          const t0 = Date.now()
          // Paced stations start spread over one period, as stations on a line do.
          yield* Effect.forEach(
            stores,
            (store, k) =>
              (every === undefined ? Effect.void : Effect.sleep(Duration.millis((k * every) / STATIONS_B))).pipe(
                Effect.zipRight(station(store, k + 1))
              ),
            { concurrency: "unbounded", discard: true }
          )
          const elapsed = (Date.now() - t0) / 1000
          const cpu = process.cpuUsage(cpu0)
          const server = serverCpu(join(cluster.dir, "data")) - server0
          const rows = Number(
            yield* Effect.promise(() => psql("bench_b", `SELECT count(*) FROM board_records WHERE batch_id = 'bench-${run}'`))
          )
          const distinct = Number(
            yield* Effect.promise(() =>
              psql("bench_b", `SELECT count(DISTINCT (station_id, device_id)) FROM board_records WHERE batch_id = 'bench-${run}'`)
            )
          )
          const written = stored + spooled
          console.log(
            `# (b) ${run}: ${STATIONS_B} stations for ${DURATION_S} s${every === undefined ? ", back to back" : `, each one record every ${every.toFixed(1)} ms (${TARGET}/s offered)`}, on ${PCS} station PCs sharing a pool of ${POOL_B}: ${stored} stored, ${spooled} spooled, ${(written / elapsed).toFixed(0)} records/s, p50 ${percentile(latencies, 50).toFixed(1)} ms, p95 ${percentile(latencies, 95).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms; CPU per record: PostgreSQL ${((server * 1000) / written).toFixed(2)} ms, the stations (this process) ${((cpu.user + cpu.system) / 1000 / written).toFixed(2)} ms; ${load()}`
          )
          console.log(
            `bench stations stations=${STATIONS_B} boards=${written} records_per_s=${(rows / elapsed).toFixed(0)} p95_commit_ms=${percentile(latencies, 95).toFixed(1)} lost=${Math.max(0, written - distinct)} dup=${rows - distinct} overhead_pct=-`
          )
        })
      yield* measure("closed", undefined)
      yield* measure("paced", (1000 * STATIONS_B) / TARGET)
    })
  )
  if (PARTS.includes("b")) await Effect.runPromise(partB)
  rmSync(spoolDir, { recursive: true, force: true })

  // ── (a) 8 station processes on emulated boards ──────────────────────────
  const urlA = cluster.createDatabase("bench_a")
  /** The uncounted warm-up round on a database writes here, so bench_a holds the counted rounds only. */
  const urlWarm = cluster.createDatabase("bench_a_warm")
  // A line's database has its schema before the shift starts: created here, so no counted round runs the migrations.
  await Effect.runPromise(Effect.scoped(Layer.build(pgLayer(Effect.runSync(parseDatabaseUrl(urlA, "--database")), { maxConnections: 1 }))))
  const partA = Effect.scoped(
    Effect.gen(function* () {
      const root = mkdtempSync(join(tmpdir(), "fp-bench-stations-"))
      const macOf = (i: number, p: number) => `24:0a:c4:70:${String(i + 1).padStart(2, "0")}:${String(p + 1).padStart(2, "0")}`
      const boards = BOARD_PROCESSES
        ? yield* Effect.acquireRelease(
            Effect.forEach(
              Array.from({ length: STATIONS_A * PORTS_A }, (_, n) => n),
              (n) =>
                Effect.promise(() =>
                  startBoardProcess({
                    kind: "esp",
                    options: { chip: "esp32", mac: macOf(Math.floor(n / PORTS_A), n % PORTS_A), pace: PACE }
                  })
                ),
              { concurrency: 4 }
            ),
            (started) => Effect.promise(() => Promise.all(started.map((b) => b.stop())))
          )
        : undefined
      const line = yield* emulatedLine({
        dir: root,
        pace: PACE,
        ...(boards ? { espPorts: boards.map((b) => b.hostPath) } : {}),
        stations: Array.from({ length: STATIONS_A }, (_, i) => ({
          id: `station_${i + 1}`,
          boardType: "esp32" as const,
          boards: Array.from({ length: PORTS_A }, (_, p) => ({ chip: "esp32" as const, mac: macOf(i, p) }))
        }))
      })
      const resetAll = () =>
        boards
          ? Promise.all(boards.map((b) => b.reset("bootloader")))
          : Promise.all(line.boards.map((board) => board.emulator.reset("bootloader")))
      // Each station in its own folder (var/records, var/reports, var/log, spool), as on its own PC.
      const stationDir = (i: number) => {
        const dir = join(root, `station_${i + 1}`)
        mkdirSync(dir, { recursive: true })
        return dir
      }
      const dirs = Array.from({ length: STATIONS_A }, (_, i) => stationDir(i))
      const reportsOf = (dir: string) => (existsSync(join(dir, "var/reports")) ? readdirSync(join(dir, "var/reports")) : [])
      const logOf = (dir: string) =>
        existsSync(join(dir, "var/log/factory-provisioning.log")) ? readFileSync(join(dir, "var/log/factory-provisioning.log"), "utf8") : ""
      interface Report {
        readonly batch_id: string
        readonly started_at: string
        readonly duration_s: number
        readonly boards: Array<{
          device_id: string | null
          station_id: string
          port: string
          status: string
          error_code?: string | null
          flash_time_s?: number
        }>
      }
      /** Sessions (connections) opened on bench_a so far, asked from another database so the asking is not one of them. */
      const sessionsA = async () => Number(await psql("postgres", "SELECT sessions FROM pg_stat_database WHERE datname = 'bench_a'"))
      const round = async (database: string | undefined) => {
        // The next boards on the line: held in download mode (a flashed board has booted its app and no longer
        // answers SYNC). Same MACs again: the backend answers "already registered", which the station accepts.
        await resetAll()
        const before = dirs.map((d) => new Set(reportsOf(d)))
        const logBefore = dirs.map((d) => logOf(d).length)
        const sessions0 = await sessionsA()
        const started = Date.now()
        const server0 = serverCpu(join(cluster.dir, "data"))
        const results = await Promise.all(
          dirs.map((dir, i) =>
            run(dir, [
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
        const serverS = serverCpu(join(cluster.dir, "data")) - server0
        // A backend reports its session when it ends, just after its station: a moment for the last ones.
        await new Promise((r) => setTimeout(r, 300))
        const sessions = (await sessionsA()) - sessions0
        const reports = dirs.flatMap((dir, i) =>
          reportsOf(dir)
            .filter((f) => f.endsWith(".json") && !before[i]!.has(f))
            .map((f) => JSON.parse(readFileSync(join(dir, "var/reports", f), "utf8")) as Report)
        )
        // The store's own timer: "database time on the boards' path X ms (Y ms per board)".
        const perBoardMs = dirs.flatMap((dir, i) =>
          [
            ...logOf(dir)
              .slice(logBefore[i])
              .matchAll(/database time on the boards' path \d+ ms \(([\d.]+) ms per board\)/g)
          ].map((m) => Number(m[1]))
        )
        // Launch → the batch's start: the station's start-up (on the database also: connect, schema check, claim).
        const startupS = reports.map((r) => (new Date(r.started_at).getTime() - started) / 1000)
        return { results, elapsed, reports, perBoardMs, serverS, startupS, sessions }
      }
      const files: Array<Awaited<ReturnType<typeof round>>> = []
      const db: Array<Awaited<ReturnType<typeof round>>> = []
      // A first files round and a first database round warm the page cache, the bundle and its V8 code cache
      // (the database round adds the driver's code to it: bin/codeCache.mjs); they are not counted.
      yield* Effect.promise(() => round(undefined))
      yield* Effect.promise(() => round(urlWarm))
      for (let r = 0; r < ROUNDS; r++) {
        files.push(yield* Effect.promise(() => round(undefined)))
        db.push(yield* Effect.promise(() => round(urlA)))
        console.log(`# (a) round ${r + 1}/${ROUNDS} done; ${load()}`)
      }
      for (const f of [...files, ...db].flatMap((x) => x.results).filter((r) => r.code !== 0 && r.code !== 1))
        console.error(`a station run failed (exit ${f.code}): ${f.stderr.slice(-400)}`)
      const cycles = (rounds: typeof files) => rounds.flatMap((x) => x.reports.map((r) => r.duration_s))
      const boardsOf = (rounds: typeof files) =>
        rounds.flatMap((x) => x.reports.flatMap((r) => r.boards.map((b) => ({ ...b, batch: r.batch_id }))))
      const filesCycle = cycles(files)
      const dbCycle = cycles(db)
      const expected = boardsOf(db)
      const rows = (yield* Effect.promise(() =>
        psql("bench_a", "SELECT batch_id || '|' || station_id || '|' || port || '|' || coalesce(device_id, '') FROM board_records")
      ))
        .split("\n")
        .filter(Boolean)
      const inDb = new Set(rows)
      const lost = expected.filter((b) => !inDb.has(`${b.batch}|${b.station_id}|${b.port}|${b.device_id ?? ""}`)).length
      const dup = rows.length - inDb.size
      if (dup > 0) {
        const seen = new Set<string>()
        console.error(`# (a) rows present more than once: ${rows.filter((r) => seen.has(r) || !seen.add(r)).join(", ")}`)
      }
      const commits = (yield* Effect.promise(() =>
        psql("bench_a", "SELECT (extract(epoch FROM recorded_at - finished_at) * 1000)::float8 FROM board_records")
      ))
        .split("\n")
        .filter(Boolean)
        .map(Number)
      const outcomes = (rounds: typeof files) => {
        const boards = boardsOf(rounds)
        const codes = new Map<string, number>()
        for (const b of boards.filter((b) => b.status !== "pass")) codes.set(b.error_code ?? "?", (codes.get(b.error_code ?? "?") ?? 0) + 1)
        return `${boards.filter((b) => b.status === "pass").length} passed, ${boards.length - boards.filter((b) => b.status === "pass").length} failed${codes.size ? ` (${[...codes].map(([c, n]) => `${c}×${n}`).join(", ")})` : ""}`
      }
      console.log(`# (a) files: ${outcomes(files)}; database: ${outcomes(db)}`)
      const overhead = mean(filesCycle) > 0 ? ((mean(dbCycle) - mean(filesCycle)) / mean(filesCycle)) * 100 : 0
      const perBoard = db.flatMap((x) => x.perBoardMs)
      const boardCycleMs = mean(filesCycle) * 1000
      console.log(
        `# (a) ${STATIONS_A} station processes × ${PORTS_A} emulated ESP32 (${PACE ? "paced like real boards" : "unpaced: CPU-bound"}), ${ROUNDS} rounds each way: files ${boardsOf(files).length} boards, batch cycle ${mean(filesCycle).toFixed(2)} ± ${stddev(filesCycle).toFixed(2)} s; database ${expected.length} boards, batch cycle ${mean(dbCycle).toFixed(2)} ± ${stddev(dbCycle).toFixed(2)} s (± is one standard deviation between batches: the A/B overhead is only as exact as that)`
      )
      // Where the difference goes: each station's start-up before its batch, the boards' flash phase, and CPU.
      const flashOf = (rounds: typeof files) => boardsOf(rounds).map((b) => b.flash_time_s ?? Number.NaN)
      const cpuOf = (rounds: typeof files) => rounds.flatMap((x) => x.results.map((r) => r.cpuS))
      const startupOf = (rounds: typeof files) => rounds.flatMap((x) => x.startupS)
      console.log(
        `# (a) files vs database: launch → batch start ${mean(startupOf(files)).toFixed(2)} vs ${mean(startupOf(db)).toFixed(2)} s (outside the batch cycle); a board's flash phase ${mean(flashOf(files)).toFixed(2)} vs ${mean(flashOf(db)).toFixed(2)} s; CPU per station process ${mean(cpuOf(files)).toFixed(2)} vs ${mean(cpuOf(db)).toFixed(2)} s; PostgreSQL CPU per round ${mean(files.map((x) => x.serverS)).toFixed(2)} vs ${mean(db.map((x) => x.serverS)).toFixed(2)} s (on files: its own background work); connections per station ${(mean(db.map((x) => x.sessions)) / STATIONS_A).toFixed(1)}`
      )
      console.log(
        `# (a) measured inside the stations: the database adds ${mean(perBoard).toFixed(1)} ms per board (board-start row + record commit, both on the board's path) = ${((mean(perBoard) / boardCycleMs) * 100).toFixed(2)} % of the ${boardCycleMs.toFixed(0)} ms files cycle; board end → row committed p95 ${percentile(commits, 95).toFixed(1)} ms; ${load()}`
      )
      console.log(
        `bench stations stations=${STATIONS_A} boards=${expected.length} records_per_s=${(rows.length / db.reduce((n, x) => n + x.elapsed, 0)).toFixed(2)} p95_commit_ms=${percentile(commits, 95).toFixed(1)} lost=${lost} dup=${dup} overhead_pct=${overhead.toFixed(2)}`
      )
      rmSync(root, { recursive: true, force: true })
    })
  ).pipe(Effect.provide(NodeContext.layer))
  if (PARTS.includes("a")) await Effect.runPromise(partA)
} finally {
  cluster.destroy()
}
