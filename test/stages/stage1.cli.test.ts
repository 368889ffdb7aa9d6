// `provision stage1`'s program in-process on a temp project (cwd), with the
// simulated WiFi layer (--wifi-sim) and the real RPC client, inventory and lock.
// Loopback block of this file: 127.52.0.0/16.
import { NodeContext } from "@effect/platform-node"
import { Effect, Exit, Fiber, Layer, Option, Schedule } from "effect"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import type { FleetHandle } from "../../sim/shelly/index.js"
import { stage1Layer, stage1Program } from "../../src/app/stage1.js"
import type { Stage1Flags } from "../../src/app/stage1.js"
import { ProjectLock } from "../../src/inventory/Inventory.js"
import { ProjectLockLive } from "../../src/inventory/index.js"
import { shellyPathHarness, stage1Section } from "./shellyPathHarness.js"
import * as RunOutput from "../../src/runtime/RunOutput.js"

const harness = shellyPathHarness({ net: "127.52", portBase: 18600, chdir: true })
const project = async (
  devices: number,
  faults: ReadonlyArray<string>,
  wifiPassword = "prod-wifi-pw",
  stage1: Record<string, unknown> = {}
) => (await harness.start({ devices, faults: [...faults] }, { wifiPassword, config: (q) => ({ stage1: stage1Section(q, stage1) }) })).fleet

const flags = (f: FleetHandle, over: Partial<Stage1Flags> = {}): Stage1Flags => ({
  secrets: Option.none(),
  config: Option.none(),
  dryRun: false,
  log: Option.none(),
  loop: Option.some(false),
  wifiSim: Option.some(f.controlUrl!),
  ...over
})

const runCli = async (f: FleetHandle, over: Partial<Stage1Flags> = {}, extra?: Layer.Layer<never>) => {
  const out: Array<string> = []
  const err: Array<string> = []
  const exit = await Effect.runPromiseExit(
    stage1Program(flags(f, over)).pipe(
      Effect.provide(RunOutput.layer({ out: (l) => out.push(l), err: (l) => err.push(l) })),
      Effect.provide(stage1Layer),
      Effect.provide(extra ?? Layer.empty),
      Effect.provide(NodeContext.layer)
    )
  )
  return { exit, out, err }
}

describe("provision stage1 (program)", () => {
  it("prints the runbook's lines and the summary, logs to var/log/stage1.log, records the device", async () => {
    const f = await project(1, ["1=factory"])
    const { exit, out } = await runCli(f)
    expect(exit).toEqual(Exit.succeed(0))
    const ip = f.devices[0]!.ip
    expect(out).toEqual([
      "[config: loaded file=data/secrets.yaml dry_run=False]",
      "[stage1: waiting for Shelly AP]",
      "[stage1: connected to Shelly AP]",
      "[rpc: read device info]",
      "[rpc: apply WiFi + disable cloud/ap/mqtt]",
      `[stage1: device joined WiFi at ${ip}]`,
      "Stage 1 summary: total=1 ok=1 failed=0"
    ])
    const log = readFileSync("var/log/stage1.log", "utf8")
    expect(log).toContain(`[stage1: device joined WiFi at ${ip}]`)
    expect(log).not.toContain("prod-wifi-pw")
    const state = JSON.parse(readFileSync("data/ip_state.json", "utf8")) as Record<string, { ip: string }>
    expect(Object.values(state).map((d) => d.ip)).toEqual([ip])
    // the lock is released at the end
    expect(existsSync("var/run/provision.lock")).toBe(false)
  })

  it("a failed device gives exit code 1 and the summary counts it", async () => {
    const f = await project(1, ["1=factory"], "not-the-password", { timeouts: { join: 2 } })
    const { exit, out } = await runCli(f)
    expect(exit).toEqual(Exit.succeed(1))
    expect(out.at(-1)).toBe("Stage 1 summary: total=1 ok=0 failed=1")
    expect(out.join("\n")).not.toContain("not-the-password")
  })

  it("stage1.timeouts.stability turns on the reboot-loop watch: once mode watches at the end; a looping device fails with the short-reset fix and is marked failed in ip_state.json", async () => {
    // Time scale 0.05: the loop restarts the device 4.5 s after boot (uptime counts
    // device seconds, so it drops from about 90 to 0); an 8 s window sees it.
    const { fleet: f } = await harness.start(
      { devices: 1, faults: ["1=factory,reboot_loop"], timeScale: 0.05 },
      { config: (q) => ({ stage1: stage1Section(q, { timeouts: { stability: 8 } }) }) }
    )
    const { exit, out } = await runCli(f)
    expect(exit).toEqual(Exit.succeed(1))
    const joined = out.findIndex((l) => l.startsWith("[stage1: device joined WiFi at"))
    const watching = out.findIndex((l) =>
      /^\[stage1: watching 1 device\(s\) for reboot loops, up to \d+s left — Ctrl\+C to skip\]$/.test(l)
    )
    const failure = out.findIndex((l) => l.startsWith("[stage1: failed"))
    expect([joined, watching, failure].every((i) => i > 0)).toBe(true)
    expect(joined).toBeLessThan(watching)
    expect(watching).toBeLessThan(failure)
    expect(out[failure]).toContain("reboot loop")
    expect(out[failure]).toContain("10 s reset (short press), not the factory reset")
    expect(out.at(-1)).toBe("Stage 1 summary: total=1 ok=0 failed=1")
    // Kept (it is on the network) but marked, so Stage 2 leaves it alone.
    const state = JSON.parse(readFileSync("data/ip_state.json", "utf8")) as Record<string, { ip: string; stage1: Record<string, unknown> }>
    expect(Object.values(state)).toMatchObject([{ ip: f.devices[0]!.ip, stage1: { status: "failed", error: { code: "reboot_loop" } } }])
    expect(Object.values(state)[0]!.stage1.error).toMatchObject({ hint: expect.stringContaining("10 s reset") })
  })

  it("once mode: Ctrl+C during the end-of-run watch ends it; the device stays unverified (not failed) in the summary and the inventory", async () => {
    const { fleet: f } = await harness.start(
      { devices: 1, faults: ["1=factory"] },
      { config: (q) => ({ stage1: stage1Section(q, { timeouts: { stability: 60 } }) }) }
    )
    const out: Array<string> = []
    const exit = await Effect.runPromise(
      Effect.gen(function* () {
        const fiber = yield* Effect.fork(
          stage1Program(flags(f)).pipe(
            Effect.provide(RunOutput.layer({ out: (l) => out.push(l), err: (l) => out.push(l) })),
            Effect.provide(stage1Layer),
            Effect.provide(NodeContext.layer)
          )
        )
        yield* Effect.sync(() => out.some((l) => l.includes("for reboot loops, up to"))).pipe(
          Effect.repeat({ until: (seen) => seen, schedule: Schedule.spaced("20 millis") }),
          Effect.timeout("20 seconds")
        )
        // Ctrl+C: what runMain does to the program's fiber.
        return yield* Fiber.interrupt(fiber)
      })
    )
    expect(Exit.isInterrupted(exit)).toBe(true)
    expect(out.slice(-3)).toEqual([
      expect.stringMatching(/^\[stage1: watching 1 device\(s\) for reboot loops, up to (59|60)s left — Ctrl\+C to skip\]$/),
      "[stage1: reboot-loop watch cut short by Ctrl+C — 1 device(s) unverified]",
      "Stage 1 summary: total=1 ok=0 failed=0 unverified=1"
    ])
    const state = JSON.parse(readFileSync("data/ip_state.json", "utf8")) as Record<string, { stage1: Record<string, unknown> }>
    expect(Object.values(state)).toMatchObject([{ stage1: { status: "unverified", error: { code: "reboot_watch_skipped" } } }])
    expect(existsSync("var/run/provision.lock")).toBe(false)
  })

  it("--dry-run says dry_run=True, switches no WiFi and takes no lock", async () => {
    const f = await project(1, ["1=factory"])
    const { exit, out } = await runCli(f, { dryRun: true })
    expect(exit).toEqual(Exit.succeed(0))
    expect(out[0]).toBe("[config: loaded file=data/secrets.yaml dry_run=True]")
    expect(out).toContain(`[stage1: dry-run: would provision ${f.devices[0]!.apSsid}]`)
    expect(f.devices[0]!.mode).toBe("ap")
  })

  it("refuses with LockHeld while another run holds the project lock", async () => {
    const f = await project(1, ["1=factory"])
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Effect.flatMap(ProjectLock, (lock) => lock.acquire("stage2"))
          return yield* Effect.promise(() => runCli(f))
        })
      ).pipe(Effect.provide(ProjectLockLive), Effect.provide(NodeContext.layer))
    )
    expect(Exit.isFailure(result.exit)).toBe(true)
    expect(JSON.stringify(result.exit)).toContain("LockHeld")
    expect(f.devices[0]!.mode).toBe("ap")
  })

  it("a missing wifi.sta secret is ConfigInvalid naming the field", async () => {
    const f = await project(1, ["1=factory"])
    writeFileSync("data/secrets.yaml", "mqtt: { user: x }\n")
    const { exit } = await runCli(f)
    expect(JSON.stringify(exit)).toContain("wifi.sta")
  })
})
