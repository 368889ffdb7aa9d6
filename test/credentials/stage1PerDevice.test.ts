// Stage 1 with `stage1.auth: per_device`, then Stage 2 on the same devices:
// each device gets its own password (data/device-secrets.yaml), Stage 2
// authenticates with it without any fleet password configured.
// Loopback block of this file: 127.91.0.0/16.
import { NodeContext } from "@effect/platform-node"
import { Effect, Exit, Option } from "effect"
import { readFileSync, statSync } from "node:fs"
import { expect, it } from "vitest"
import YAML from "yaml"
import { stage2Layer, stage2Program } from "../../src/app/stage2.js"
import { ha1For } from "../../src/shelly/digest.js"
import { runStage1Once, shellyPathHarness, stage1Section, stage2PoolSection } from "../stages/shellyPathHarness.js"
import * as RunOutput from "../../src/runtime/RunOutput.js"

const harness = shellyPathHarness({ net: "127.91", portBase: 19150, chdir: true })

it("stage1 per_device: a distinct random password per device, stored 0600 by MAC; stage2 uses them", async () => {
  const { fleet } = await harness.start(
    { devices: 2, faults: ["1-2=factory"] },
    {
      config: (q) => ({
        stage1: stage1Section(q, { auth: "per_device" }),
        stage2: stage2PoolSection(91, q.fleet.port)
      })
    }
  )
  const out: Array<string> = []
  const output = { out: (l: string) => out.push(l), err: (l: string) => out.push(`ERR ${l}`) }
  expect(await runStage1Once(fleet.controlUrl!, output)).toEqual(Exit.succeed(0))
  expect(await runStage1Once(fleet.controlUrl!, output)).toEqual(Exit.succeed(0))

  expect(statSync("data/device-secrets.yaml").mode & 0o777).toBe(0o600)
  const file = YAML.parse(readFileSync("data/device-secrets.yaml", "utf8")) as {
    devices: Record<string, { password: string; pending?: string }>
  }
  const passwords = fleet.devices.map((d) => file.devices[d.mac]?.password)
  expect(passwords.every((p) => typeof p === "string" && p.length >= 20)).toBe(true)
  expect(new Set(passwords).size).toBe(2)
  expect(Object.values(file.devices).every((e) => e.pending === undefined)).toBe(true)
  // The device holds exactly that password (its ha1), and auth is on.
  for (const d of fleet.devices) {
    expect(fleet.state(d.mac)!.auth.enabled).toBe(true)
    const sent = fleet.state(d.mac)!.rpcLog.find((e) => e.method === "Shelly.SetAuth")
    expect(sent?.transport).not.toBe("get")
    expect(JSON.stringify(sent)).not.toContain(ha1For(d.id, file.devices[d.mac]!.password))
  }
  expect(out.join("\n")).not.toContain(passwords[0]!)
  expect(readFileSync("var/log/stage1.log", "utf8")).not.toContain(passwords[0]!)

  const stage2 = stage2Program({ dryRun: false, macs: [], json: false, config: Option.none() }).pipe(
    Effect.provide(RunOutput.layer(output)),
    Effect.provide(stage2Layer),
    Effect.provide(NodeContext.layer)
  )
  expect(await Effect.runPromiseExit(stage2)).toEqual(Exit.succeed(0))
  expect(out.at(-1)).toBe("Stage 2 summary: total=2 ok=2 failed=0")
  expect(fleet.devices.map((d) => d.ip).sort()).toEqual(["127.91.90.1", "127.91.90.2"])
})
