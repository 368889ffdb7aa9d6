import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import type { FleetHandle } from "../../sim/shelly/index.js"
import type { Stage1Settings } from "../../src/stages/stage1.js"
import { bleOffPatch } from "../../src/stages/stage1/bleOff.js"
import { shellyPathHarness } from "./shellyPathHarness.js"
import type { ShellyProject } from "./shellyPathHarness.js"
import { directStage1Settings, runStage1Direct } from "./stage1Direct.js"

const harness = shellyPathHarness({ net: "127.131", portBase: 21300 })
let p: ShellyProject

const settingsFor = (f: FleetHandle, lines: Array<string>, over: Partial<Stage1Settings> = {}): Stage1Settings =>
  directStage1Settings(p, f, lines, over)

const run = (f: FleetHandle, settings: Stage1Settings) => runStage1Direct(p, f, settings)

const bleCalls = (f: FleetHandle) => f.state(1)!.rpcLog.filter((c) => c.method.startsWith("BLE."))

describe("what disable BLE sends (bleOffPatch)", () => {
  it("1.x: enable:false; 2.x (no enable key): rpc.enable:false; nothing when already off", () => {
    expect(bleOffPatch({ enable: true, rpc: { enable: true } })).toEqual({ enable: false })
    expect(bleOffPatch({ enable: false, rpc: { enable: true } })).toBeUndefined()
    expect(bleOffPatch({ rpc: { enable: true } })).toEqual({ rpc: { enable: false } })
    expect(bleOffPatch({ rpc: { enable: false } })).toBeUndefined()
    expect(bleOffPatch({})).toBeUndefined()
  })
})

describe("Stage 1 on firmware 1.x and 2.x", () => {
  it("firmware 1.x (Plus 1PM 1.4.4): BLE off with enable:false, which needs the reboot at the production address", async () => {
    p = await harness.start({ devices: 1, faults: ["1=factory,model:Plus1PM"] })
    const f = p.fleet
    expect(f.devices[0]!.fw).toBe("1.4.4")
    const lines: Array<string> = []
    const { exit, results } = await run(f, settingsFor(f, lines))
    expect(exit._tag).toBe("Success")
    expect(results).toMatchObject([{ status: "ok" }])
    expect(bleCalls(f).map((c) => [c.method, c.params])).toEqual([
      ["BLE.GetConfig", {}],
      ["BLE.SetConfig", { config: { enable: false } }]
    ])
    expect(f.state(1)!.config).toMatchObject({ ble: { enable: false } })
    // Switching Bluetooth answers restart_required: rebooted once it was found on the production network.
    expect(lines).toContain("[rpc: rebooting]")
    expect(f.state(1)!.reboots).toBe(1)
  })

  it("firmware 2.x (EM Mini Gen4 2.0.0): no enable key to send; the Bluetooth RPC channel goes off, no reboot", async () => {
    p = await harness.start({ devices: 1, faults: ["1=factory,model:MiniEMG4"] })
    const f = p.fleet
    expect(f.devices[0]!.fw).toBe("2.0.0")
    const lines: Array<string> = []
    const { exit, results } = await run(f, settingsFor(f, lines))
    expect(exit._tag).toBe("Success")
    expect(results).toMatchObject([{ status: "ok", ip: f.devices[0]!.ip }])
    expect(bleCalls(f).map((c) => [c.method, c.params])).toEqual([
      ["BLE.GetConfig", {}],
      ["BLE.SetConfig", { config: { rpc: { enable: false } } }]
    ])
    const ble = (f.state(1)!.config as Record<string, Record<string, unknown>>).ble!
    expect(ble).toMatchObject({ rpc: { enable: false } })
    expect(ble).not.toHaveProperty("enable")
    expect(lines).toContain("[rpc: apply WiFi + disable cloud/ble/ap/mqtt]")
    expect(lines).not.toContain("[rpc: rebooting]")
    expect(Object.values(p.state())).toHaveLength(1)
  })

  it("firmware 2.x past its 15-min setup window (uptime from Sys.GetStatus): setup_window_closed with the power-cycle fix before any write; ip_state.json untouched", async () => {
    // Time scale 0.001: 15 device-minutes pass in 0.9 s. No `setup_window` trait: the window follows from the version.
    p = await harness.start({ devices: 1, faults: ["1=factory,model:MiniEMG4"], timeScale: 0.001 })
    const f = p.fleet
    const stateFile = join(p.dir, "data/ip_state.json")
    writeFileSync(stateFile, `${JSON.stringify({ "aa:bb:cc:00:00:01": { ip: "127.131.250.1", model: "S2PMG3" } }, null, 2)}\n`)
    const before = readFileSync(stateFile, "utf8")
    await new Promise((r) => setTimeout(r, 1200))
    const lines: Array<string> = []
    const { results } = await run(f, settingsFor(f, lines))
    expect(results).toMatchObject([{ status: "failed", error: { code: "setup_window_closed" } }])
    const error = results[0]!.error!
    expect(error.message).toContain("setup window (15 min after power-on) has closed")
    expect(error.message).toMatch(/^device \S+ has been up \d+ s/)
    expect(error.message.toLowerCase().replace(/:/g, "")).toContain(f.devices[0]!.mac.toLowerCase().replace(/:/g, ""))
    expect(error.hint).toContain("firmware 2.0.0")
    expect(error.hint).toContain("power-cycle the device")
    // The pre-check, not a refusal: the device was read, never written to.
    const methods = f.state(1)!.rpcLog.map((c) => c.method)
    expect(methods).toContain("Sys.GetStatus")
    expect(methods.filter((m) => m.endsWith("SetConfig") || m === "Shelly.SetAuth")).toEqual([])
    expect(f.state(1)!.config).toMatchObject({ cloud: { enable: true }, wifi: { ap: { enable: true } } })
    expect(readFileSync(stateFile, "utf8")).toBe(before)
    expect(f.apLink()).toBeNull()
  })
})
