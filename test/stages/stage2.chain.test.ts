// Factory-new devices through Stage 1 (twice, once mode) and then Stage 2:
// the adoption records Stage 1 writes are what Stage 2 places.
// Loopback block of this file: 127.56.0.0/16.
import { NodeContext } from "@effect/platform-node"
import { Effect, Exit, Option } from "effect"
import { readFileSync } from "node:fs"
import { expect, it } from "vitest"
import { stage2Layer, stage2Program } from "../../src/app/stage2.js"
import { runStage1Once, shellyPathHarness, stage1Section, stage2PoolSection } from "./shellyPathHarness.js"
import * as RunOutput from "../../src/runtime/RunOutput.js"

const harness = shellyPathHarness({ net: "127.56", portBase: 18950, chdir: true })

it("stage1 adopts two factory devices, stage2 moves them to static pool addresses with names", async () => {
  const { fleet } = await harness.start(
    { devices: 2, faults: ["1-2=factory"] },
    {
      config: (q) => ({
        stage1: stage1Section(q),
        stage2: stage2PoolSection(56, q.fleet.port)
      })
    }
  )
  const out: Array<string> = []
  const output = { out: (l: string) => out.push(l), err: (l: string) => out.push(`ERR ${l}`) }
  expect(await runStage1Once(fleet.controlUrl!, output)).toEqual(Exit.succeed(0))
  expect(await runStage1Once(fleet.controlUrl!, output)).toEqual(Exit.succeed(0))
  expect(fleet.devices.map((d) => d.ip?.startsWith("127.56.201."))).toEqual([true, true])

  const stage2 = stage2Program({ dryRun: false, macs: [], json: false, config: Option.none() }).pipe(
    Effect.provide(RunOutput.layer(output)),
    Effect.provide(stage2Layer),
    Effect.provide(NodeContext.layer)
  )
  expect(await Effect.runPromiseExit(stage2)).toEqual(Exit.succeed(0))
  expect(out.at(-1)).toBe("Stage 2 summary: total=2 ok=2 failed=0")
  const ips = fleet.devices.map((d) => d.ip).sort()
  expect(ips).toEqual(["127.56.90.1", "127.56.90.2"])
  const state = JSON.parse(readFileSync("data/ip_state.json", "utf8")) as Record<
    string,
    { ip: string; stage1: { status: string }; stage2: { status: string } }
  >
  expect(Object.values(state).map((d) => [d.stage1.status, d.stage2.status])).toEqual([
    ["ok", "ok"],
    ["ok", "ok"]
  ])
  expect(
    Object.values(state)
      .map((d) => d.ip)
      .sort()
  ).toEqual(ips)
})
