// `provision backup` / `provision restore` runs (src/app/backup.ts) in-process on a temp
// project (cwd), against the simulator over real HTTP: a round trip, a dry run,
// a replacement device (--to-mac), and the MAC check before any write.
// Loopback block of this file: 127.94.0.0/16.
import { NodeContext } from "@effect/platform-node"
import { Effect, Exit, Option, Redacted, Schema } from "effect"
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { expect, it } from "vitest"
import YAML from "yaml"
import { backupLayer, backupProgram, restoreProgram, type RestoreFlags } from "../../src/app/backup.js"
import { planRestore } from "../../src/backup/plan.js"
import { readDevice } from "../../src/backup/read.js"
import { pinKey } from "../../src/shelly/certPins.js"
import { type DeviceTls, ShellyRpc } from "../../src/shelly/ShellyRpc.js"
import { deviceCertA, deviceCertB } from "../../sim/shelly/tlsCerts.js"
import { ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import * as RunOutput from "../../src/runtime/RunOutput.js"
import { shellyPathHarness } from "../stages/shellyPathHarness.js"
import type { ShellyProject } from "../stages/shellyPathHarness.js"

const harness = shellyPathHarness({ net: "127.94", portBase: 19350, chdir: true })
const DEVICE_PW = "dev1-own-password-94"

const setup = async () => {
  const p = await harness.start({ devices: 2, models: ["S2PMG3"] }, { inventory: true })
  writeFileSync("data/config.yaml", YAML.stringify({ stage3: { device_port: p.fleet.port } }))
  // Device 1 has its own password, known only to data/device-secrets.yaml.
  await p.fleet.setPassword(1, DEVICE_PW)
  writeFileSync("data/device-secrets.yaml", YAML.stringify({ devices: { [p.fleet.devices[0]!.mac]: { password: DEVICE_PW } } }), {
    mode: 0o600
  })
  return p
}

const rpcTo = (p: ShellyProject, n: number, password?: string, tls?: DeviceTls) => {
  const target = {
    host: p.fleet.devices[n - 1]!.ip!,
    port: p.fleet.port,
    password: password === undefined ? undefined : Redacted.make(password),
    ...(tls === undefined ? {} : { tls })
  }
  return (method: string, params?: Record<string, unknown>) =>
    Effect.runPromise(
      Effect.flatMap(ShellyRpc, (rpc) => rpc.call(target, method, params, Schema.Unknown, { transport: "post" })).pipe(
        Effect.provide(ShellyRpcLive)
      )
    ) as Promise<Record<string, unknown>>
}

const run = async <E>(program: Effect.Effect<number, E, never>) => Effect.runPromiseExit(program)
const output = () => {
  const lines: Array<string> = []
  return { lines, sink: { out: (l: string) => lines.push(l), err: (l: string) => lines.push(`ERR ${l}`) } }
}
const backup = (o = output()) =>
  run(
    backupProgram({ config: Option.none(), ips: [], macs: [] }).pipe(
      Effect.provide([backupLayer, RunOutput.layer(o.sink)]),
      Effect.provide(NodeContext.layer)
    )
  )
const restore = (flags: Partial<RestoreFlags> & { mac: string }, o = output()) =>
  run(
    restoreProgram({ config: Option.none(), file: Option.none(), toMac: Option.none(), ip: Option.none(), dryRun: false, ...flags }).pipe(
      Effect.provide([backupLayer, RunOutput.layer(o.sink)]),
      Effect.provide(NodeContext.layer)
    )
  )

const deviceState = (p: ShellyProject, n: number, password?: string) =>
  Effect.runPromise(
    readDevice(
      { host: p.fleet.devices[n - 1]!.ip!, port: p.fleet.port, password: password === undefined ? undefined : Redacted.make(password) },
      { timeout: "3 seconds" }
    ).pipe(Effect.provide(ShellyRpcLive))
  )

const configure = async (call: ReturnType<typeof rpcTo>) => {
  await call("Sys.SetConfig", { config: { device: { name: "Hallway" } } })
  await call("Switch.SetConfig", { id: 0, config: { name: "Stairs", auto_off: true } })
  const { id } = await call("Script.Create", { name: "stairs-timer" })
  const code = `let t = 0;\n${"// keeps the light on\n".repeat(120)}`
  await call("Script.PutCode", { id, code: code.slice(0, 1500) })
  await call("Script.PutCode", { id, code: code.slice(1500), append: true })
  await call("Script.SetConfig", { id, config: { enable: true } })
  await call("Script.Start", { id })
  await call("Webhook.Create", { cid: 0, event: "switch.on", name: "notify", urls: ["http://127.0.0.1:9/on"] })
  await call("Schedule.Create", { enable: true, timespec: "0 0 22 * * *", calls: [{ method: "Switch.Set", params: { id: 0, on: false } }] })
  await call("Schedule.Create", { enable: true, timespec: "0 30 6 * * MON-FRI", calls: [{ method: "Script.Start", params: { id } }] })
  return { code, scriptId: id as number }
}

it("backup → change the device → restore: differences shown, applied in order, verified; the dry run writes nothing", async () => {
  const p = await setup()
  const d1 = p.fleet.devices[0]!
  const call = rpcTo(p, 1, DEVICE_PW)
  const { code } = await configure(call)

  const b = output()
  expect(await backup(b)).toEqual(Exit.succeed(0))
  expect(b.lines).toContain("Backup summary: total=2 ok=2 failed=0")
  const files = readdirSync(join("var/backups", d1.mac))
  expect(files).toHaveLength(1)
  const file = join("var/backups", d1.mac, files[0]!)
  expect(statSync(file).mode & 0o777).toBe(0o600)
  const saved = JSON.parse(readFileSync(file, "utf8"))
  expect(saved.scripts[0]).toMatchObject({ name: "stairs-timer", enable: true, running: true, code })
  expect(saved.webhooks).toHaveLength(1)
  expect(saved.schedules).toHaveLength(2)
  expect(saved.config["switch:0"]).toMatchObject({ name: "Stairs", auto_off: true })
  expect(readFileSync(file, "utf8")).not.toContain(DEVICE_PW)
  const original = await deviceState(p, 1, DEVICE_PW)

  // Someone changes the device.
  await call("Switch.SetConfig", { id: 0, config: { name: "Changed", auto_off: false } })
  await call("Script.Stop", { id: 1 })
  await call("Script.Delete", { id: 1 })
  const extra = await call("Script.Create", { name: "rogue" })
  await call("Webhook.DeleteAll")
  await call("Schedule.Create", { enable: true, timespec: "0 0 3 * * *", calls: [{ method: "Shelly.Reboot" }] })

  const dry = output()
  expect(await restore({ mac: d1.mac, dryRun: true }, dry)).toEqual(Exit.succeed(0))
  const shown = dry.lines.join("\n")
  expect(shown).toContain(`~ switch:0.name: "Changed" → "Stairs"`)
  expect(shown).toContain(`+ script "stairs-timer"`)
  expect(shown).toContain(`- script "rogue"`)
  expect(shown).toContain("+ webhook switch.on cid=0")
  expect(shown).toContain(`- schedule "0 0 3 * * *" → Shelly.Reboot`)
  expect(shown).toContain("= wifi: not restored")
  expect(shown).toContain("dry run: nothing written")
  expect((await call("Script.List")).scripts).toEqual([{ id: extra.id, name: "rogue", enable: false, running: false }])

  const done = output()
  expect(await restore({ mac: d1.mac }, done)).toEqual(Exit.succeed(0))
  expect(done.lines.at(-1)).toBe("[restore: verified — the device matches the backup]")
  // Settings before scripts, scripts before webhooks and schedules.
  const order = done.lines.filter((l) => l.startsWith("[restore: ") && !l.includes("verified"))
  expect(order[0]).toBe("[restore: Switch.SetConfig switch:0]")
  expect(order.at(-2)).toBe("[restore: 1 webhook(s) set]")
  expect(order.at(-1)).toBe("[restore: 2 schedule(s) set]")
  const restored = await deviceState(p, 1, DEVICE_PW)
  expect(planRestore(original, restored).changes).toEqual([])
  const script = restored.scripts.find((s) => s.name === "stairs-timer")!
  expect(script).toMatchObject({ code, enable: true, running: true })
  // The schedule that starts the script names the script's new id.
  const starter = restored.schedules.find((j) => j["timespec"] === "0 30 6 * * MON-FRI")!
  expect(starter["calls"]).toEqual([{ method: "Script.Start", params: { id: script.id } }])
})

it("--to-mac puts the backup onto a replacement; a device with another MAC at the address is never written to", async () => {
  const p = await setup()
  const [d1, d2] = [p.fleet.devices[0]!, p.fleet.devices[1]!]
  await configure(rpcTo(p, 1, DEVICE_PW))
  await rpcTo(p, 1, DEVICE_PW)("MQTT.SetConfig", { config: { client_id: d1.id, topic_prefix: `site/${d1.id}` } })
  expect(await backup()).toEqual(Exit.succeed(0))

  // MAC check: the backup of device 1, sent to device 2's address without --to-mac.
  const before = p.fleet.state(d2.mac)!.rpcLog.length
  const refused = output()
  const exit = await restore({ mac: d1.mac, ip: Option.some(d2.ip!) }, refused)
  expect(Exit.isFailure(exit)).toBe(true)
  expect(JSON.stringify(exit)).toContain("RestoreTargetMismatch")
  const sentSince = p.fleet
    .state(d2.mac)!
    .rpcLog.slice(before)
    .map((e) => e.method)
  expect(sentSince).toEqual(["Shelly.GetDeviceInfo"])

  const done = output()
  expect(await restore({ mac: d1.mac, toMac: Option.some(d2.mac) }, done)).toEqual(Exit.succeed(0))
  expect(done.lines[0]).toContain(`onto ${d2.mac} @ ${d2.ip}`)
  expect(done.lines.at(-1)).toBe("[restore: verified — the device matches the backup]")
  const replaced = await deviceState(p, 2)
  expect(replaced.scripts.map((s) => s.name)).toEqual(["stairs-timer"])
  expect(replaced.webhooks).toHaveLength(1)
  expect(replaced.schedules).toHaveLength(2)
  expect(replaced.config["switch:0"]).toMatchObject({ name: "Stairs", auto_off: true })
  // The old unit's id is the new unit's in settings that name it.
  expect(replaced.config["mqtt"]).toMatchObject({ client_id: d2.id, topic_prefix: `site/${d2.id}` })
})

it("over HTTPS (stage1.https): backup and restore talk TLS and pin each device on first use; a certificate other than the pin fails that device before its file is written or a request reaches it", async () => {
  const p = await harness.start({ devices: 2, models: ["S2PMG3"], faults: ["all=https"] }, { inventory: true })
  const pinFile = "data/shelly_cert_pins.json"
  writeFileSync(
    "data/config.yaml",
    YAML.stringify({ stage1: { https: { enabled: true, pin_file: pinFile } }, stage3: { device_port: p.fleet.port } })
  )
  const [d1, d2] = [p.fleet.devices[0]!, p.fleet.devices[1]!]

  const first = output()
  expect(await backup(first)).toEqual(Exit.succeed(0))
  expect(first.lines).toContain("Backup summary: total=2 ok=2 failed=0")
  const pins = JSON.parse(readFileSync(pinFile, "utf8")) as { pins: Record<string, { sha256: string }> }
  expect(Object.keys(pins.pins).sort()).toEqual([pinKey(d1.mac), pinKey(d2.mac)].sort())
  expect(pins.pins[pinKey(d1.mac)]!.sha256).toBe(deviceCertA.sha256)

  // Changed over TLS (the devices serve nothing else), then restored over TLS, held to the pin now.
  await rpcTo(p, 1, undefined, {})("Switch.SetConfig", { id: 0, config: { name: "Changed" } })
  const done = output()
  expect(await restore({ mac: d1.mac }, done)).toEqual(Exit.succeed(0))
  expect(done.lines.join("\n")).toContain(`~ switch:0.name: "Changed" →`)
  expect(done.lines.at(-1)).toBe("[restore: verified — the device matches the backup]")

  // Device 2's pin names another certificate (as when the device was swapped or someone sits between).
  pins.pins[pinKey(d2.mac)]!.sha256 = deviceCertB.sha256
  writeFileSync(pinFile, `${JSON.stringify(pins, null, 2)}\n`)
  const pinsBefore = readFileSync(pinFile, "utf8")
  const requestsBefore = p.fleet.state(2)!.rpcLog.length
  const again = output()
  expect(await backup(again)).toEqual(Exit.succeed(1))
  const failed = again.lines.find((l) => l.startsWith(`● ${d2.ip} - FAILED: `))
  expect(failed).toContain(deviceCertB.sha256)
  expect(failed).toContain(pinFile)
  expect(readdirSync(join("var/backups", d2.mac))).toHaveLength(1)
  const refused = await restore({ mac: d2.mac })
  expect(Exit.isFailure(refused)).toBe(true)
  expect(p.fleet.state(2)!.rpcLog.length).toBe(requestsBefore)
  expect(readFileSync(pinFile, "utf8")).toBe(pinsBefore)
})
