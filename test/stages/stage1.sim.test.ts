import { Deferred, Effect, Fiber, FiberId, Redacted, Ref, Schedule } from "effect"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import type { FleetHandle } from "../../sim/shelly/index.js"
import { runStage1, summaryLine } from "../../src/stages/stage1.js"
import type { Stage1DeviceResult, Stage1Settings } from "../../src/stages/stage1.js"
import { shellyPathHarness } from "./shellyPathHarness.js"
import type { ShellyProject } from "./shellyPathHarness.js"
import { directStage1Layer, directStage1Settings, runStage1Direct } from "./stage1Direct.js"

const harness = shellyPathHarness({ net: "127.50", portBase: 18500 })
let p: ShellyProject
const setup = async (devices: number, faults: ReadonlyArray<string>) => {
  p = await harness.start({ devices, faults: [...faults] })
  return p.fleet
}

const baseSettings = (f: FleetHandle, lines: Array<string>, over: Partial<Stage1Settings> = {}): Stage1Settings =>
  directStage1Settings(p, f, lines, { disable: { cloud: true, ble: false, ap: true, mqtt: true }, ...over })

const layerFor = (f: FleetHandle) => directStage1Layer(p, f)

const run = (f: FleetHandle, settings: Stage1Settings) => runStage1Direct(p, f, settings)

const state = () => p.state()

describe("Stage 1 against the simulator", () => {
  it("once: provisions one factory device with the runbook's lines and records it", async () => {
    const f = await setup(1, ["1=factory"])
    const lines: Array<string> = []
    const { exit, results } = await run(f, baseSettings(f, lines))
    expect(exit._tag).toBe("Success")
    expect(results[0]!.error).toBeUndefined()
    const device = f.devices[0]!
    expect(device.mode).toBe("sta")
    // WiFi.SetConfig is applied live and nothing answered restart_required: no reboot.
    expect(lines).toEqual([
      "[stage1: waiting for Shelly AP]",
      "[stage1: connected to Shelly AP]",
      "[rpc: read device info]",
      "[rpc: apply WiFi + disable cloud/ap/mqtt]",
      `[stage1: device joined WiFi at ${device.ip}]`
    ])
    expect(f.state(1)!.reboots).toBe(0)
    // Every other setting first, then the station, then (once joined) the AP off as the very last call.
    const writes = f.state(1)!.rpcLog.filter((c) => c.method.endsWith("SetConfig") || c.method === "Shelly.Reboot")
    expect(writes.map((c) => c.method).slice(-2)).toEqual(["WiFi.SetConfig", "WiFi.SetConfig"])
    expect(
      writes
        .slice(0, -2)
        .map((c) => c.method)
        .sort()
    ).toEqual(["Cloud.SetConfig", "MQTT.SetConfig"])
    expect(writes.at(-1)!.params).toEqual({ config: { ap: { enable: false } } })
    expect(results).toMatchObject([{ status: "ok", ip: device.ip, ssid: device.apSsid }])
    expect(summaryLine({ results })).toBe("Stage 1 summary: total=1 ok=1 failed=0")
    const config = f.state(1)!.config as Record<string, Record<string, unknown>>
    expect(config.cloud).toMatchObject({ enable: false })
    expect(config.mqtt).toMatchObject({ enable: false })
    expect((config.wifi as Record<string, Record<string, unknown>>).ap).toMatchObject({ enable: false })
    // the Pi is back on its own network
    expect(f.apLink()).toBeNull()
    const entries = Object.values(state())
    expect(entries).toHaveLength(1)
    expect(entries[0]).toMatchObject({
      ip: device.ip,
      id: device.id,
      model: device.model,
      app: device.app,
      fw: device.fw,
      stage1: { status: "ok" }
    })
    expect(typeof entries[0]!.adopted_at).toBe("string")
    expect(JSON.stringify(state())).not.toContain("prod-wifi-pw")
  })

  it("loop: provisions devices one after another; Ctrl+C (stop) while waiting ends cleanly with every result", async () => {
    const f = await setup(3, ["1-3=factory"])
    const lines: Array<string> = []
    const results = Ref.unsafeMake<ReadonlyArray<Stage1DeviceResult>>([])
    const stop = Deferred.unsafeMake<void>(FiberId.none)
    const program = runStage1(baseSettings(f, lines, { loop: true }), results, stop).pipe(Effect.provide(layerFor(f)))
    const exit = await Effect.runPromise(
      Effect.gen(function* () {
        const fiber = yield* Effect.fork(program)
        yield* Ref.get(results).pipe(
          Effect.repeat({ until: (r) => r.length === 3, schedule: Schedule.spaced("20 millis") }),
          Effect.timeout("20 seconds")
        )
        // Ctrl+C: the loop is waiting for a fourth AP and ends cleanly.
        yield* Deferred.succeed(stop, undefined)
        return yield* Fiber.await(fiber)
      })
    )
    expect(exit._tag).toBe("Success")
    const done = Ref.get(results).pipe(Effect.runSync)
    expect(done.map((r) => r.status)).toEqual(["ok", "ok", "ok"])
    expect(new Set(done.map((r) => r.mac)).size).toBe(3)
    expect(Object.keys(state())).toHaveLength(3)
    expect(f.devices.every((d) => d.mode === "sta")).toBe(true)
    expect(lines.filter((l) => l === "[stage1: waiting for Shelly AP]")).toHaveLength(4)
    expect(f.apLink()).toBeNull()
  })

  it("a wrong WiFi password: device never joins, the error says to check the password; nothing recorded", async () => {
    const f = await setup(1, ["1=factory"])
    const lines: Array<string> = []
    const { results } = await run(
      f,
      baseSettings(f, lines, {
        sta: { ssid: "ProdNet", password: Redacted.make("wrong-pw") },
        timeouts: { apWait: "2 seconds", rpc: "1 second", join: "600 millis" }
      })
    )
    expect(results).toMatchObject([{ status: "failed", error: { code: "device_never_joined" } }])
    expect(results[0]!.error!.hint).toContain("WiFi password")
    expect(lines.join("\n")).not.toContain("wrong-pw")
    expect(existsSync(join(p.dir, "data/ip_state.json"))).toBe(false)
    expect(f.apLink()).toBeNull()
    // The AP was never disabled (the station did not join): the device stays reachable on its AP for a rerun.
    expect(
      f
        .state(1)!
        .rpcLog.filter((c) => c.method === "WiFi.SetConfig")
        .map((c) => c.params)
    ).not.toContainEqual({ config: { ap: { enable: false } } })
    expect(f.scan().map((ap) => ap.ssid)).toContain(f.devices[0]!.apSsid)
    expect(f.state(1)!.reboots).toBe(0)
  })

  it("the AP drops before the answer to ap.enable:false arrives: the expected outcome; the device is found at the address it reported", async () => {
    const f = await setup(1, ["1=factory,drop_before_answer"])
    const lines: Array<string> = []
    const { results } = await run(f, baseSettings(f, lines))
    expect(results).toMatchObject([{ status: "ok" }])
    const device = f.devices[0]!
    expect(lines.at(-1)).toBe(`[stage1: device joined WiFi at ${device.ip}]`)
    expect(f.state(1)!.config).toMatchObject({ wifi: { ap: { enable: false } }, cloud: { enable: false } })
    expect(f.scan().map((ap) => ap.ssid)).not.toContain(device.apSsid)
    expect(f.state(1)!.reboots).toBe(0)
  })

  it("a call answers restart_required (MQTT): the reboot happens at the production address, after the AP is gone; secrets only in POST bodies", async () => {
    const f = await setup(1, ["1=factory"])
    const lines: Array<string> = []
    const mqtt = { server: "127.0.0.1:1883", user: "broker-user", password: Redacted.make("mqtt-secret-pw") }
    const { results } = await run(f, baseSettings(f, lines, { mqtt, adminPassword: Redacted.make("admin-secret-pw") }))
    expect(results).toMatchObject([{ status: "ok" }])
    const device = f.devices[0]!
    expect(lines.slice(-3)).toEqual([
      `[stage1: device joined WiFi at ${device.ip}]`,
      "[rpc: rebooting]",
      `[stage1: device back at ${device.ip} after its reboot]`
    ])
    const s = f.state(1)!
    expect(s.reboots).toBe(1)
    expect(s.authEnabled).toBe(true)
    expect(s.config).toMatchObject({ mqtt: { enable: true, server: "127.0.0.1:1883", pass_set: true }, wifi: { ap: { enable: false } } })
    // Shelly.SetAuth before the WiFi calls (they were signed), the reboot last of all.
    const order = s.rpcLog.map((c) => c.method).filter((m) => m !== "WiFi.GetStatus" && m !== "Sys.GetStatus")
    expect(order.indexOf("Shelly.SetAuth")).toBeLessThan(order.indexOf("WiFi.SetConfig"))
    expect(order.at(-1)).toBe("Shelly.Reboot")
    // No password, HA1 or SSID secret in any request line (they travel as POST bodies).
    expect(s.requestLines.length).toBeGreaterThan(5)
    for (const line of s.requestLines) {
      expect(line).not.toMatch(/mqtt-secret-pw|admin-secret-pw|prod-wifi-pw|pass|ha1/i)
    }
    expect(s.requestLines.filter((l) => l === "POST /rpc").length).toBeGreaterThanOrEqual(4)
  })

  it("firmware 1.8+ past its 15-min setup window: SetupWindowClosed with the fix (power-cycle), nothing written", async () => {
    // Time scale 0.001: 15 device-minutes pass in 0.9 s.
    p = await harness.start({ devices: 1, faults: ["1=factory,setup_window"], timeScale: 0.001 })
    const f = p.fleet
    await new Promise((r) => setTimeout(r, 1200))
    const lines: Array<string> = []
    const { results } = await run(f, baseSettings(f, lines))
    expect(results).toMatchObject([{ status: "failed", error: { code: "setup_window_closed" } }])
    expect(results[0]!.error!.hint).toContain("power-cycle the device")
    expect(results[0]!.error!.message).toContain("setup window (15 min after power-on) has closed")
    // (The trait on a 1.6 model: Stage 1 learns it from the device's refusal of its first write, which changed nothing.)
    expect(f.state(1)!.config).toMatchObject({ cloud: { enable: true }, wifi: { sta: { ssid: null }, ap: { enable: true } } })
    expect(f.state(1)!.rpcLog.some((c) => c.method === "WiFi.SetConfig")).toBe(false)
    expect(f.apLink()).toBeNull()
  })

  it("AP visible but HTTP dead → ApUnreachable with the runbook's fix; WiFi restored", async () => {
    const f = await setup(1, ["1=factory,ap_http_dead"])
    const lines: Array<string> = []
    const { results } = await run(f, baseSettings(f, lines))
    expect(results).toMatchObject([{ status: "failed", error: { code: "ap_unreachable" } }])
    expect(results[0]!.error!.message).toContain("ConnectTimeout")
    expect(results[0]!.error!.hint).toContain("Pi's WiFi enabled and not bound to your normal WLAN")
    expect(f.apLink()).toBeNull()
  })

  it("an already protected device fails with AuthRequired and is left untouched", async () => {
    const f = await setup(1, ["1=factory,protected"])
    const lines: Array<string> = []
    const { results } = await run(f, baseSettings(f, lines))
    expect(results).toMatchObject([{ status: "failed", error: { code: "auth_required" } }])
    expect(f.state(1)!.rpcLog.some((c) => c.method.endsWith("SetConfig"))).toBe(false)
  })

  it("no AP appears (once mode) → ApNotFound naming the pattern", async () => {
    const f = await setup(1, [])
    const lines: Array<string> = []
    const { exit } = await run(f, baseSettings(f, lines, { timeouts: { apWait: "300 millis", rpc: "1 second", join: "1 second" } }))
    expect(exit._tag).toBe("Failure")
    expect(JSON.stringify(exit)).toContain("ApNotFound")
  })

  it("a device in a reboot loop is detected after it joined, with the runbook's short-reset fix; its entry is marked failed", async () => {
    const f = await setup(2, ["1=factory,reboot_loop", "2=factory"])
    const lines: Array<string> = []
    const { results } = await run(f, baseSettings(f, lines, { loop: false, stabilityWindow: "1500 millis" }))
    expect(results).toHaveLength(1)
    const looping = results[0]!.ssid === f.devices[0]!.apSsid
    // Either device may be taken first (strongest signal); only the looping one fails.
    expect(results[0]!.status).toBe(looping ? "failed" : "ok")
    if (looping) {
      expect(results[0]!.error).toMatchObject({ code: "reboot_loop" })
      expect(results[0]!.error!.hint).toContain("10 s reset")
    }
    const second = await run(f, baseSettings(f, lines, { stabilityWindow: "1500 millis" }))
    expect([results[0]!.status, second.results[0]!.status].sort()).toEqual(["failed", "ok"])
    const byIp = new Map(Object.values(state()).map((e) => [e.ip, e.stage1]))
    expect(byIp.get(f.devices[0]!.ip)).toMatchObject({ status: "failed", error: { code: "reboot_loop" } })
    expect(byIp.get(f.devices[1]!.ip)).toMatchObject({ status: "ok" })
  })

  it("loop: the reboot-loop watch does not hold up the next device; the looping 2nd is reported, the others verified at the end", async () => {
    // The loop restarts a device 3 s (300 device-s at time scale 0.01) after each boot.
    p = await harness.start({ devices: 3, faults: ["1-3=factory"], delays: { rebootLoopMs: 300_000 } })
    const f = p.fleet
    const lines: Array<string> = []
    const results = Ref.unsafeMake<ReadonlyArray<Stage1DeviceResult>>([])
    const stop = Deferred.unsafeMake<void>(FiberId.none)
    let connected = 0
    let looping: { readonly ssid: string; readonly mac: string } | undefined
    const say = (line: string) =>
      Effect.sync(() => {
        lines.push(line)
        // The 2nd device handled (by signal strength) starts looping once the Pi is on its AP.
        if (line === "[stage1: connected to Shelly AP]" && ++connected === 2) {
          looping = f.apLink()!
          void f.addFaults(looping.mac, ["reboot_loop"])
        }
      })
    const settings = baseSettings(f, lines, { loop: true, stabilityWindow: "4 seconds", say })
    const exit = await Effect.runPromise(
      Effect.gen(function* () {
        const fiber = yield* Effect.fork(runStage1(settings, results, stop).pipe(Effect.provide(layerFor(f))))
        yield* Ref.get(results).pipe(
          Effect.repeat({ until: (r) => r.length === 3, schedule: Schedule.spaced("20 millis") }),
          Effect.timeout("20 seconds")
        )
        // Ctrl+C (graceful stop) once the third device joined: the rest of the watch runs at the end.
        yield* Deferred.succeed(stop, undefined)
        return yield* Fiber.await(fiber).pipe(Effect.timeout("20 seconds"))
      })
    )
    expect(exit._tag).toBe("Success")
    const joined = lines.flatMap((l, i) => (l.startsWith("[stage1: device joined WiFi at") ? [i] : []))
    const loopLine = lines.findIndex((l) => l.startsWith(`[stage1: failed ${looping!.ssid}: `))
    const watchLine = lines.findIndex((l) =>
      /^\[stage1: watching [1-3] device\(s\) for reboot loops, up to \d+s left — Ctrl\+C to skip\]$/.test(l)
    )
    expect(joined).toHaveLength(3)
    expect(joined[2]!).toBeLessThan(loopLine)
    expect(joined[2]!).toBeLessThan(watchLine)
    expect(lines[loopLine]).toContain("reboot loop")
    expect(lines[loopLine]).toContain("10 s reset (short press)")
    const done = Ref.get(results).pipe(Effect.runSync)
    expect(done.map((r) => (r.mac === looping!.mac ? "looping" : r.status)).sort()).toEqual(["looping", "ok", "ok"])
    expect(done.find((r) => r.mac === looping!.mac)).toMatchObject({ status: "failed", error: { code: "reboot_loop" } })
    expect(summaryLine({ results: done })).toBe("Stage 1 summary: total=3 ok=2 failed=1")
    // The stable ones leave the watch with a line each, after their window.
    expect(lines.filter((l) => / stayed up 4 s — no reboot loop\]$/.test(l))).toHaveLength(2)
    const byMac = new Map(Object.entries(state()).map(([key, e]) => [key.replace(/[^0-9A-Fa-f]/g, "").toUpperCase(), e.stage1]))
    expect(byMac.get(looping!.mac)).toMatchObject({
      status: "failed",
      error: { code: "reboot_loop", hint: expect.stringContaining("10 s reset") }
    })
    expect([...byMac.values()].filter((s) => (s as { status: string }).status === "ok")).toHaveLength(2)
  })

  it("dry run: lists the factory APs, joins none, writes nothing", async () => {
    const f = await setup(2, ["1-2=factory"])
    const lines: Array<string> = []
    const { results } = await run(f, baseSettings(f, lines, { dryRun: true }))
    expect(results.map((r) => r.status)).toEqual(["dry_run", "dry_run"])
    expect(lines).toEqual(expect.arrayContaining(f.devices.map((d) => `[stage1: dry-run: would provision ${d.apSsid}]`)))
    expect(f.devices.every((d) => d.mode === "ap")).toBe(true)
    expect(f.state(1)!.rpcLog).toHaveLength(0)
    expect(existsSync(join(p.dir, "data/ip_state.json"))).toBe(false)
  })
})
