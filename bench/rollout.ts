/**
 * `npm run bench:rollout` — a pinned-version rollout in three waves
 * (5 %, 25 %, 100 %) over 1000 simulated devices, each updating from the
 * firmware route of `serve --rollout-only` (src/web/firmware.ts) and taking
 * a fixed simulated update time (the simulator's updateMs + bootMs: 10 s of
 * flashing and a 5 s reboot at time scale 1). Up to `stage3.concurrency`
 * (256, the default) devices update at once, so a wave of n devices needs at
 * least ceil(n / 256) × 15 s of device time — 5 × 15 s = 75 s for the three
 * waves (50, 200, 750); everything above it is the rollout's overhead: identity
 * reads, Shelly.Update, 1000 downloads, polling until the version shows,
 * the per-wave inventory and state writes. Prints
 *   bench rollout devices=1000 waves=3 wall_s=<x> device_wait_s=<y> overhead_pct=<(x-y)/y·100>
 *
 * The simulator runs as its own process (`provision sim shelly`) on
 * 127.102.0.0/16 and the firmware server as `provision serve --rollout-only`
 * (as on the Pi), so their work does not count as ours; Stage 3 runs here,
 * in-process, on the real Live layers.
 */
import { Command, FileSystem, Path } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Option, Stream } from "effect"
import { findModel, makeFirmwareImage } from "../sim/shelly/index.js"
import { defaultStage3Flags, stage3Program } from "../src/app/stage3.js"
import * as RunOutput from "../src/runtime/RunOutput.js"
import { addFirmware } from "../src/firmware/cache.js"
import { inventoryLayer, projectLockLayer } from "../src/inventory/index.js"
import { ShellyRpcLive } from "../src/shelly/ShellyRpcLive.js"

const DEVICES = Number(process.env.BENCH_DEVICES ?? 1000)
const WAVES = "5%,25%,100%"
const TIME_SCALE = Number(process.env.BENCH_TIME_SCALE ?? 1)
/** The simulator's nominal delays (sim/shelly/fleet.ts defaultDelays): flash 10 s, reboot 5 s. */
const UPDATE_MS = 10_000
const BOOT_MS = 5_000
const APPS = ["S2PMG3", "S1PMG3", "Mini1PMG3", "I4G3", "Plus1PM"]
const TARGET = "1.7.5"
/** Devices updating at once: the product default (stage3.concurrency). */
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 256)

const lines = (stream: Stream.Stream<Uint8Array, unknown>) => stream.pipe(Stream.decodeText(), Stream.splitLines)

const startSimulator = (stateFile: string) =>
  Effect.gen(function* () {
    const sim = yield* Command.make(
      "node",
      "bin/provision.mjs",
      "sim",
      "shelly",
      "--devices",
      String(DEVICES),
      "--base-ip",
      "127.102.0.1",
      "--port",
      "28180",
      "--seed",
      "7",
      "--time-scale",
      String(TIME_SCALE),
      "--state-file",
      stateFile,
      "--control-port",
      "0"
    ).pipe(Command.start)
    yield* Effect.addFinalizer(() => sim.kill("SIGTERM").pipe(Effect.ignore))
    yield* lines(sim.stderr).pipe(
      Stream.runForEach((l) => Console.error(`[sim] ${l}`)),
      Effect.forkScoped
    )
    const ready = yield* lines(sim.stdout).pipe(
      Stream.filter((l) => l.startsWith("sim shelly ready")),
      Stream.runHead,
      Effect.timeoutFail({ duration: "180 seconds", onTimeout: () => new Error("simulator did not get ready in 180 s") }),
      Effect.flatMap((l) => (l._tag === "Some" ? Effect.succeed(l.value) : Effect.fail(new Error("simulator exited before ready"))))
    )
    return { port: Number(/port=(\d+)/.exec(ready)?.[1]), control: /control=(\S+)/.exec(ready)?.[1], ready }
  })

const bench = Effect.scoped(
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "bench-rollout-" })
    const stateFile = path.join(dir, "ip_state.json")
    const configFile = path.join(dir, "config.yaml")
    const firmwareDir = path.join(dir, "firmware")
    const sim = yield* startSimulator(stateFile)
    yield* Console.log(sim.ready)

    for (const app of APPS) {
      const model = findModel(app)!
      const file = path.join(dir, `${app}.zip`)
      yield* fs.writeFile(file, makeFirmwareImage({ app, model: model.model, version: TARGET, size: 256 * 1024 }))
      yield* addFirmware({ file, model: app, version: TARGET, dir: firmwareDir, now: new Date().toISOString() })
    }
    yield* fs.writeFileString(configFile, `stage3:\n  ota:\n    firmware_dir: ${firmwareDir}\n`)
    // The firmware server in its own process, as on the Pi (`provision serve --rollout-only`).
    const serve = yield* Command.make(
      "node",
      "bin/provision.mjs",
      "serve",
      "--rollout-only",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--config",
      configFile
    ).pipe(Command.start)
    yield* Effect.addFinalizer(() => serve.kill("SIGTERM").pipe(Effect.ignore))
    yield* lines(serve.stderr).pipe(
      Stream.runForEach((l) => Console.error(`[serve] ${l}`)),
      Effect.forkScoped
    )
    const servedLine = yield* lines(serve.stdout).pipe(
      Stream.filter((l) => l.startsWith("provision firmware server: ")),
      Stream.runHead,
      Effect.timeoutFail({ duration: "120 seconds", onTimeout: () => new Error("serve --rollout-only did not start in 120 s") }),
      Effect.flatMap((l) => (l._tag === "Some" ? Effect.succeed(l.value) : Effect.fail(new Error("serve exited before ready"))))
    )
    const served = { url: /(http:\/\/\S+?)firmware\//.exec(servedLine)![1]! }
    yield* fs.writeFileString(
      configFile,
      [
        "stage3:",
        `  ip_state_file: ${stateFile}`,
        `  device_port: ${sim.port}`,
        `  concurrency: ${CONCURRENCY}`,
        // Identity/probe timeouts well above the runbook's 0.25 s / 1 s: on a
        // shared, loaded machine a starved process must not read as an
        // offline device; this bench measures the rollout, not offline detection.
        "  probe_timeout_ms: 5000",
        "  fallback_timeout_ms: 10000",
        "  friendly:",
        "    enabled: false",
        "  ota:",
        "    mode: check_and_update",
        `    firmware_dir: ${firmwareDir}`,
        `    firmware_url: ${served.url.replace(/\/$/, "")}`,
        "    target:",
        ...APPS.map((app) => `      ${app}: ${TARGET}`),
        "  update_wait:",
        "    timeout: 120",
        // Poll every 0.5 s: finer polling costs more requests than it saves in latency.
        "    interval: 0.5",
        "  rollout:",
        `    state_file: ${path.join(dir, "rollout.json")}`,
        "    halt_after: 0",
        "  logging:",
        `    base_path: ${path.join(dir, "stage3.log")}`,
        ""
      ].join("\n")
    )

    const out: Array<string> = []
    /** When each rollout line arrived, for the per-wave figures. */
    const at = new Map<string, number>()
    const layer = Layer.mergeAll(
      ShellyRpcLive,
      inventoryLayer({ runDir: path.join(dir, "run") }),
      projectLockLayer({ runDir: path.join(dir, "run") })
    )
    const started = performance.now()
    const code = yield* stage3Program({ ...defaultStage3Flags, config: Option.some(configFile), quiet: true, rollout: WAVES }).pipe(
      Effect.provide(layer),
      Effect.provide(
        RunOutput.layer({
          out: (l) => {
            out.push(l)
            if (l.startsWith("[rollout]")) at.set(l.replace(/ (done|failed):.*| \d+ devices$/, ""), performance.now())
          },
          err: (l) => out.push(l)
        })
      )
    )
    const wall = (performance.now() - started) / 1000
    for (const line of out.filter((l) => l.startsWith("[rollout") || l.startsWith("Stage 3 summary"))) yield* Console.log(line)
    for (const line of out.filter((l) => l.startsWith("  ")).slice(0, 8)) yield* Console.log(line)
    if (code !== 0) {
      const log = (yield* fs.readFileString(path.join(dir, "stage3.log"))).split("\n").filter((l) => / failed| ERR| error/i.test(l))
      for (const line of log.slice(0, 3)) yield* Console.error(`[log] ${line}`)
      // What the simulator says about the first failed devices (its control API).
      for (const mac of out
        .filter((l) => l.startsWith("  "))
        .slice(0, 3)
        .map((l) => l.trim().split(" ")[0]!)) {
        const state = yield* Effect.promise(() =>
          fetch(`${sim.control}/devices/${mac}`).then((r) => r.json() as Promise<{ fw: string; reboots: number; lastError: string | null }>)
        )
        yield* Console.error(`[sim] ${mac} fw=${state.fw} reboots=${state.reboots} lastError=${state.lastError}`)
      }
    }
    const waves = out.filter((l) => /^\[rollout\] wave \d+\/\d+ done/.test(l)).length
    if (code !== 0 || waves !== 3)
      return yield* Effect.fail(new Error(`rollout did not finish cleanly (exit ${code}, ${waves} waves done)`))
    const state = JSON.parse(yield* fs.readFileString(path.join(dir, "rollout.json"))) as { waves: Array<{ devices: Array<string> }> }
    const perDevice = ((UPDATE_MS + BOOT_MS) * TIME_SCALE) / 1000
    for (const [i, wave] of state.waves.entries()) {
      const start = at.get(`[rollout] wave ${i + 1}/${state.waves.length}:`),
        end = at.get(`[rollout] wave ${i + 1}/${state.waves.length}`)
      if (start !== undefined && end !== undefined) {
        yield* Console.log(
          `wave ${i + 1}: devices=${wave.devices.length} wall_s=${((end - start) / 1000).toFixed(2)} device_s=${(Math.ceil(wave.devices.length / CONCURRENCY) * perDevice).toFixed(2)}`
        )
      }
    }
    const deviceWait = state.waves.reduce((s, w) => s + Math.ceil(w.devices.length / CONCURRENCY) * perDevice, 0)
    yield* Console.log(
      `bench rollout devices=${DEVICES} waves=${state.waves.length} wall_s=${wall.toFixed(2)} device_wait_s=${deviceWait.toFixed(2)}` +
        ` overhead_pct=${(((wall - deviceWait) / deviceWait) * 100).toFixed(1)}`
    )
  })
)

NodeRuntime.runMain(bench.pipe(Effect.provide(NodeContext.layer)))
