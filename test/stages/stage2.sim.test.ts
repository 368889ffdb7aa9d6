// Stage 2 against the Shelly simulator: the real RPC client and inventory
// store. Loopback block of this file: 127.53.0.0/16.
import { NodeContext } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { createServer } from "node:net"
import type { Server } from "node:net"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import type { FleetHandle } from "../../sim/shelly/index.js"
import type { Stage2Network } from "../../src/config/stage2.js"
import type { Ipv4 } from "../../src/domain/ipv4.js"
import type { Mac } from "../../src/domain/mac.js"
import { Inventory } from "../../src/inventory/Inventory.js"
import { inventoryLayer } from "../../src/inventory/index.js"
import { ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import { applyStage2Results, needsPlacement, runStage2, stage2Line, stage2Summary } from "../../src/stages/stage2.js"
import type { PlanEntry, Stage2Settings } from "../../src/stages/stage2.js"
import { shellyPathHarness } from "./shellyPathHarness.js"
import type { ShellyProject } from "./shellyPathHarness.js"

const harness = shellyPathHarness({ net: "127.53", portBase: 18700 })
let p: ShellyProject
let squatter: Server | undefined
afterEach(async () => {
  await new Promise<void>((resolve) => (squatter ? squatter.close(() => resolve()) : resolve()))
  squatter = undefined
})

const setup = async (devices: number, faults: ReadonlyArray<string> = []) => {
  p = await harness.start({ devices, faults: [...faults], control: false }, { inventory: true })
  return p.fleet
}
const network = (): Stage2Network => ({
  subnet: { network: "127.53.0.0", prefix: 16, text: "127.53.0.0/16" } as Stage2Network["subnet"],
  netmask: "255.255.0.0" as Ipv4,
  gateway: "127.53.0.254" as Ipv4,
  dns: undefined,
  pool: { start: `127.53.${150 + p.block}.1` as Ipv4, end: `127.53.${150 + p.block}.20` as Ipv4 }
})

const settings = (f: FleetHandle, over: Partial<Stage2Settings> = {}): Stage2Settings => ({
  network: network(),
  devicePort: f.port,
  dryRun: false,
  namingPattern: "{app}-{mac6}",
  plan: new Map(),
  timeouts: { rpc: "1 second", verify: "2 seconds" },
  pollInterval: "20 millis",
  probeTimeout: "200 millis",
  ...over
})

const layer = () =>
  Layer.mergeAll(ShellyRpcLive, inventoryLayer({ runDir: join(p.dir, "var/run") })).pipe(Layer.provideMerge(NodeContext.layer))

const stage2 = (s: Stage2Settings) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const inventory = yield* Inventory
      const path = join(p.dir, "data/ip_state.json")
      const doc = yield* inventory.load(path)
      const results = yield* runStage2(doc.devices.filter(needsPlacement), doc.devices, s)
      if (!s.dryRun) yield* inventory.update(path, (current) => applyStage2Results(current, results, "2026-11-23T00:00:00.000Z"))
      return results
    }).pipe(Effect.provide(layer()))
  )

const state = () => p.state()

describe("Stage 2 against the simulator", () => {
  it("places every adopted device at the next free pool address with its name, verified by MAC; a rerun has nothing to do", async () => {
    const f = await setup(3)
    const results = await stage2(settings(f))
    const pool = (n: number) => `127.53.${150 + p.block}.${n}`
    expect(results.map((r) => [r.status, r.ip])).toEqual([
      ["ok", pool(1)],
      ["ok", pool(2)],
      ["ok", pool(3)]
    ])
    f.devices.forEach((d, i) => {
      expect(d.ip).toBe(pool(i + 1))
      expect(d.name).toBe(`${d.app}-${d.mac.replace(/:/g, "").toUpperCase().slice(6)}`)
    })
    const records = Object.values(state())
    expect(records.map((r) => r.ip)).toEqual([pool(1), pool(2), pool(3)])
    expect(records[0]).toMatchObject({ friendly_name: f.devices[0]!.name, stage2: { status: "ok" }, hostname: f.devices[0]!.id })
    expect(stage2Line(results[0]!)).toBe(
      `● ${f.devices[0]!.app} @ ${pool(1)} - IP=static (was 127.53.${p.block}.1) | Name=ok (${f.devices[0]!.name})`
    )
    expect(stage2Summary(results)).toBe("Stage 2 summary: total=3 ok=3 failed=0")
    expect(await stage2(settings(f))).toEqual([])
  })

  it("skips a pool address where something answers; the plan's address and name win", async () => {
    const f = await setup(2)
    const pool = (n: number) => `127.53.${150 + p.block}.${n}`
    squatter = createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => squatter!.listen(f.port, pool(1), resolve))
    const second = f.devices[1]!
    const plan = new Map<Mac, PlanEntry>([[second.mac.replace(/:/g, "").toUpperCase() as Mac, { ip: pool(9) as Ipv4, name: "Kitchen" }]])
    const results = await stage2(settings(f, { plan }))
    expect(results.map((r) => [r.status, r.ip, r.name])).toEqual([
      ["ok", pool(2), expect.any(String)],
      ["ok", pool(9), "Kitchen"]
    ])
    expect(f.devices[1]!.name).toBe("Kitchen")
  })

  it("the static address takes effect at once (no reboot), also when the move cuts the call before its answer", async () => {
    const f = await setup(2, ["2=drop_before_answer"])
    const results = await stage2(settings(f))
    const pool = (n: number) => `127.53.${150 + p.block}.${n}`
    expect(results.map((r) => [r.status, r.ip])).toEqual([
      ["ok", pool(1)],
      ["ok", pool(2)]
    ])
    expect(f.devices.map((d) => d.ip)).toEqual([pool(1), pool(2)])
    expect([f.state(1)!.reboots, f.state(2)!.reboots]).toEqual([0, 0])
    // Name first, the address last; no reboot.
    const writes = f
      .state(2)!
      .rpcLog.map((c) => c.method)
      .filter((m) => m.endsWith("SetConfig") || m === "Shelly.Reboot")
    expect(writes).toEqual(["Sys.SetConfig", "WiFi.SetConfig"])
  })

  it("a device not found at its new address nor by MAC: failed, and its planned address is not handed to the next device", async () => {
    const f = await setup(2, ["1=static_unreachable"])
    const results = await stage2(settings(f, { timeouts: { rpc: "1 second", verify: "500 millis" } }))
    const pool = (n: number) => `127.53.${150 + p.block}.${n}`
    expect(results.map((r) => r.status)).toEqual(["failed", "ok"])
    expect(results[0]!.error).toContain(`${pool(1)} stays reserved`)
    // Device 2 gets the next address: pool(1) may be held by device 1.
    expect(results[1]!.ip).toBe(pool(2))
    expect(f.device(2)!.ip).toBe(pool(2))
  })

  it("its planned address is taken by something else: not there → found by MAC at its old address and reverted to DHCP", async () => {
    const f = await setup(1)
    const pool = (n: number) => `127.53.${150 + p.block}.${n}`
    squatter = createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => squatter!.listen(f.port, pool(5), resolve))
    const device = f.devices[0]!
    const before = device.ip
    const plan = new Map<Mac, PlanEntry>([[device.mac as Mac, { ip: pool(5) as Ipv4, name: "Hall" }]])
    const results = await stage2(settings(f, { plan, timeouts: { rpc: "1 second", verify: "500 millis" } }))
    expect(results).toMatchObject([{ status: "failed" }])
    expect(results[0]!.error).toBe(`did not answer at ${pool(5)} within 500ms; found at ${before} by MAC and reverted to DHCP`)
    expect(f.device(1)!.ip).toBe(before)
    expect(f.state(1)!.config).toMatchObject({ wifi: { sta: { ipv4mode: "dhcp" } } })
    expect(state()[device.mac.replace(/:/g, "").toUpperCase()] ?? Object.values(state())[0]).toMatchObject({
      ip: before,
      stage2: { status: "failed" }
    })
  })

  it("a device that fails is marked failed and keeps its address; the others go on", async () => {
    const f = await setup(2, ["1=fail:WiFi.SetConfig"])
    const before = f.devices[0]!.ip
    const results = await stage2(settings(f))
    expect(results.map((r) => r.status)).toEqual(["failed", "ok"])
    expect(results[0]!.error).toContain("WiFi.SetConfig")
    expect(f.devices[0]!.ip).toBe(before)
    const records = Object.values(state())
    expect(records[0]).toMatchObject({ ip: before, stage2: { status: "failed" } })
    expect(stage2Summary(results)).toBe("Stage 2 summary: total=2 ok=1 failed=1")
  })

  it("dry run changes nothing", async () => {
    const f = await setup(2)
    const before = readFileSync(join(p.dir, "data/ip_state.json"), "utf8")
    const results = await stage2(settings(f, { dryRun: true }))
    expect(results.map((r) => r.status)).toEqual(["dry_run", "dry_run"])
    expect(f.devices.map((d) => d.ip)).toEqual([`127.53.${p.block}.1`, `127.53.${p.block}.2`])
    expect(readFileSync(join(p.dir, "data/ip_state.json"), "utf8")).toBe(before)
  })
})
