// The run skeleton of Stage 1/2/3 (src/app/stageRun.ts): the order of its
// steps, what a dry run and a disabled stage skip, the exit code, and what a
// Ctrl+C during the run still writes and prints. Real config files on disk;
// the lock and the inventory are test doubles that log what was asked.
import { NodeContext } from "@effect/platform-node"
import { Deferred, Effect, Fiber, FiberId, Layer } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { runStage } from "../../src/app/stageRun.js"
import { LockHeld } from "../../src/domain/errors/inventory.js"
import { Inventory, ProjectLock } from "../../src/inventory/Inventory.js"
import * as RunOutput from "../../src/runtime/RunOutput.js"
import { makeTestLayer } from "../support/makeTestLayer.js"

let dir: string | undefined
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
})

const configFile = (yaml: string) => {
  dir = mkdtempSync(join(tmpdir(), "stage-run-"))
  const file = join(dir, "config.yaml")
  writeFileSync(file, yaml)
  return file
}

interface Result {
  readonly mac: string
  readonly failed: boolean
}

/** A stage whose every step logs itself; `run` yields `results` through `record`. */
const harness = (options: {
  readonly file: string
  readonly dryRun?: boolean
  readonly json?: boolean
  readonly results?: ReadonlyArray<Result>
  readonly lockHeld?: boolean
  /** Opened once the first result is recorded; the run then waits forever (for a Ctrl+C). */
  readonly recorded?: Deferred.Deferred<void>
}) => {
  const steps: Array<string> = []
  const lines: Array<string> = []
  const step = (name: string) => Effect.sync(() => void steps.push(name))
  const lock = makeTestLayer(ProjectLock)({
    acquire: (command) =>
      options.lockHeld === true
        ? Effect.fail(new LockHeld({ lockPath: "var/run/provision.lock", pid: 1, command: "stage3", since: "now" }))
        : step(`lock ${command}`)
  })
  const inventory = makeTestLayer(Inventory)({
    load: (path) => Effect.as(step(`load ${path}`), { path, format: "wrapped" as const, envelope: {}, devices: [] })
  })
  const program = runStage({
    title: "Stage 2",
    key: "stage2",
    configFile: options.file,
    dryRun: options.dryRun ?? false,
    json: options.json,
    section: (app) => app.stage2,
    prepare: () => Effect.as(step("prepare"), "prepared"),
    load: () => Effect.flatMap(Inventory, (inv) => inv.load("ip_state.json")),
    start: (prepared) => Effect.as(step(`start ${prepared}`), "started"),
    run: (_, { record }) =>
      Effect.gen(function* () {
        yield* step("run")
        for (const result of options.results ?? []) yield* record(result)
        if (options.recorded !== undefined) {
          yield* Deferred.succeed(options.recorded, undefined)
          return yield* Effect.never
        }
        return undefined
      }),
    write: (_, results) => step(`write ${results.length}`),
    summary: (_, results) => Effect.flatMap(RunOutput.RunOutput, (output) => output.result(`summary total=${results.length}`)),
    failed: (result: Result) => result.failed,
    finishOnInterrupt: true
  })
  const layer = Layer.mergeAll(lock, inventory, RunOutput.layer({ out: (l) => lines.push(l), err: (l) => lines.push(`ERR ${l}`) }))
  return { steps, lines, program: program.pipe(Effect.provide(layer), Effect.provide(NodeContext.layer)) }
}

describe("runStage", () => {
  it("runs prepare → lock → load → start → run → write → summary, and exits 1 when a device failed", async () => {
    const h = harness({
      file: configFile("stage2:\n  enabled: true\n"),
      results: [
        { mac: "A", failed: false },
        { mac: "B", failed: true }
      ]
    })
    expect(await Effect.runPromise(h.program)).toBe(1)
    expect(h.steps).toEqual(["prepare", "lock stage2", "load ip_state.json", "start prepared", "run", "write 2"])
    expect(h.lines).toEqual(["summary total=2"])
  })

  it("a dry run takes no lock and writes nothing; all ok → exit 0", async () => {
    const h = harness({ file: configFile("stage2:\n  enabled: true\n"), dryRun: true, results: [{ mac: "A", failed: false }] })
    expect(await Effect.runPromise(h.program)).toBe(0)
    expect(h.steps).toEqual(["prepare", "load ip_state.json", "start prepared", "run"])
    expect(h.lines).toEqual(["summary total=1"])
  })

  it("a disabled stage says so and touches nothing; config warnings come first", async () => {
    const file = configFile("stage2:\n  enabled: false\n  mdoe: x\n")
    const h = harness({ file })
    expect(await Effect.runPromise(h.program)).toBe(0)
    expect(h.steps).toEqual([])
    expect(h.lines.at(-1)).toBe(`Stage 2 is disabled (stage2.enabled: false in ${file}); nothing to do.`)
    expect(h.lines.slice(0, -1).every((l) => l.startsWith("ERR warning: "))).toBe(true)
    expect(h.lines.length).toBeGreaterThan(1)
  })

  it("a disabled stage under --json answers with a JSON line on stdout and the sentence on stderr", async () => {
    const file = configFile("stage2:\n  enabled: false\n")
    const h = harness({ file, json: true })
    expect(await Effect.runPromise(h.program)).toBe(0)
    expect(h.steps).toEqual([])
    expect(h.lines).toEqual([
      `ERR Stage 2 is disabled (stage2.enabled: false in ${file}); nothing to do.`,
      JSON.stringify({ type: "disabled", stage: "stage2", setting: "stage2.enabled", config_file: file })
    ])
  })

  it("a held lock fails the run after prepare and before the inventory is read", async () => {
    const h = harness({ file: configFile("stage2:\n  enabled: true\n"), lockHeld: true })
    const error = await Effect.runPromise(Effect.flip(h.program))
    expect(error._tag).toBe("LockHeld")
    expect(h.steps).toEqual(["prepare"])
  })

  it("Ctrl+C during the run: the devices finished so far are written and summarised", async () => {
    const recorded = Deferred.unsafeMake<void>(FiberId.none)
    const h = harness({ file: configFile("stage2:\n  enabled: true\n"), results: [{ mac: "A", failed: false }], recorded })
    await Effect.runPromise(
      Effect.gen(function* () {
        const fiber = yield* Effect.fork(h.program)
        yield* Deferred.await(recorded)
        yield* Fiber.interrupt(fiber)
      })
    )
    expect(h.steps.at(-1)).toBe("write 1")
    expect(h.lines).toEqual(["summary total=1"])
  })
})
