// `provision inventory …` end to end: a child process in a temp project whose
// ip_state.json comes from a simulated fleet; the real store, locks and TCP probe.
// Loopback block of this file: 127.41.0.0/16.
import type { ChildProcess } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"
import { cleanBundles, spawnScript, waitForLine } from "../inventory/children.js"
import { cleanInventoryBundle, inventoryCli } from "./inventoryCli.js"

let fleet: FleetHandle
let dir: string
let pristine: string
const stateFile = () => join(dir, "data/ip_state.json")
const readState = () => JSON.parse(readFileSync(stateFile(), "utf8")) as Record<string, Record<string, unknown>>
const run = (...args: Array<string>) => inventoryCli(dir, args)
const mac = (i: number) => fleet.devices[i]!.mac

beforeAll(async () => {
  fleet = await startFleet({
    devices: 4,
    baseIp: "127.41.0.1",
    port: 0,
    timeScale: 0.01,
    control: false,
    seed: 4,
    models: ["S2PMG3", "Mini1PMG3"],
    faults: ["1=friendly:Wohnzimmer", "3=offline"]
  })
  const seed = mkdtempSync(join(tmpdir(), "inventory-seed-"))
  await fleet.writeInventory(join(seed, "ip_state.json"), "flat")
  const state = JSON.parse(readFileSync(join(seed, "ip_state.json"), "utf8"))
  state[fleet.devices[1]!.mac].stage3 = { ota_status: "update_available", friendly_status: "ok", last_run: "2026-01-02T03:04:05Z" }
  pristine = `${JSON.stringify(state, null, 2)}\n`
  rmSync(seed, { recursive: true, force: true })
})

beforeEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  dir = mkdtempSync(join(tmpdir(), "inventory-e2e-"))
  mkdirSync(join(dir, "data"))
  writeFileSync(join(dir, "data/config.yaml"), `stage3:\n  device_port: ${fleet.port}\n  probe_timeout_ms: 500\n`)
  writeFileSync(stateFile(), pristine)
})

afterAll(async () => {
  await fleet?.stop()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  cleanInventoryBundle()
  cleanBundles()
})

describe("inventory list/show", () => {
  it("lists every device as a table, filters by model and status, --json is parseable", async () => {
    const table = await run("list")
    expect(table.code).toBe(0)
    const lines = table.out.trim().split("\n")
    expect(lines[0]).toMatch(/^MAC\s+IP\s+MODEL\s+FW\s+NAME/)
    expect(lines).toHaveLength(5)
    for (const device of fleet.devices) expect(table.out).toContain(device.ip!)
    expect(table.out).toContain("Wohnzimmer")
    expect(table.err).toContain("4 of 4 devices")

    const mini = await run("list", "--json", "--model", fleet.devices[1]!.app)
    const rows = JSON.parse(mini.out) as Array<{ mac: string; app: string }>
    expect(rows.length).toBeGreaterThan(0)
    expect(rows.every((r) => r.app === fleet.devices[1]!.app)).toBe(true)
    expect(rows.length).toBeLessThan(4)

    const pending = JSON.parse((await run("list", "--json", "--status", "update_available")).out) as Array<{ mac: string }>
    expect(pending.map((r) => r.mac)).toEqual([mac(1)])
  })

  it("--online probes the devices and leaves the offline one out", async () => {
    const result = await run("list", "--online", "--json")
    expect(result.code).toBe(0)
    const macs = (JSON.parse(result.out) as Array<{ mac: string }>).map((r) => r.mac).sort()
    expect(macs).toEqual([mac(0), mac(1), mac(3)].sort())
  })

  it("shows one device by IP or by MAC in another spelling; an unknown one is exit 2", async () => {
    const byIp = await run("show", fleet.devices[0]!.ip!, "--json")
    expect(byIp.code).toBe(0)
    expect(JSON.parse(byIp.out)).toMatchObject({ mac: mac(0), ip: fleet.devices[0]!.ip, friendly_name: "Wohnzimmer" })
    const spelled = mac(2).match(/../g)!.join(":").toLowerCase()
    const byMac = await run("show", spelled)
    expect(byMac.out).toContain(`ip: ${fleet.devices[2]!.ip}`)
    const missing = await run("show", "127.41.9.9")
    expect(missing.code).toBe(2)
    expect(missing.err).toContain("no device 127.41.9.9 in data/ip_state.json")
  })
})

describe("inventory writes", () => {
  it("set-name stores the normalised name, keeps other fields and a .bak", async () => {
    const result = await run("set-name", mac(2).toLowerCase(), "  Küche \u00a0  Decke ")
    expect(result.code).toBe(0)
    const state = readState()
    expect(state[mac(2)]!.friendly_name).toBe("Küche Decke")
    expect(state[mac(2)]!.hostname).toBe(JSON.parse(pristine)[mac(2)].hostname)
    expect(state[mac(1)]).toEqual(JSON.parse(pristine)[mac(1)])
    expect(readFileSync(`${stateFile()}.bak`, "utf8")).toBe(pristine)
  })

  it("refuses a name Stage 3 could not send and leaves the file untouched", async () => {
    for (const bad of ["zwei\nZeilen", "   ", "x".repeat(65)]) {
      const result = await run("set-name", mac(0), bad)
      expect(result.code).toBe(2)
      expect(result.err).toMatch(/friendly_name_invalid/)
      expect(result.err).toContain(mac(0))
    }
    expect(readFileSync(stateFile(), "utf8")).toBe(pristine)
    expect(existsSync(`${stateFile()}.bak`)).toBe(false)
  })

  it("refuses every write while Stage 1 holds the project lock (exit 3, file unchanged)", async () => {
    const holder: ChildProcess = spawnScript("lockHolder.ts", [join(dir, "var/run"), "stage1 --loop"])
    try {
      await waitForLine(holder, /^locked \d+/)
      const rename = await run("set-name", mac(0), "Neu")
      expect(rename.code).toBe(3)
      expect(rename.err).toContain(`PID ${holder.pid}`)
      expect(rename.err).toContain("stage1 --loop")
      expect((await run("forget", mac(0))).code).toBe(3)
      expect(readFileSync(stateFile(), "utf8")).toBe(pristine)
      // Reading is still allowed.
      expect((await run("list")).code).toBe(0)
    } finally {
      holder.kill("SIGKILL")
    }
  })

  it("forget removes exactly that device", async () => {
    const result = await run("forget", fleet.devices[3]!.ip!)
    expect(result.code).toBe(0)
    expect(Object.keys(readState()).sort()).toEqual([mac(0), mac(1), mac(2)].sort())
  })

  it("export → edit → import round-trips through CSV; new MACs are added", async () => {
    const exported = join(dir, "devices.csv")
    expect((await run("export", exported)).code).toBe(0)
    const csv = readFileSync(exported, "utf8").trim().split("\n")
    expect(csv[0]).toBe("mac,ip,model,app,fw,friendly_name,status,last_run")
    expect(csv).toHaveLength(5)
    const edited = csv.map((line, i) => (i === 1 ? line.replace("Wohnzimmer", '"Wohnzimmer, Ost"') : line))
    edited.push("02:00:00:00:41:01,127.41.5.1,S3SW-001P8EU,Mini1PMG3,1.4.4,Neu Gerät,,")
    writeFileSync(exported, `${edited.join("\r\n")}\r\n`)
    const imported = await run("import", exported)
    expect(imported.err).toBe("")
    expect(imported.code).toBe(0)
    expect(imported.out).toContain("1 added, 4 updated")
    const state = readState()
    expect(state[mac(0)]!.friendly_name).toBe("Wohnzimmer, Ost")
    expect(state["020000004101"]).toMatchObject({ ip: "127.41.5.1", friendly_name: "Neu Gerät" })
    expect(state[mac(1)]!.stage3).toEqual(JSON.parse(pristine)[mac(1)].stage3)

    const json = await run("export", "json")
    const devices = JSON.parse(json.out) as Array<{ mac: string }>
    expect(devices.map((d) => d.mac)).toContain("020000004101")
  })

  it("a CSV with bad rows names file, line and column and changes nothing", async () => {
    const bad = join(dir, "bad.csv")
    writeFileSync(
      bad,
      ["mac,ip,friendly_name", `${mac(0)},127.41.0.300,Gut`, "nicht-mac,127.41.5.2,X", `${mac(2)},${fleet.devices[0]!.ip},Doppelt`].join(
        "\n"
      )
    )
    const result = await run("import", bad)
    expect(result.code).toBe(2)
    expect(result.err).toContain("bad.csv line 2, column ip")
    expect(result.err).toContain("bad.csv line 3, column mac")
    expect(readFileSync(stateFile(), "utf8")).toBe(pristine)

    writeFileSync(bad, ["mac,ip", `${mac(2)},${fleet.devices[0]!.ip}`].join("\n"))
    const clash = await run("import", bad)
    expect(clash.code).toBe(2)
    expect(clash.err).toContain(`ip ${fleet.devices[0]!.ip} would belong to both`)
    expect(readFileSync(stateFile(), "utf8")).toBe(pristine)
  })

  it("set-ip assigns a planned address and refuses one already taken", async () => {
    expect((await run("set-ip", mac(2), "127.41.7.7")).code).toBe(0)
    expect(readState()[mac(2)]!.ip).toBe("127.41.7.7")
    const taken = await run("set-ip", mac(2), fleet.devices[0]!.ip!)
    expect(taken.code).toBe(2)
    expect(taken.err).toContain(`already the address of ${mac(0)}`)
  })
})
