import { Effect, Either, Exit, Redacted } from "effect"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import type { FleetHandle } from "../../sim/shelly/index.js"
import { deviceCertA, deviceCertB } from "../../sim/shelly/tlsCerts.js"
import { pinKey } from "../../src/shelly/certPins.js"
import * as Methods from "../../src/shelly/methods.js"
import { ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import type { Stage1Settings } from "../../src/stages/stage1.js"
import { shellyPathHarness } from "./shellyPathHarness.js"
import type { ShellyProject } from "./shellyPathHarness.js"
import { directStage1Settings, runStage1Direct } from "./stage1Direct.js"

const harness = shellyPathHarness({ net: "127.132", portBase: 21400 })
let p: ShellyProject

const pinFile = () => join(p.dir, "data/shelly_cert_pins.json")

const settingsFor = (f: FleetHandle, lines: Array<string>): Stage1Settings =>
  directStage1Settings(p, f, lines, {
    disable: { cloud: true, ble: false, ap: true, mqtt: true },
    adminPassword: Redacted.make("admin-secret-pw"),
    tls: { pinFile: pinFile() }
  })

const run = (f: FleetHandle, settings: Stage1Settings) => runStage1Direct(p, f, settings)

const pinDocument = (mac: string, sha256: string) =>
  `${JSON.stringify({ version: 1, pins: { [pinKey(mac)]: { sha256, pinned_at: "2026-12-01T10:00:00.000Z" } } }, null, 2)}\n`

const writes = (f: FleetHandle) =>
  f.state(1)!.rpcLog.filter((c) => c.method.endsWith("SetConfig") || c.method === "Shelly.SetAuth" || c.method === "Shelly.Reboot")

describe("Stage 1 over HTTPS: certificate pinned per MAC on first use", () => {
  it("first use: the device's certificate is pinned for its MAC, every call goes over TLS, the device joins", async () => {
    p = await harness.start({ devices: 1, faults: ["1=factory,https"] })
    const f = p.fleet
    expect(existsSync(pinFile())).toBe(false)
    const lines: Array<string> = []
    const { exit, results } = await run(f, settingsFor(f, lines))
    expect(exit._tag).toBe("Success")
    expect(results).toMatchObject([{ status: "ok", ip: f.devices[0]!.ip }])
    const pins = JSON.parse(readFileSync(pinFile(), "utf8")) as { version: number; pins: Record<string, { sha256: string }> }
    expect(pins.version).toBe(1)
    expect(Object.keys(pins.pins)).toEqual([pinKey(f.devices[0]!.mac)])
    expect(pins.pins[pinKey(f.devices[0]!.mac)]!.sha256).toBe(deviceCertA.sha256)
    expect(f.state(1)!.authEnabled).toBe(true)
    expect(f.state(1)!.config).toMatchObject({ wifi: { ap: { enable: false } }, cloud: { enable: false } })
    // The device speaks only TLS: a plain-HTTP call to it does not get an answer.
    const plain = await Effect.runPromiseExit(
      Methods.getDeviceInfo({ host: f.devices[0]!.ip!, port: f.port }, { timeout: "1 second" }).pipe(Effect.provide(ShellyRpcLive))
    )
    expect(Exit.isFailure(plain)).toBe(true)
  })

  it("the same certificate again: passes, the pin file is not rewritten", async () => {
    p = await harness.start({ devices: 1, faults: ["1=factory,https"] })
    const f = p.fleet
    writeFileSync(pinFile(), pinDocument(f.devices[0]!.mac, deviceCertA.sha256))
    const before = readFileSync(pinFile(), "utf8")
    const lines: Array<string> = []
    const { results } = await run(f, settingsFor(f, lines))
    expect(results).toMatchObject([{ status: "ok" }])
    expect(readFileSync(pinFile(), "utf8")).toBe(before)
    expect(existsSync(`${pinFile()}.bak`)).toBe(false)
  })

  it("a changed certificate is refused before any setting or password is sent; the error names the MAC, both fingerprints and how to forget the pin; pin file intact", async () => {
    p = await harness.start({ devices: 1, faults: ["1=factory,https_new_cert"] })
    const f = p.fleet
    const mac = f.devices[0]!.mac
    writeFileSync(pinFile(), pinDocument(mac, deviceCertA.sha256))
    const before = readFileSync(pinFile(), "utf8")
    const lines: Array<string> = []
    const { exit, results } = await run(f, settingsFor(f, lines))
    expect(exit._tag).toBe("Success")
    expect(results).toMatchObject([{ status: "failed", error: { code: "certificate_changed" } }])
    const error = results[0]!.error!
    expect(error.message).toContain(pinKey(mac))
    expect(error.message).toContain(deviceCertA.sha256)
    expect(error.message).toContain(deviceCertB.sha256)
    expect(error.hint).toContain(`delete the "${pinKey(mac)}" entry from ${pinFile()}`)
    // Nothing was written to the device, no password left the Pi, the pin file is as it was.
    expect(writes(f)).toEqual([])
    expect(f.state(1)!.authEnabled).toBe(false)
    expect(readFileSync(pinFile(), "utf8")).toBe(before)
    for (const text of [error.message, error.hint, ...lines]) expect(text).not.toMatch(/admin-secret-pw|prod-wifi-pw/)
    expect(f.apLink()).toBeNull()
  })

  it("an unreadable pin file fails the device with the file named; the file is left as it was", async () => {
    p = await harness.start({ devices: 1, faults: ["1=factory,https"] })
    const f = p.fleet
    writeFileSync(pinFile(), '{"version":1,"pins":{"not-a-mac":{"sha256":"x"}}}\n')
    const before = readFileSync(pinFile(), "utf8")
    const { results } = await run(f, settingsFor(f, []))
    expect(results).toMatchObject([{ status: "failed", error: { code: "cert_pins_invalid" } }])
    expect(results[0]!.error!.message).toContain(pinFile())
    expect(writes(f)).toEqual([])
    expect(readFileSync(pinFile(), "utf8")).toBe(before)
  })
})

describe("Stage 1's reboot-loop watch over HTTPS", () => {
  it("the watch polls the joined device over TLS with its pin: a reboot loop on an HTTPS-only device is detected, not left unverified", async () => {
    p = await harness.start({ devices: 1, faults: ["1=factory,https,reboot_loop"] })
    const f = p.fleet
    const { results } = await run(f, { ...settingsFor(f, []), stabilityWindow: "1500 millis" })
    expect(results).toMatchObject([{ status: "failed", error: { code: "reboot_loop" } }])
    // The watch's Sys.GetStatus polls reached the device (it serves nothing but TLS).
    expect(f.state(1)!.rpcLog.filter((c) => c.method === "Sys.GetStatus").length).toBeGreaterThan(1)
  })
})

describe("ShellyRpc over HTTPS with a pin", () => {
  it("a connection whose certificate differs from the pin fails with CertificateChanged and the device never sees the request", async () => {
    p = await harness.start({ devices: 1, faults: ["1=https_new_cert"] })
    const f = p.fleet
    const device = f.devices[0]!
    const target = (sha256: string) => ({
      host: device.ip!,
      port: f.port,
      tls: { pinned: { sha256, mac: pinKey(device.mac), file: "data/shelly_cert_pins.json" } }
    })
    const seenBefore = f.state(1)!.requestLines.length
    const refused = await Effect.runPromise(
      Effect.either(Methods.getDeviceInfo(target(deviceCertA.sha256), { timeout: "2 seconds" })).pipe(Effect.provide(ShellyRpcLive))
    )
    expect(Either.isLeft(refused) && refused.left._tag).toBe("CertificateChanged")
    expect(f.state(1)!.requestLines.length).toBe(seenBefore)
    // The pinned certificate itself passes.
    const info = await Effect.runPromise(
      Methods.getDeviceInfo(target(deviceCertB.sha256), { timeout: "2 seconds" }).pipe(Effect.provide(ShellyRpcLive))
    )
    expect(pinKey(info.mac)).toBe(pinKey(device.mac))
  })
})
