import { buildSync } from "esbuild"
/**
 * `npm run bench:stage3` — Stage 3 `check_only --dry-run` on a simulated
 * fleet (10 % blackhole: accepts, never answers; 10 % with a pending update),
 * against a baseline written here that works the way the runbook's design
 * does (runbook §5: ThreadPoolExecutor of 8, one device per worker; 0.25 s
 * probe, 1 s HTTP fallback, then Shelly.CheckForUpdate and Sys.GetConfig one
 * after the other).
 *
 * The simulator runs as its own process (`provision sim shelly`) on
 * 127.100.0.0/16; Stage 3 runs in another (bench/stage3-worker.ts) so its
 * peak RSS is measured alone. Both are stopped when the bench ends, also on
 * error (they live in a Scope). Prints per fleet size:
 *   bench stage3 devices=<n> wall_s=<x> baseline_s=<y> speedup=<y/x> rss_mb=<peak>
 */
import { Command, FileSystem, Path } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Duration, Effect, Either, Layer, Schema, Stream } from "effect"
import { type InventoryDevice, Inventory } from "../src/inventory/Inventory.js"
import { defaultAppConfig } from "../src/config/index.js"
import { InventoryLive } from "../src/inventory/index.js"
import * as Methods from "../src/shelly/methods.js"
import { ShellyRpc } from "../src/shelly/ShellyRpc.js"
import { ShellyRpcLive } from "../src/shelly/ShellyRpcLive.js"

/** Above this the baseline runs on a sample and is extrapolated (and says so). */
const BASELINE_FULL_LIMIT = 2000
const BASELINE_SAMPLE = 1000
/** The product default (stage3.concurrency) unless BENCH_CONCURRENCY says otherwise. */
const CONCURRENCY = process.env.BENCH_CONCURRENCY === undefined ? undefined : Number(process.env.BENCH_CONCURRENCY)
const SIZES = (process.env.BENCH_SIZES ?? "1000,10000").split(",").map(Number)

const RunResult = Schema.parseJson(
  Schema.Struct({
    code: Schema.Number,
    wall_s: Schema.Number,
    rss_mb: Schema.Number,
    total: Schema.Number,
    ok: Schema.Number,
    failed: Schema.Number,
    ota: Schema.Record({ key: Schema.String, value: Schema.Number })
  })
)

const lines = (stream: Stream.Stream<Uint8Array, unknown>) => stream.pipe(Stream.decodeText(), Stream.splitLines)

/** Starts `provision sim shelly` and waits for its ready line; stopped (SIGTERM) when the scope closes. */
const startSimulator = (devices: number, stateFile: string) =>
  Effect.gen(function* () {
    const process_ = yield* Command.make(
      "node",
      "bin/provision.mjs",
      "sim",
      "shelly",
      "--devices",
      String(devices),
      "--base-ip",
      "127.100.0.1",
      "--port",
      "28080",
      "--seed",
      "42",
      "--faults",
      "10%=blackhole",
      "--faults",
      "10%=update",
      "--state-file",
      stateFile,
      "--control-port",
      "0"
    ).pipe(Command.start)
    yield* Effect.addFinalizer(() => process_.kill("SIGTERM").pipe(Effect.ignore))
    yield* lines(process_.stderr).pipe(
      Stream.runForEach((l) => Console.error(`[sim] ${l}`)),
      Effect.forkScoped
    )
    const ready = yield* lines(process_.stdout).pipe(
      Stream.filter((l) => l.startsWith("sim shelly ready")),
      Stream.runHead,
      Effect.timeoutFail({ duration: "180 seconds", onTimeout: () => new Error("simulator did not get ready in 180 s") }),
      Effect.flatMap((line) =>
        line._tag === "Some" ? Effect.succeed(line.value) : Effect.fail(new Error("simulator exited before ready"))
      )
    )
    const port = Number(/port=(\d+)/.exec(ready)?.[1])
    return { port, ready }
  })

/** Runs Stage 3 in a child process and reads its one result line. */
const runStage3Worker = (configFile: string) =>
  Effect.gen(function* () {
    // The worker runs as a plain-node bundle (like the installed CLI), not
    // through the tsx loader, whose transpiler would dominate its peak RSS.
    const worker = "var/bench/stage3-worker.mjs"
    yield* Effect.sync(() =>
      buildSync({
        entryPoints: ["bench/stage3-worker.ts"],
        bundle: true,
        platform: "node",
        format: "esm",
        target: "node20",
        packages: "external",
        outfile: worker,
        logLevel: "warning"
      })
    )
    const output = yield* Command.make("node", worker, configFile, ...(CONCURRENCY === undefined ? [] : [String(CONCURRENCY)])).pipe(
      Command.stderr("inherit"),
      Command.string,
      Effect.timeout("300 seconds")
    )
    const last = output.trim().split("\n").at(-1) ?? ""
    return yield* Schema.decode(RunResult)(last)
  })

/**
 * The runbook's design, on the same RPC client: 8 workers, each device
 * sequential. Generous to the baseline: its CheckForUpdate/Sys.GetConfig
 * time out after 1 s (the runbook's OTA timeout is 20 s).
 */
const baselineDevice = (device: InventoryDevice, port: number) =>
  Effect.gen(function* () {
    const rpc = yield* ShellyRpc
    const target = { host: String(device.record.ip), port }
    const timeout = Duration.seconds(1)
    const pinged = yield* rpc.probe(target, Duration.millis(250))
    if (!pinged) {
      const fallback = yield* Methods.getStatus(target, { timeout }).pipe(Effect.either)
      if (Either.isLeft(fallback)) return "offline"
    }
    const check = yield* Methods.checkForUpdate(target, { timeout }).pipe(Effect.either)
    yield* Methods.sysGetConfig(target, { timeout }).pipe(Effect.either)
    return Either.isLeft(check) ? "check_failed" : check.right.stable === undefined ? "up_to_date" : "update_available"
  })

const runBaseline = (devices: ReadonlyArray<InventoryDevice>, port: number) =>
  Effect.gen(function* () {
    const started = performance.now()
    const statuses = yield* Effect.forEach(devices, (d) => baselineDevice(d, port), { concurrency: 8 })
    const counts: Record<string, number> = {}
    for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1
    return { seconds: (performance.now() - started) / 1000, counts }
  })

const benchSize = (devices: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "bench-stage3-" })
      const stateFile = path.join(dir, "ip_state.json")
      const configFile = path.join(dir, "config.yaml")
      const simStarted = performance.now()
      const sim = yield* startSimulator(devices, stateFile)
      yield* Console.log(`${sim.ready} (started in ${((performance.now() - simStarted) / 1000).toFixed(1)} s)`)
      yield* fs.writeFileString(
        configFile,
        [
          "stage3:",
          `  ip_state_file: ${stateFile}`,
          `  device_port: ${sim.port}`,
          "  ota:",
          "    mode: check_only",
          "  logging:",
          `    base_path: ${path.join(dir, "stage3.log")}`,
          ""
        ].join("\n")
      )
      const before = yield* fs.readFileString(stateFile)

      const run = yield* runStage3Worker(configFile)
      yield* Console.log(
        `stage3 devices=${run.total} concurrency=${CONCURRENCY ?? defaultAppConfig().stage3.concurrency} ok=${run.ok} failed=${run.failed} ota=${JSON.stringify(run.ota)}`
      )
      if ((yield* fs.readFileString(stateFile)) !== before) return yield* Effect.fail(new Error("dry run changed ip_state.json"))

      const inventory = yield* Inventory
      const all = (yield* inventory.load(stateFile)).devices
      const sampled = all.length > BASELINE_FULL_LIMIT
      // An evenly spread sample keeps the fleet's fault mix.
      const step = sampled ? all.length / BASELINE_SAMPLE : 1
      const sample = sampled ? Array.from({ length: BASELINE_SAMPLE }, (_, i) => all[Math.floor(i * step)]!) : all
      const baseline = yield* runBaseline(sample, sim.port)
      const baselineSeconds = baseline.seconds * (all.length / sample.length)
      yield* Console.log(
        sampled
          ? `baseline: EXTRAPOLATED from a ${sample.length}-device sample (${baseline.seconds.toFixed(2)} s × ${(all.length / sample.length).toFixed(0)}) ${JSON.stringify(baseline.counts)}`
          : `baseline: measured on all ${sample.length} devices ${JSON.stringify(baseline.counts)}`
      )
      yield* Console.log(
        `bench stage3 devices=${devices} wall_s=${run.wall_s.toFixed(2)} baseline_s=${baselineSeconds.toFixed(2)}` +
          ` speedup=${(baselineSeconds / run.wall_s).toFixed(1)} rss_mb=${run.rss_mb.toFixed(0)}`
      )
    })
  )

const program = Effect.forEach(SIZES, benchSize, { discard: true }).pipe(
  Effect.provide(Layer.mergeAll(InventoryLive, ShellyRpcLive)),
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(program)
