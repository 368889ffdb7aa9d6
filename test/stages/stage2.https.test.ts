// Stage 2 (stage2Program in-process, the real RPC client and file system)
// against simulated devices that serve their API over HTTPS only (traits
// `https` / `https_new_cert`, sim/shelly/tlsCerts.ts), with `stage1.https`
// on: named and given their static address over TLS, held to the per-MAC pins
// (src/shelly/certPins.ts) at the old address and the new one; a changed
// certificate fails only that device, nothing sent to it, files untouched.
// Loopback block of this file: 127.134.0.0/16.
import { NodeContext } from "@effect/platform-node"
import { Effect, Exit, Option } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { deviceCertA, deviceCertB } from "../../sim/shelly/tlsCerts.js"
import { stage2Layer, stage2Program } from "../../src/app/stage2.js"
import { pinKey } from "../../src/shelly/certPins.js"
import * as RunOutput from "../../src/runtime/RunOutput.js"
import { shellyPathHarness, stage2PoolSection } from "./shellyPathHarness.js"

const harness = shellyPathHarness({ net: "127.134", portBase: 21500, chdir: true })
const pinFile = "data/shelly_cert_pins.json"

const project = async (faults: ReadonlyArray<string>) => {
  const p = await harness.start(
    { devices: 2, control: false, faults },
    {
      inventory: true,
      config: (q) => ({
        // HTTPS is one setting for all stages: stage1.https (README "HTTPS").
        stage1: { https: { enabled: true } },
        stage2: { ...stage2PoolSection(134, q.fleet.port), naming_pattern: "{app}-{ip_last}" }
      })
    }
  )
  return p.fleet
}

const run = async () => {
  const out: Array<string> = []
  const err: Array<string> = []
  const exit = await Effect.runPromiseExit(
    stage2Program({ dryRun: false, macs: [], json: false, config: Option.none() }).pipe(
      Effect.provide(RunOutput.layer({ out: (l) => out.push(l), err: (l) => err.push(l) })),
      Effect.provide(stage2Layer),
      Effect.provide(NodeContext.layer)
    )
  )
  return { exit, out, err }
}

const pinDocument = (pins: ReadonlyArray<readonly [string, string]>) =>
  `${JSON.stringify(
    {
      version: 1,
      pins: Object.fromEntries(pins.map(([mac, sha256]) => [pinKey(mac), { sha256, pinned_at: "2026-12-01T10:00:00.000Z" }]))
    },
    null,
    2
  )}\n`

describe("Stage 2 over HTTPS (stage1.https)", () => {
  it("names and places pinned devices over TLS, and pins an unpinned one on first use", async () => {
    const f = await project(["all=https"])
    const [a, b] = f.devices
    // Device 1 was pinned by Stage 1; device 2 has no pin yet.
    writeFileSync(pinFile, pinDocument([[a!.mac, deviceCertA.sha256]]))
    const fromA = a!.ip
    const fromB = b!.ip
    const { exit, out, err } = await run()
    expect(err).toEqual([])
    expect(exit).toEqual(Exit.succeed(0))
    expect(out).toEqual([
      `● ${a!.app} @ 127.134.90.1 - IP=static (was ${fromA}) | Name=ok (${a!.app}-1)`,
      `● ${b!.app} @ 127.134.90.2 - IP=static (was ${fromB}) | Name=ok (${b!.app}-2)`,
      "Stage 2 summary: total=2 ok=2 failed=0"
    ])
    // Really applied on the devices (which serve nothing but TLS).
    expect(f.devices[0]!.ip).toBe("127.134.90.1")
    expect(f.state(1)!.config).toMatchObject({ sys: { device: { name: `${a!.app}-1` } } })
    const pins = JSON.parse(readFileSync(pinFile, "utf8")) as { pins: Record<string, { sha256: string }> }
    expect(Object.keys(pins.pins).sort()).toEqual([pinKey(a!.mac), pinKey(b!.mac)].sort())
    expect(pins.pins[pinKey(b!.mac)]!.sha256).toBe(deviceCertA.sha256)
  })

  it("a changed certificate fails only that device with the fix on its line; nothing sent to it; pin file and its record untouched", async () => {
    const f = await project(["1=https_new_cert", "2=https"])
    const [a, b] = f.devices
    writeFileSync(
      pinFile,
      pinDocument([
        [a!.mac, deviceCertA.sha256],
        [b!.mac, deviceCertA.sha256]
      ])
    )
    const pinsBefore = readFileSync(pinFile, "utf8")
    const fromA = a!.ip
    const { exit, out } = await run()
    expect(exit).toEqual(Exit.succeed(1))
    expect(out[0]).toContain(`● ${a!.app} @ ${fromA} - IP=failed | ERR=device ${pinKey(a!.mac)} at ${fromA}:${f.port}`)
    expect(out[0]).toContain(deviceCertB.sha256)
    expect(out[0]).toContain(`delete the "${pinKey(a!.mac)}" entry from ${pinFile}`)
    expect(out[1]).toContain(`IP=static`)
    expect(out[2]).toBe("Stage 2 summary: total=2 ok=1 failed=1")
    expect(readFileSync(pinFile, "utf8")).toBe(pinsBefore)
    expect(f.state(1)!.rpcLog).toEqual([])
    expect(f.devices[0]!.ip).toBe(fromA)
    const record = Object.values(JSON.parse(readFileSync("data/ip_state.json", "utf8")) as Record<string, Record<string, unknown>>).find(
      (d) => d.mac === a!.mac || d.ip === fromA
    )!
    expect(record.ip).toBe(fromA)
  })
})
