// Stage 3 (stage3Program, the real RPC client and file system) against
// simulated devices that serve their API over HTTPS only (traits `https` /
// `https_new_cert`, sim/shelly/tlsCerts.ts), with `stage1.https` on: the
// per-MAC pins Stage 1 records (src/shelly/certPins.ts) are held to, an
// unpinned device is pinned on first use, a changed certificate fails only
// that device, before anything is sent to it, and leaves the pin file as it was.
// Loopback block of this file: 127.133.0.0/16.
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { deviceCertA, deviceCertB } from "../../sim/shelly/tlsCerts.js"
import { pinKey } from "../../src/shelly/certPins.js"
import { methodsCalled, openProject, type Project } from "./stage3Harness.js"

let project: Project | undefined
let block = 0
afterEach(async () => {
  await project?.close()
  project = undefined
})

const open = async (faults: ReadonlyArray<string>) => {
  block += 1
  const p = await openProject({ devices: 2, baseIp: `127.133.${block}.1`, faults, seed: 5 })
  project = p
  const pinFile = join(p.dir, "pins.json")
  // HTTPS is one setting for all stages: stage1.https (README "HTTPS").
  writeFileSync(
    p.configFile,
    [
      "stage1:",
      "  https:",
      "    enabled: true",
      `    pin_file: ${pinFile}`,
      "stage3:",
      `  ip_state_file: ${p.stateFile}`,
      `  device_port: ${p.fleet.port}`,
      "  logging:",
      `    base_path: ${join(p.dir, "stage3.log")}`,
      ""
    ].join("\n")
  )
  return { p, pinFile }
}

const ipOf = (p: Project, n: number) => p.fleet.devices[n - 1]!.ip!
const macOf = (p: Project, n: number) => p.fleet.devices[n - 1]!.mac

const pinDocument = (pins: ReadonlyArray<readonly [string, string]>) =>
  `${JSON.stringify(
    {
      version: 1,
      pins: Object.fromEntries(pins.map(([mac, sha256]) => [pinKey(mac), { sha256, pinned_at: "2026-12-01T10:00:00.000Z" }]))
    },
    null,
    2
  )}\n`

const writes = (p: Project, n: number) => methodsCalled(p.fleet, n).filter((m) => m.endsWith("SetConfig") || m === "Shelly.Update")

describe("Stage 3 over HTTPS (stage1.https)", () => {
  it("names the devices and reads their firmware over TLS; unpinned devices are pinned on first use, the next run holds them to it", async () => {
    const { p, pinFile } = await open(["all=https"])
    p.editState((devices) => {
      for (const d of Object.values(devices)) {
        d.friendly_name = d.ip === ipOf(p, 1) ? "Küche" : "Flur"
        // Stale on purpose: the run must read the version from the device.
        d.fw = "0.0.0"
      }
    })
    expect(existsSync(pinFile)).toBe(false)

    const run = await p.run()
    expect(run.err).toEqual([])
    expect(run.code).toBe(0)
    expect(run.line(ipOf(p, 1))).toContain("Friendly=ok (Küche)")
    expect(run.line(ipOf(p, 2))).toContain("Friendly=ok (Flur)")
    // The names really reached the devices, over TLS (they serve nothing else).
    expect(p.fleet.state(1)!.config).toMatchObject({ sys: { device: { name: "Küche" } } })
    expect(p.fleet.state(2)!.config).toMatchObject({ sys: { device: { name: "Flur" } } })
    // The firmware read from the device is in the inventory.
    const state = Object.values(p.state())
    const first = state.find((d) => d.ip === ipOf(p, 1))!
    expect(p.fleet.devices[0]!.fw).not.toBe("0.0.0")
    expect(first.fw).toBe(p.fleet.devices[0]!.fw)

    const pins = JSON.parse(readFileSync(pinFile, "utf8")) as { pins: Record<string, { sha256: string }> }
    expect(Object.keys(pins.pins).sort()).toEqual([pinKey(macOf(p, 1)), pinKey(macOf(p, 2))].sort())
    expect(pins.pins[pinKey(macOf(p, 1))]!.sha256).toBe(deviceCertA.sha256)

    // Second run: the pins pass, the file is not rewritten.
    const before = readFileSync(pinFile, "utf8")
    const again = await p.run()
    expect(again.code).toBe(0)
    expect(readFileSync(pinFile, "utf8")).toBe(before)
  })

  it("a changed certificate fails only that device, with the fix; nothing is sent to it, the pin file and its record stay as they were", async () => {
    const { p, pinFile } = await open(["1=https_new_cert", "2=https"])
    p.editState((devices) => {
      for (const d of Object.values(devices)) d.friendly_name = "Neu"
    })
    writeFileSync(
      pinFile,
      pinDocument([
        [macOf(p, 1), deviceCertA.sha256],
        [macOf(p, 2), deviceCertA.sha256]
      ])
    )
    const pinsBefore = readFileSync(pinFile, "utf8")
    const nameBefore = (p.fleet.state(1)!.config as { sys: { device: { name: unknown } } }).sys.device.name

    const run = await p.run()
    expect(run.code).toBe(1)
    expect(run.line(ipOf(p, 1))).toContain("ERR=identity: certificate changed")
    expect(run.line(ipOf(p, 2))).toContain("Friendly=ok (Neu)")
    expect(run.out.at(-1)).toBe("Stage 3 summary: total=2 ok=1 failed=1")
    // The fix, on stderr: which entry of which file to delete.
    const problem = run.err.find((l) => l.includes("certificate_changed"))
    expect(problem).toBeDefined()
    expect(problem).toContain(deviceCertB.sha256)
    expect(problem).toContain(`delete the "${pinKey(macOf(p, 1))}" entry from ${pinFile}`)
    // And in the log file.
    expect(readFileSync(join(p.dir, "stage3.log"), "utf8")).toContain(`delete the "${pinKey(macOf(p, 1))}" entry`)

    expect(readFileSync(pinFile, "utf8")).toBe(pinsBefore)
    expect(methodsCalled(p.fleet, 1)).toEqual([])
    expect(writes(p, 1)).toEqual([])
    expect((p.fleet.state(1)!.config as { sys: { device: { name: unknown } } }).sys.device.name).toBe(nameBefore)
    expect(writes(p, 2)).toContain("Sys.SetConfig")
  })

  it("a dry run reads over TLS but writes no pin", async () => {
    const { p, pinFile } = await open(["all=https"])
    const run = await p.run({ dryRun: true })
    expect(run.code).toBe(0)
    expect(run.line(ipOf(p, 1))).toContain("OTA=")
    expect(run.line(ipOf(p, 1))).not.toContain("ERR=")
    expect(methodsCalled(p.fleet, 1)).toContain("Shelly.GetDeviceInfo")
    expect(existsSync(pinFile)).toBe(false)
  })

  it("a bad pin file stops the run before any device is contacted, naming the file", async () => {
    const { p, pinFile } = await open(["all=https"])
    writeFileSync(pinFile, "{not json")
    const run = await p.run()
    expect(run.code).toBe(-1)
    expect(run.err.join("\n")).toContain(pinFile)
    expect(methodsCalled(p.fleet, 1)).toEqual([])
    expect(readFileSync(pinFile, "utf8")).toBe("{not json")
  })
})
