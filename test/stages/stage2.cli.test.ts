// `provision stage2`'s program in-process on a temp project (cwd) against the
// simulator. Loopback block of this file: 127.54.0.0/16.
import { NodeContext } from "@effect/platform-node"
import { Effect, Either, Exit, Option } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { stage2Layer, stage2Program } from "../../src/app/stage2.js"
import type { Stage2Flags } from "../../src/app/stage2.js"
import { ProjectLock } from "../../src/inventory/Inventory.js"
import { ProjectLockLive } from "../../src/inventory/index.js"
import { parsePlan } from "../../src/stages/stage2/plan.js"
import { shellyPathHarness } from "./shellyPathHarness.js"
import * as RunOutput from "../../src/runtime/RunOutput.js"

const harness = shellyPathHarness({ net: "127.54", portBase: 18800, chdir: true })
let block = 0
const pool = (n: number) => `127.54.${150 + block}.${n}`
const project = async (devices: number, stage2?: Record<string, unknown>) => {
  const p = await harness.start(
    { devices, control: false },
    {
      inventory: true,
      config: (q) => ({
        stage2: {
          device_port: q.fleet.port,
          ...(stage2 ?? {
            subnet: "127.54.0.0/16",
            gateway: "127.54.0.254",
            pool: { start: `127.54.${150 + q.block}.1`, end: `127.54.${150 + q.block}.10` },
            naming_pattern: "{app}-{ip_last}",
            timeouts: { rpc: 1, verify: 3 }
          })
        }
      })
    }
  )
  block = p.block
  return p.fleet
}

const run = async (over: Partial<Stage2Flags> = {}) => {
  const out: Array<string> = []
  const err: Array<string> = []
  const flags: Stage2Flags = { dryRun: false, macs: [], json: false, config: Option.none(), ...over }
  const exit = await Effect.runPromiseExit(
    stage2Program(flags).pipe(
      Effect.provide(RunOutput.layer({ out: (l) => out.push(l), err: (l) => err.push(l) })),
      Effect.provide(stage2Layer),
      Effect.provide(NodeContext.layer)
    )
  )
  return { exit, out, err }
}

describe("provision stage2 (program)", () => {
  it("one line per device, the summary, and the inventory updated; plan.csv names one device", async () => {
    const f = await project(2)
    writeFileSync("data/plan.csv", `mac,ip,name,room\n${f.devices[1]!.mac},${pool(7)},Bad Flur,Flur\n`)
    const { exit, out } = await run()
    expect(exit).toEqual(Exit.succeed(0))
    const [a, b] = f.devices
    expect(out).toEqual([
      `● ${a!.app} @ ${pool(1)} - IP=static (was 127.54.${block}.1) | Name=ok (${a!.app}-1)`,
      `● ${b!.app} @ ${pool(7)} - IP=static (was 127.54.${block}.2) | Name=ok (Bad Flur)`,
      "Stage 2 summary: total=2 ok=2 failed=0"
    ])
    const state = JSON.parse(readFileSync("data/ip_state.json", "utf8")) as Record<string, { ip: string; friendly_name: string }>
    expect(Object.values(state).map((d) => [d.ip, d.friendly_name])).toEqual([
      [pool(1), `${a!.app}-1`],
      [pool(7), "Bad Flur"]
    ])
  })

  it("--mac limits the run and --json prints JSON lines", async () => {
    const f = await project(2)
    const { out } = await run({ macs: [f.devices[1]!.mac], json: true })
    const lines = out.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatchObject({ type: "device", status: "ok", ip: pool(1) })
    expect(lines[1]).toEqual({ type: "summary", total: 1, ok: 1, failed: 0 })
    expect(f.devices[0]!.ip).toBe(`127.54.${block}.1`)
  })

  it("missing network settings are ConfigInvalid naming each field; nothing touched", async () => {
    const f = await project(1, { enabled: true })
    const { exit } = await run()
    const text = JSON.stringify(exit)
    expect(text).toContain("stage2.subnet")
    expect(text).toContain("stage2.gateway")
    expect(text).toContain("stage2.pool")
    expect(f.devices[0]!.ip).toBe(`127.54.${block}.1`)
  })

  it("refuses with LockHeld while Stage 1 holds the lock", async () => {
    const f = await project(1)
    const result = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* Effect.flatMap(ProjectLock, (lock) => lock.acquire("stage1"))
          return yield* Effect.promise(() => run())
        })
      ).pipe(Effect.provide(ProjectLockLive), Effect.provide(NodeContext.layer))
    )
    expect(JSON.stringify(result.exit)).toContain("LockHeld")
    expect(f.devices[0]!.ip).toBe(`127.54.${block}.1`)
  })
})

describe("plan.csv", () => {
  it("parses quoted cells and reports bad rows with file:line", () => {
    const ok = parsePlan("data/plan.csv", 'mac,ip,name,room\nA1:B2:C3:D4:E5:F6,192.0.2.5,"Küche, links",Küche\n')
    expect(Either.isRight(ok) && [...ok.right.values()]).toEqual([{ ip: "192.0.2.5", name: "Küche, links", room: "Küche" }])
    const bad = parsePlan("data/plan.csv", "mac,ip\nnot-a-mac,1.2.3.4\nA1B2C3D4E5F6,1.2.3.4\nA1B2C3D4E5F7,1.2.3.4\n")
    expect(Either.isLeft(bad) && bad.left.map((p) => p.split(":").slice(0, 2).join(":"))).toEqual(["data/plan.csv:2", "data/plan.csv:4"])
    expect(Either.isLeft(parsePlan("p.csv", "ip,name\n"))).toBe(true)
  })

  it("keeps a quoted line break inside its cell and counts lines after it right", () => {
    const text = 'mac,ip,name,room\nA1:B2:C3:D4:E5:F6,192.0.2.5,"Küche\nlinks",Küche\nnot-a-mac,192.0.2.6,x,y\n'
    const parsed = parsePlan("data/plan.csv", text)
    expect(Either.isLeft(parsed) && parsed.left.map((p) => p.split(":").slice(0, 2).join(":"))).toEqual(["data/plan.csv:4"])
    const ok = parsePlan("data/plan.csv", text.split("\n").slice(0, 3).join("\n"))
    expect(Either.isRight(ok) && [...ok.right.values()]).toEqual([{ ip: "192.0.2.5", name: "Küche\nlinks", room: "Küche" }])
  })

  it("reads a German-locale spreadsheet's semicolons, comment lines and CRLF", () => {
    const parsed = parsePlan("data/plan.csv", '# Haus 2\r\nmac;ip;name;room\r\nA1:B2:C3:D4:E5:F6;192.0.2.5;"Bad; oben";Bad\r\n# spare\r\n')
    expect(Either.isRight(parsed) && [...parsed.right.values()]).toEqual([{ ip: "192.0.2.5", name: "Bad; oben", room: "Bad" }])
    expect(parsePlan("p.csv", 'mac\n"A1:B2\n')).toEqual(Either.left(["p.csv: line 2: a quoted field is never closed"]))
  })
})
