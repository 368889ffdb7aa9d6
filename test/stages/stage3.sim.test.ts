// Stage 3 end to end in-process: the real RPC client (HTTP over loopback)
// against the Shelly simulator, the real inventory store on temp files.
// Loopback block of this file: 127.30.0.0/16.
import { Option } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { afterEach, describe, expect, it } from "vitest"
import { methodsCalled, openProject, type Project } from "./stage3Harness.js"

/**
 * One device per case (1-based numbers; IPs count up from the base):
 *  1 in sync · 2 update + other name · 3 offline · 4 blackhole · 5 CheckForUpdate fails
 *  6 update but Shelly.Update fails · 7 Sys.SetConfig fails · 8 no friendly name
 *  9 another device at the IP · 10 unsendable name · 11 Sys.GetConfig fails
 *  12 HTTP 500 on spaced JSON · 13 device has its own name · 14 device has no name
 */
const fleetFaults = [
  "1=friendly:Wohnzimmer,name:Wohnzimmer",
  "2=update,friendly:Küche,name:Alt",
  "3=offline,friendly:Schuppen",
  "4=blackhole",
  "5=fail:Shelly.CheckForUpdate",
  "6=update,fail:Shelly.Update",
  "7=fail:Sys.SetConfig,friendly:Flur",
  "9=wrong_mac,friendly:Diele",
  "10=friendly:placeholder",
  "11=fail:Sys.GetConfig,friendly:Keller",
  "12=http500_on_spaces,friendly:Garage",
  "13=name:Werkbank,friendly:Werkstatt",
  "14=friendly:Dachboden"
]

let project: Project | undefined
afterEach(async () => {
  await project?.close()
  project = undefined
})

let block = 0
const open = async (format: "flat" | "wrapped" = "flat") => {
  block += 1
  project = await openProject({ devices: 14, baseIp: `127.30.${block}.1`, faults: fleetFaults, seed: 3 }, format)
  project.editState((devices) => {
    // The simulator names every device's inventory entry unless told otherwise.
    for (const n of [4, 5, 6, 8]) delete Object.values(devices).find((d) => d.ip === ip(n))!.friendly_name
    const tenth = Object.values(devices).find((d) => d.ip === ip(10))!
    tenth.friendly_name = "Bad\u0007Name"
    const first = Object.values(devices).find((d) => d.ip === ip(1))!
    first.custom_field = { kept: [1, "two"] }
    first.fw = "0.0.0"
    first.hostname = "stale-name"
    first.stage3 = { ota_status: "offline", operator_note: "moved" }
  })
  return project
}
const ip = (n: number) => `127.30.${block}.${n}`
const macOf = (n: number) => project!.fleet.devices[n - 1]!.mac
const recordOf = (n: number) => {
  const state = project!.state()
  return Object.values(state).find((d) => d.ip === ip(n))!
}
const appOf = (n: number) => project!.fleet.devices[n - 1]!.app

describe("stage3 --dry-run", () => {
  it("reads every status and writes nothing to devices or to ip_state.json", async () => {
    const p = await open()
    p.writeConfig("ota:\n  mode: check_and_update")
    const before = readFileSync(p.stateFile)
    const namesBefore = p.fleet.devices.map((d) => d.name)
    const run = await p.run({ dryRun: true })

    expect(run.line(ip(1))).toBe(`● ${appOf(1)} @ ${ip(1)} - OTA=up_to_date | Friendly=ok (Wohnzimmer)`)
    expect(run.line(ip(2))).toBe(`● ${appOf(2)} @ ${ip(2)} - OTA=updateable | Friendly=pending (Küche)`)
    expect(run.line(ip(3))).toMatch(new RegExp(`^● \\S+ @ ${ip(3).replace(/\./g, "\\.")} - OTA=offline$`))
    expect(run.line(ip(4))).toMatch(/ - OTA=offline$/)
    expect(run.line(ip(5))).toBe(`● ${appOf(5)} @ ${ip(5)} - OTA=check_failed | Friendly=no_value | ERR=OTA: HTTP 500`)
    expect(run.line(ip(6))).toBe(`● ${appOf(6)} @ ${ip(6)} - OTA=updateable | Friendly=no_value`)
    expect(run.line(ip(7))).toBe(`● ${appOf(7)} @ ${ip(7)} - OTA=up_to_date | Friendly=pending (Flur)`)
    expect(run.line(ip(8))).toBe(`● ${appOf(8)} @ ${ip(8)} - OTA=up_to_date | Friendly=no_value`)
    expect(run.line(ip(9))).toMatch(/ - OTA=error \| ERR=mac mismatch \(found [0-9A-F]{12}\)$/)
    expect(run.line(ip(9))).not.toContain(macOf(9))
    expect(run.line(ip(10))).toBe(
      `● ${appOf(10)} @ ${ip(10)} - OTA=up_to_date | Friendly=error (Bad?Name) | ERR=friendly: name contains a contr…`
    )
    expect(run.line(ip(11))).toBe(`● ${appOf(11)} @ ${ip(11)} - OTA=up_to_date | Friendly=pending (Keller)`)
    expect(run.out.at(-1)).toBe("Stage 3 summary: total=14 ok=9 failed=5")
    expect(run.code).toBe(1)

    // Nothing was written anywhere.
    expect(readFileSync(p.stateFile).equals(before)).toBe(true)
    expect(existsSync(`${p.stateFile}.bak`)).toBe(false)
    expect(p.fleet.devices.map((d) => d.name)).toEqual(namesBefore)
    expect(p.fleet.devices[1]!.pendingUpdate.stable).toBeDefined()
    for (let n = 1; n <= 14; n++) {
      const called = methodsCalled(p.fleet, n)
      expect(called.filter((m) => m === "Sys.SetConfig" || m === "Shelly.Update")).toEqual([])
    }
    // Names come from Shelly.GetDeviceInfo: no extra Sys.GetConfig per device.
    expect(methodsCalled(p.fleet, 2)).toEqual(["Shelly.GetDeviceInfo", "Shelly.CheckForUpdate"])
    // The MAC mismatch stops before any other call to that address.
    expect(methodsCalled(p.fleet, 9)).not.toContain("Shelly.CheckForUpdate")
  })
})

describe("stage3 (real run)", () => {
  it("updates, writes and reads back names, reports every failure, and records it all in ip_state.json", async () => {
    const p = await open()
    p.writeConfig("ota:\n  mode: check_and_update\nfriendly:\n  backfill: false")
    const run = await p.run()

    expect(run.line(ip(1))).toBe(`● ${appOf(1)} @ ${ip(1)} - OTA=up_to_date | Friendly=ok (Wohnzimmer)`)
    expect(methodsCalled(p.fleet, 1)).not.toContain("Sys.SetConfig")
    expect(run.line(ip(2))).toBe(`● ${appOf(2)} @ ${ip(2)} - OTA=updateable | Friendly=ok (Küche)`)
    expect(p.fleet.device(2)!.name).toBe("Küche")
    const two = p.fleet.state(2)!.rpcLog
    expect(two.find((e) => e.method === "Shelly.Update")?.params).toEqual({ stage: "stable" })
    // The name was read back after the write, and the update was sent last.
    const order = two.map((e) => e.method)
    expect(order.lastIndexOf("Sys.GetConfig")).toBeGreaterThan(order.indexOf("Sys.SetConfig"))
    expect(order.indexOf("Shelly.Update")).toBeGreaterThan(order.lastIndexOf("Sys.GetConfig"))

    expect(run.line(ip(6))).toBe(`● ${appOf(6)} @ ${ip(6)} - OTA=error | Friendly=no_value | ERR=OTA: HTTP 500`)
    expect(run.line(ip(7))).toBe(`● ${appOf(7)} @ ${ip(7)} - OTA=up_to_date | Friendly=error (Flur) | ERR=friendly: HTTP 500`)
    expect(run.line(ip(11))).toBe(
      `● ${appOf(11)} @ ${ip(11)} - OTA=up_to_date | Friendly=error (Keller) | ERR=friendly: read back: HTTP 500`
    )
    expect(p.fleet.device(11)!.name).toBe("Keller")
    // Compact JSON passes a firmware that answers HTTP 500 on spaces.
    expect(run.line(ip(12))).toBe(`● ${appOf(12)} @ ${ip(12)} - OTA=up_to_date | Friendly=ok (Garage)`)
    expect(p.fleet.device(12)!.name).toBe("Garage")
    expect(run.line(ip(13))).toBe(`● ${appOf(13)} @ ${ip(13)} - OTA=up_to_date | Friendly=ok (Werkstatt)`)
    expect(p.fleet.device(13)!.name).toBe("Werkstatt")
    expect(p.fleet.device(14)!.name).toBe("Dachboden")
    // Another device answered at 9's address: nothing was written to it.
    expect(methodsCalled(p.fleet, 9).filter((m) => m !== "Shelly.GetDeviceInfo")).toEqual([])
    expect(p.fleet.device(10)!.name).not.toBe("Bad\u0007Name")
    expect(run.out.at(-1)).toBe("Stage 3 summary: total=14 ok=6 failed=8")
    expect(run.code).toBe(1)

    // ip_state.json: statuses, metadata, unknown fields and key order kept, .bak written.
    expect(existsSync(`${p.stateFile}.bak`)).toBe(true)
    const one = recordOf(1)
    expect(one.custom_field).toEqual({ kept: [1, "two"] })
    expect(one.stage3).toMatchObject({ ota_status: "up_to_date", friendly_status: "ok", operator_note: "moved" })
    expect(Object.keys(one.stage3 as object)).toEqual(["ota_status", "operator_note", "friendly_status", "last_run"])
    expect(Date.parse((one.stage3 as { last_run: string }).last_run)).not.toBeNaN()
    const device1 = p.fleet.device(1)!
    expect([one.model, one.fw, one.hostname]).toEqual([device1.model, device1.fw, device1.id])
    expect(recordOf(2).stage3).toMatchObject({ ota_status: "update_available", friendly_status: "ok" })
    expect(recordOf(3).stage3).toEqual({ ota_status: "offline", last_run: (one.stage3 as { last_run: string }).last_run })
    expect(recordOf(5).stage3).toMatchObject({ ota_status: "check_failed", friendly_status: "no_value" })
    expect(recordOf(6).stage3).toMatchObject({ ota_status: "error" })
    expect(recordOf(7).stage3).toMatchObject({ friendly_status: "error" })
    const nine = recordOf(9)
    // No metadata from the stranger that answered.
    expect(nine.stage3).toEqual({ ota_status: "error", last_run: expect.any(String) })

    // The log file has the full messages.
    const log = readFileSync(`${p.dir}/stage3.log`, "utf8")
    expect(log).toContain("Sys.SetConfig on")
    expect(log).toMatch(/stage3 end total=14 ok=6 failed=8/)
  })

  it("--wait-update reports `updated` once the device runs the new firmware", async () => {
    const p = await open()
    p.writeConfig("ota:\n  mode: check_and_update\nupdate_wait:\n  timeout: 10\n  interval: 0.05")
    const run = await p.run({ waitUpdate: true, ips: [ip(2)] })
    expect(run.out).toEqual([`● ${appOf(2)} @ ${ip(2)} - OTA=updated | Friendly=ok (Küche)`, "Stage 3 summary: total=1 ok=1 failed=0"])
    expect(run.code).toBe(0)
    const newVersion = p.fleet.device(2)!.fw
    expect(recordOf(2)).toMatchObject({ fw: newVersion, stage3: { ota_status: "updated" } })
    const again = await p.run({ ips: [ip(2)] })
    expect(again.line(ip(2))).toContain("OTA=up_to_date")
  })

  it("backfill: true keeps a name the device has and fills only empty ones", async () => {
    const p = await open()
    p.writeConfig("friendly:\n  backfill: true")
    const run = await p.run({ ips: [ip(1), ip(11), ip(13), ip(14)] })
    expect(run.line(ip(13))).toBe(`● ${appOf(13)} @ ${ip(13)} - OTA=up_to_date | Friendly=ok (Werkbank)`)
    expect(p.fleet.device(13)!.name).toBe("Werkbank")
    expect(methodsCalled(p.fleet, 13)).not.toContain("Sys.SetConfig")
    expect(run.line(ip(14))).toBe(`● ${appOf(14)} @ ${ip(14)} - OTA=up_to_date | Friendly=ok (Dachboden)`)
    expect(p.fleet.device(14)!.name).toBe("Dachboden")
    // Its name comes from Shelly.GetDeviceInfo (empty), so it is filled; the read-back fails.
    expect(run.line(ip(11))).toBe(
      `● ${appOf(11)} @ ${ip(11)} - OTA=up_to_date | Friendly=error (Keller) | ERR=friendly: read back: HTTP 500`
    )
    expect(run.out.at(-1)).toBe("Stage 3 summary: total=4 ok=3 failed=1")
  })

  it("ota.enabled: false → skipped; friendly.enabled: false → no Friendly part; exit 0 when all ok", async () => {
    const p = await open("wrapped")
    p.writeConfig("ota:\n  enabled: false\nfriendly:\n  enabled: false")
    const run = await p.run({ ips: [ip(1), ip(5)] })
    expect(run.out).toEqual([
      `● ${appOf(1)} @ ${ip(1)} - OTA=skipped`,
      `● ${appOf(5)} @ ${ip(5)} - OTA=skipped`,
      "Stage 3 summary: total=2 ok=2 failed=0"
    ])
    expect(run.code).toBe(0)
    const doc = JSON.parse(readFileSync(p.stateFile, "utf8"))
    expect(doc.version).toBe(1)
    expect(Object.keys(doc)).toEqual(["version", "devices"])
    expect(recordOf(5).stage3).toMatchObject({ ota_status: "skipped" })
    expect(methodsCalled(p.fleet, 5)).toEqual(["Shelly.GetDeviceInfo"])
  })
})

describe("stage3 flags", () => {
  it("--ip, --online, --quiet, --json, --concurrency and a bad --ip", async () => {
    const p = await open()
    const ips = [ip(1), ip(3), ip(5)]

    const online = await p.run({ dryRun: true, ips, online: true })
    expect(online.out).toHaveLength(3)
    expect(online.out.some((l) => l.includes("OTA=offline"))).toBe(false)
    expect(online.out.at(-1)).toBe("Stage 3 summary: total=3 ok=1 failed=2")

    const quiet = await p.run({ dryRun: true, ips, quiet: true })
    expect(quiet.out).toEqual([
      `● ${appOf(5)} @ ${ip(5)} - OTA=check_failed | Friendly=no_value | ERR=OTA: HTTP 500`,
      "Stage 3 summary: total=3 ok=1 failed=2"
    ])

    const json = await p.run({ dryRun: true, ips: [`${ip(1)},${ip(3)}`], json: true, concurrency: Option.some(1) })
    const objects = json.out.map((l) => JSON.parse(l))
    expect(objects).toEqual([
      expect.objectContaining({
        type: "device",
        ip: ip(1),
        mac: macOf(1),
        ota_status: "up_to_date",
        friendly_status: "ok",
        friendly_name: "Wohnzimmer",
        ok: true,
        errors: []
      }),
      expect.objectContaining({ type: "device", ip: ip(3), ota_status: "offline", friendly_status: null, ok: false }),
      { type: "summary", total: 2, ok: 1, failed: 1, dry_run: true }
    ])

    const unknown = await p.run({ dryRun: true, ips: ["127.30.250.250"] })
    expect(unknown.err).toContain(`warning: no device with ip 127.30.250.250 in ${p.stateFile}`)
    expect(unknown.out).toEqual(["Stage 3 summary: total=0 ok=0 failed=0"])

    const bad = await p.run({ ips: ["127.30.1"] })
    expect(bad.code).toBe(2)
    expect(bad.err[0]).toMatch(/^error: --ip: "127\.30\.1" is not an IPv4 address/)
  })

  it("a disabled stage says so and touches nothing", async () => {
    const p = await open()
    p.writeConfig("enabled: false")
    const before = readFileSync(p.stateFile)
    const run = await p.run()
    expect(run.code).toBe(0)
    expect(run.out).toEqual([`Stage 3 is disabled (stage3.enabled: false in ${p.configFile}); nothing to do.`])
    expect(readFileSync(p.stateFile).equals(before)).toBe(true)
    expect(p.fleet.devices.every((d) => d.name === null || d.name !== "")).toBe(true)
    expect(methodsCalled(p.fleet, 1)).toEqual([])
  })
})
