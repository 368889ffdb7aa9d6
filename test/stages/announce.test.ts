// Stage 1 and Stage 2 with the device's mDNS announcement (real UDP on the
// loopback segment from the simulator's responder to the Live Mdns listener), Stage 1's
// background ip_state.json writes, and Stage 2's dry-run addresses. The real
// RPC client, simulated WiFi over the control API, the real inventory store.
// Loopback block of this file: 127.67.0.0/16 (blocks 1–9 through the harness).
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { Deferred, Effect, Either, Fiber, FiberId, Layer, Ref, Schedule } from "effect"
import { createServer } from "node:net"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import type { FleetHandle } from "../../sim/shelly/index.js"
import type { Stage2Network } from "../../src/config/stage2.js"
import type { Ipv4 } from "../../src/domain/ipv4.js"
import { Inventory } from "../../src/inventory/Inventory.js"
import { inventoryLayer } from "../../src/inventory/index.js"
import { expandTargets } from "../../src/shelly/discovery.js"
import { LOOPBACK_SEGMENT } from "../../src/shelly/mdns.js"
import { MdnsLive } from "../../src/shelly/mdnsLive.js"
import { ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import { runStage1, summaryLine } from "../../src/stages/stage1.js"
import type { Stage1DeviceResult, Stage1Settings } from "../../src/stages/stage1.js"
import { needsPlacement, runStage2, stage2Line } from "../../src/stages/stage2.js"
import type { Stage2Settings } from "../../src/stages/stage2.js"
import { SimulatedWifiLive } from "../../src/wifi/SimulatedWifi.js"
import { Wifi } from "../../src/wifi/Wifi.js"
import { shellyPathHarness } from "./shellyPathHarness.js"
import type { ShellyProject } from "./shellyPathHarness.js"
import { directStage1Settings } from "./stage1Direct.js"
import { freeUdpPort } from "../support/udp.js"

const GROUP = LOOPBACK_SEGMENT
const LO = "127.0.0.1"
const harness = shellyPathHarness({ net: "127.67", portBase: 18640 })
let p: ShellyProject

const stage1Settings = (f: FleetHandle, lines: Array<string>, over: Partial<Stage1Settings> = {}): Stage1Settings =>
  directStage1Settings(p, f, lines, {
    timeouts: { apWait: "3 seconds", rpc: "2 seconds", join: "8 seconds" },
    discovery: { timeout: "300 millis", mdns: false },
    ...over
  })

const stage1Layer = (
  f: FleetHandle,
  inventory: Layer.Layer<Inventory, never, never> = inventoryLayer({ runDir: join(p.dir, "var/run") }).pipe(
    Layer.provide(NodeContext.layer)
  )
) =>
  Layer.mergeAll(
    ShellyRpcLive,
    MdnsLive,
    inventory,
    SimulatedWifiLive({ controlUrl: f.controlUrl!, initial: { ssid: "ProdNet", profile: "ProdNet" } }).pipe(
      Layer.provide(NodeHttpClient.layer)
    )
  ).pipe(Layer.provideMerge(NodeContext.layer))

/**
 * The live store, with every update first logged and held back a little: a
 * slow SD card, so a write still under way when the next device starts shows.
 */
const slowInventory = (events: Array<string>) =>
  Layer.effect(
    Inventory,
    Effect.map(Inventory, (live) =>
      Inventory.of({
        load: live.load,
        update: (path, change) =>
          Effect.sync(() => events.push("write start")).pipe(
            Effect.zipRight(Effect.sleep("150 millis")),
            Effect.zipRight(live.update(path, change)),
            Effect.tap((doc) => Effect.sync(() => events.push(`write done (${doc.devices.length} devices)`)))
          )
      })
    )
  ).pipe(Layer.provide(inventoryLayer({ runDir: join(p.dir, "var/run") })), Layer.provide(NodeContext.layer))

describe("Stage 1 with mDNS announcements", () => {
  it("finds a device outside production_subnets at the address it reported over the AP; it announces itself on joining (live, no reboot needed for that)", async () => {
    const mdnsPort = await freeUdpPort()
    // Away 1.2 s per reboot (6 s × 0.2): the one poll round right after the WiFi restore finds nothing.
    p = await harness.start({ devices: 1, faults: ["1=factory"], timeScale: 0.2, mdns: { group: GROUP, port: mdnsPort, iface: LO } })
    const f = p.fleet
    const lines: Array<string> = []
    const settings = stage1Settings(f, lines, {
      // Nothing lives here: the device joins at its DHCP address outside production_subnets.
      productionIps: Either.getOrThrow(expandTargets(["127.67.99.0/29"])),
      discovery: { timeout: "300 millis", mdns: { group: GROUP, port: mdnsPort, iface: LO, timeout: "100 millis" } },
      // No second poll round within the join timeout: only the announcement can find it.
      pollInterval: "60 seconds"
    })
    const results = Ref.unsafeMake<ReadonlyArray<Stage1DeviceResult>>([])
    const exit = await Effect.runPromiseExit(runStage1(settings, results).pipe(Effect.provide(stage1Layer(f))))
    expect(exit._tag, lines.join("\n")).toBe("Success")
    const device = f.device(1)!
    expect(device.mode).toBe("sta")
    expect(device.ip!.startsWith(`127.67.${200 + p.block}.`)).toBe(true)
    expect(Ref.get(results).pipe(Effect.runSync)).toMatchObject([{ status: "ok", ip: device.ip, mac: device.mac }])
    expect(p.state()[device.mac]).toMatchObject({ ip: device.ip, stage1: { status: "ok" } })
    // BLE off answered restart_required: rebooted once at its production address, and back.
    expect(f.state(1)!.reboots).toBe(1)
    expect(lines.slice(-3)).toEqual([
      `[stage1: device joined WiFi at ${device.ip}]`,
      "[rpc: rebooting]",
      `[stage1: device back at ${device.ip} after its reboot]`
    ])
    // Announced (RFC 6762 §8.3) on joining and after the reboot; no browse was needed.
    expect(f.mdns!.announced()).toBeGreaterThanOrEqual(2)
    expect(f.mdns!.answered()).toBe(0)
  })
})

describe("Stage 1 background adoption writes", () => {
  it("writes each adoption in order while the next device starts, and all are written before the run returns", async () => {
    p = await harness.start({ devices: 2, faults: ["1-2=factory"] })
    const f = p.fleet
    const events: Array<string> = []
    const results = Ref.unsafeMake<ReadonlyArray<Stage1DeviceResult>>([])
    const stop = Deferred.unsafeMake<void>(FiberId.none)
    const settings = stage1Settings(f, events, { loop: true })
    const exit = await Effect.runPromise(
      Effect.gen(function* () {
        const fiber = yield* Effect.fork(runStage1(settings, results, stop).pipe(Effect.provide(stage1Layer(f, slowInventory(events)))))
        yield* Ref.get(results).pipe(
          Effect.repeat({ until: (r) => r.length === 2, schedule: Schedule.spaced("10 millis") }),
          Effect.timeout("20 seconds")
        )
        yield* Deferred.succeed(stop, undefined)
        const exit = yield* Fiber.await(fiber)
        events.push("run returned")
        return exit
      })
    )
    expect(exit._tag, events.join("\n")).toBe("Success")
    const joined = events.map((e, i) => [e, i] as const).filter(([e]) => e.startsWith("[stage1: device joined WiFi"))
    expect(joined).toHaveLength(2)
    const waiting = events.map((e, i) => [e, i] as const).filter(([e]) => e === "[stage1: waiting for Shelly AP]")
    const firstDone = events.indexOf("write done (1 devices)")
    // Device 2's AP wait began while device 1's adoption was still being written.
    expect(waiting[1]![1]).toBeGreaterThan(joined[0]![1])
    expect(waiting[1]![1]).toBeLessThan(firstDone)
    // One at a time, in order: the second write starts after the first is done.
    const starts = events
      .map((e, i) => [e, i] as const)
      .filter(([e]) => e === "write start")
      .map(([, i]) => i)
    expect(starts).toHaveLength(2)
    expect(starts[1]!).toBeGreaterThan(firstDone)
    // Everything on disk before the run returned (the summary comes after that).
    expect(events.indexOf("write done (2 devices)")).toBeLessThan(events.indexOf("run returned"))
    const state = p.state()
    for (const n of [1, 2]) expect(state[f.device(n)!.mac]).toMatchObject({ ip: f.device(n)!.ip, stage1: { status: "ok" } })
  })

  it("a background write that fails is reported with the state file's error and fails the device", async () => {
    p = await harness.start({ devices: 1, faults: ["1=factory"] })
    const f = p.fleet
    const file = join(p.dir, "data/ip_state.json")
    // The safe write's temporary file cannot be created.
    mkdirSync(`${file}.tmp`)
    const lines: Array<string> = []
    const results = Ref.unsafeMake<ReadonlyArray<Stage1DeviceResult>>([])
    const exit = await Effect.runPromiseExit(runStage1(stage1Settings(f, lines), results).pipe(Effect.provide(stage1Layer(f))))
    expect(exit._tag).toBe("Success")
    const device = f.device(1)!
    const failure = lines.find((l) => l.startsWith(`[stage1: failed ${device.apSsid}: cannot write state file ${file}: `))
    expect(failure, lines.join("\n")).toBeDefined()
    const done = Ref.get(results).pipe(Effect.runSync)
    expect(done).toMatchObject([{ ssid: device.apSsid, status: "failed", error: { code: "state_write_failed" } }])
    expect(summaryLine({ results: done })).toBe("Stage 1 summary: total=1 ok=0 failed=1")
  })
})

describe("Stage 2 with mDNS announcements and dry runs", () => {
  const network = (): Stage2Network => ({
    subnet: { network: "127.67.0.0", prefix: 16, text: "127.67.0.0/16" } as Stage2Network["subnet"],
    netmask: "255.255.0.0" as Ipv4,
    gateway: "127.67.0.254" as Ipv4,
    dns: undefined,
    pool: { start: `127.67.${150 + p.block}.1` as Ipv4, end: `127.67.${150 + p.block}.20` as Ipv4 }
  })
  const stage2Settings = (f: FleetHandle, over: Partial<Stage2Settings> = {}): Stage2Settings => ({
    network: network(),
    devicePort: f.port,
    dryRun: false,
    namingPattern: "{app}-{mac6}",
    plan: new Map(),
    timeouts: { rpc: "2 seconds", verify: "8 seconds" },
    pollInterval: "20 millis",
    probeTimeout: "200 millis",
    ...over
  })
  const stage2 = (s: Stage2Settings) =>
    Effect.runPromise(
      Effect.gen(function* () {
        const doc = yield* (yield* Inventory).load(join(p.dir, "data/ip_state.json"))
        return yield* runStage2(doc.devices.filter(needsPlacement), doc.devices, s)
      }).pipe(
        Effect.provide(
          Layer.mergeAll(ShellyRpcLive, MdnsLive, inventoryLayer({ runDir: join(p.dir, "var/run") })).pipe(
            Layer.provideMerge(NodeContext.layer)
          )
        )
      )
    )

  it("--dry-run shows each device the distinct address it would get, skipping one that answers", async () => {
    p = await harness.start({ devices: 3, control: false }, { inventory: true })
    const f = p.fleet
    const pool = (n: number) => `127.67.${150 + p.block}.${n}`
    // Something already answers at the pool's 2nd address: that one is not free.
    const server = createServer((s) => s.destroy())
    await new Promise<void>((done) => server.listen(f.port, pool(2), () => done()))
    try {
      const results = await stage2(stage2Settings(f, { dryRun: true }))
      expect(results.map((r) => [r.status, r.ip])).toEqual([
        ["dry_run", pool(1)],
        ["dry_run", pool(3)],
        ["dry_run", pool(4)]
      ])
      expect(stage2Line(results[1]!)).toContain(`IP=would_set ${pool(3)}`)
      // Nothing changed on the devices.
      for (const n of [1, 2, 3]) expect(f.device(n)!.ip).toBe(`127.67.${p.block}.${n}`)
    } finally {
      await new Promise<void>((done) => server.close(() => done()))
    }
  })

  it("verifies the device at its new address by its announcement when no poll comes in time", async () => {
    const mdnsPort = await freeUdpPort()
    p = await harness.start(
      { devices: 1, control: false, timeScale: 0.2, mdns: { group: GROUP, port: mdnsPort, iface: LO } },
      { inventory: true }
    )
    const f = p.fleet
    const results = await stage2(
      stage2Settings(f, {
        // The first poll comes before the reboot, the next one after the verify timeout.
        pollInterval: "60 seconds",
        mdns: { group: GROUP, port: mdnsPort, iface: LO }
      })
    )
    const pool1 = `127.67.${150 + p.block}.1`
    expect(results).toMatchObject([{ status: "ok", ip: pool1, fromIp: `127.67.${p.block}.1` }])
    expect(f.device(1)!.ip).toBe(pool1)
    expect(f.mdns!.announced()).toBeGreaterThanOrEqual(1)
  })
})

describe("Stage 1 next-AP scan while the device is being found", () => {
  it("loop mode scans for the next AP while the device's station joins, so the next device starts without a scan", async () => {
    p = await harness.start({ devices: 3, faults: ["1-3=factory"] })
    const f = p.fleet
    const events: Array<string> = []
    // The live simulated WiFi, with every scan logged among the runbook lines.
    const countedWifi = Layer.effect(
      Wifi,
      Effect.map(Wifi, (live) =>
        Wifi.of({
          ...live,
          scan: () =>
            Effect.zipRight(
              Effect.sync(() => events.push("scan started")),
              Effect.tap(live.scan(), (aps) => Effect.sync(() => events.push(`scan (${aps.length} APs)`)))
            )
        })
      )
    ).pipe(
      Layer.provide(SimulatedWifiLive({ controlUrl: f.controlUrl!, initial: { ssid: "ProdNet", profile: "ProdNet" } })),
      Layer.provide(NodeHttpClient.layer)
    )
    const results = Ref.unsafeMake<ReadonlyArray<Stage1DeviceResult>>([])
    const stop = Deferred.unsafeMake<void>(FiberId.none)
    const settings = stage1Settings(f, events, { loop: true })
    const exit = await Effect.runPromise(
      Effect.gen(function* () {
        const fiber = yield* Effect.fork(runStage1(settings, results, stop).pipe(Effect.provide(Layer.merge(stage1Layer(f), countedWifi))))
        yield* Ref.get(results).pipe(
          Effect.repeat({ until: (r) => r.length === 3, schedule: Schedule.spaced("10 millis") }),
          Effect.timeout("30 seconds")
        )
        yield* Deferred.succeed(stop, undefined)
        return yield* Fiber.await(fiber)
      })
    )
    expect(exit._tag, events.join("\n")).toBe("Success")
    expect(
      Ref.get(results)
        .pipe(Effect.runSync)
        .map((r) => r.status)
    ).toEqual(["ok", "ok", "ok"])
    const at = (line: string, from = 0) => events.findIndex((e, i) => i >= from && e === line)
    // WiFi is applied live (no reboot): the AP session ends with the apply line.
    const rebooting = events
      .map((e, i) => [e, i] as const)
      .filter(([e]) => e.startsWith("[rpc: apply WiFi"))
      .map(([, i]) => i)
    const connected = events
      .map((e, i) => [e, i] as const)
      .filter(([e]) => e === "[stage1: connected to Shelly AP]")
      .map(([, i]) => i)
    expect(rebooting).toHaveLength(3)
    for (const device of [0, 1]) {
      // Exactly one scan from this device's AP session to the next one's: the look-ahead started
      // once its station call was answered, whose result the next "waiting" used (no fresh scan).
      const scans = events.slice(connected[device]!, connected[device + 1]!).filter((e) => e.startsWith("scan ("))
      expect(scans, events.join("\n")).toHaveLength(1)
      // …started during the station join: after this device's connect, before its AP session ended (the apply line).
      const started = at("scan started", connected[device]!)
      expect(started, events.join("\n")).toBeGreaterThan(connected[device]!)
      expect(started, events.join("\n")).toBeLessThan(rebooting[device]!)
    }
  })
})
