// `provision credentials rotate` as a child process, SIGKILLed right after
// each step (PROVISION_CRASH_AT): whatever the step, the device has a password
// that data/device-secrets.yaml holds, and the next rotation settles the file.
// Devices: the in-process simulator. Loopback block of this file: 127.92.0.0/16.
import { Effect, Redacted } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { expect, it } from "vitest"
import YAML from "yaml"
import { deviceCertA, deviceCertB } from "../../sim/shelly/tlsCerts.js"
import { pinKey } from "../../src/shelly/certPins.js"
import type { DeviceTls } from "../../src/shelly/ShellyRpc.js"
import { makeShellyRpc } from "../../src/shelly/ShellyRpcLive.js"
import { SysStatus } from "../../src/shelly/schemas.js"
import { provisionProcesses, shellyPathHarness } from "../stages/shellyPathHarness.js"

const harness = shellyPathHarness({ net: "127.92", portBase: 19250 })
const provision = provisionProcesses()
const FLEET_PW = "fleet-pw-rotate-92"

type Entry = { password?: string; pending?: string }
const entryOf = (dir: string, mac: string): Entry =>
  (YAML.parse(readFileSync(join(dir, "data/device-secrets.yaml"), "utf8")) as { devices: Record<string, Entry> }).devices[mac] ?? {}

const raw = makeShellyRpc({ defaultTimeout: "3 seconds", source: "test" })
/** Whether the device accepts exactly this password (the plain client: no fallback); `tls` for a device on HTTPS. */
const accepts = (host: string, port: number, password: string, tls?: DeviceTls) =>
  Effect.runPromise(
    raw.call({ host, port, password: Redacted.make(password), ...(tls ? { tls } : {}) }, "Sys.GetStatus", undefined, SysStatus).pipe(
      Effect.as(true),
      Effect.catchTag("AuthRequired", () => Effect.succeed(false))
    )
  )

it("a SIGKILL after any step leaves the device with a stored password; the next rotation settles it", async () => {
  const p = await harness.start({ devices: 1, adminPassword: FLEET_PW, faults: ["1=protected"] }, { inventory: true })
  const d = p.fleet.devices[0]!
  writeFileSync(join(p.dir, "data/config.yaml"), YAML.stringify({ stage3: { device_port: p.fleet.port } }))
  writeFileSync(join(p.dir, "data/secrets.yaml"), YAML.stringify({ device: { admin_password: FLEET_PW } }))
  const rotate = async (crashAt?: string) => {
    const run = provision(p.dir, ["credentials", "rotate", "--mac", d.mac], crashAt === undefined ? {} : { PROVISION_CRASH_AT: crashAt })
    const code = await run.exited
    return { code, signal: run.child.signalCode, out: run.stdout(), err: run.stderr() }
  }

  // First rotation: from the fleet password to the device's own.
  const first = await rotate()
  expect(first.err).toBe("")
  expect(first.out).toContain(`● ${d.mac} @ ${d.ip} - password rotated`)
  expect(first.out).toContain("Credentials summary: total=1 rotated=1 failed=0")
  expect(first.code).toBe(0)
  let entry = entryOf(p.dir, d.mac)
  expect(entry.pending).toBeUndefined()
  expect(await accepts(d.ip!, p.fleet.port, entry.password!)).toBe(true)
  expect(await accepts(d.ip!, p.fleet.port, FLEET_PW)).toBe(false)

  // Each crashed run starts from what the previous one left (a pending password
  // included), so the reconciliation at the start of a run is exercised too.
  let deviceHas = entry.password!
  for (const step of ["reconciled", "staged", "sent", "verified", "confirmed"]) {
    const crashed = await rotate(step)
    expect(crashed.signal, `killed after ${step}`).toBe("SIGKILL")
    entry = entryOf(p.dir, d.mac)
    const stored = [entry.password, entry.pending].filter((x): x is string => x !== undefined)
    const valid = []
    for (const pw of stored) if (await accepts(d.ip!, p.fleet.port, pw)) valid.push(pw)
    expect(valid.length, `after ${step}: the device has exactly one of the stored passwords`).toBe(1)
    // Which one, by step: the old one until SetAuth went out, a new one after.
    if (step === "reconciled" || step === "staged") expect(valid[0]).toBe(deviceHas)
    else expect(valid[0]).not.toBe(deviceHas)
    deviceHas = valid[0]!
  }
  const settled = await rotate()
  expect(settled.code, `rotation after the crashes: ${settled.out}${settled.err}`).toBe(0)
  entry = entryOf(p.dir, d.mac)
  expect(entry.pending).toBeUndefined()
  expect(await accepts(d.ip!, p.fleet.port, entry.password!)).toBe(true)
  expect(await accepts(d.ip!, p.fleet.port, deviceHas)).toBe(false)
  // The SetAuth calls went as POST frames: no ha1 in any URL.
  const sent = p.fleet.state(d.mac)!.rpcLog.filter((e) => e.method === "Shelly.SetAuth")
  expect(sent.length).toBeGreaterThan(0)
  expect(sent.every((e) => e.transport !== "get")).toBe(true)
}, 400_000)

it("over HTTPS (stage1.https): the rotation talks TLS and pins the device on first use; a certificate other than the pin fails the device with nothing sent", async () => {
  const p = await harness.start({ devices: 2, adminPassword: FLEET_PW, faults: ["all=protected,https"] }, { inventory: true })
  const [d1, d2] = [p.fleet.devices[0]!, p.fleet.devices[1]!]
  const pinFile = join(p.dir, "data/shelly_cert_pins.json")
  writeFileSync(
    join(p.dir, "data/config.yaml"),
    YAML.stringify({ stage1: { https: { enabled: true, pin_file: pinFile } }, stage3: { device_port: p.fleet.port } })
  )
  writeFileSync(join(p.dir, "data/secrets.yaml"), YAML.stringify({ device: { admin_password: FLEET_PW } }))
  // Device 2 was pinned earlier with another certificate than the one it serves now.
  writeFileSync(
    pinFile,
    `${JSON.stringify({ version: 1, pins: { [pinKey(d2.mac)]: { sha256: deviceCertB.sha256, pinned_at: "2026-12-01T10:00:00.000Z" } } }, null, 2)}\n`
  )
  const run = provision(p.dir, ["credentials", "rotate"])
  const code = await run.exited
  const out = run.stdout()
  expect(out).toContain(`● ${d1.mac} @ ${d1.ip} - password rotated`)
  const refused = out.split("\n").find((l) => l.startsWith(`● ${d2.mac} @ ${d2.ip} - FAILED: `))
  expect(refused).toContain(deviceCertB.sha256)
  expect(out).toContain("Credentials summary: total=2 rotated=1 failed=1")
  expect(code).toBe(1)

  // Device 1: pinned now, and its new password works over TLS (the device serves nothing else).
  const pins = JSON.parse(readFileSync(pinFile, "utf8")) as { pins: Record<string, { sha256: string }> }
  expect(pins.pins[pinKey(d1.mac)]!.sha256).toBe(deviceCertA.sha256)
  const entry = entryOf(p.dir, d1.mac)
  expect(await accepts(d1.ip!, p.fleet.port, entry.password!, {})).toBe(true)
  expect(await accepts(d1.ip!, p.fleet.port, FLEET_PW, {})).toBe(false)
  // Device 2: no request reached it, its password is still the fleet one, its pin is as it was.
  expect(p.fleet.state(2)!.rpcLog).toEqual([])
  expect(entryOf(p.dir, d2.mac)).toEqual({})
  expect(pins.pins[pinKey(d2.mac)]!.sha256).toBe(deviceCertB.sha256)
}, 120_000)
