// The web UI's view of a device's backups: `provision serve` as a child process
// over a temp project holding a backup taken from a simulated device.
// Loopback block of this file: 127.95.0.0/16.
import { NodeContext } from "@effect/platform-node"
import type { ChildProcess } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Either, Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { writeBackup } from "../../src/backup/files.js"
import { readDevice } from "../../src/backup/read.js"
import { parseMac } from "../../src/domain/mac.js"
import { ShellyRpc } from "../../src/shelly/ShellyRpc.js"
import { ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"
import { cleanInventoryBundle, startServe, stopChild } from "../e2e/inventoryCli.js"
import { makeClient, makeProject, removeProject } from "./support.js"

let fleet: FleetHandle
let dir: string
let server: { child: ChildProcess; url: string }
let backupName: string

beforeAll(async () => {
  fleet = await startFleet({ devices: 2, baseIp: "127.95.0.1", port: 0, timeScale: 0.01, control: false, seed: 95, models: ["S2PMG3"] })
  dir = await makeProject(fleet, "web-backups-")
  const d = fleet.devices[0]!
  const target = { host: d.ip!, port: fleet.port }
  const file = await Effect.runPromise(
    Effect.gen(function* () {
      const rpc = yield* ShellyRpc
      const call = (method: string, params: Record<string, unknown>) =>
        rpc.call(target, method, params, Schema.Unknown, { transport: "post" })
      yield* call("Script.Create", { name: "night" })
      yield* call("Schedule.Create", { timespec: "0 0 23 * * *", calls: [{ method: "Switch.Set", params: { id: 0, on: false } }] })
      const backup = yield* readDevice(target, { timeout: "3 seconds" })
      return yield* writeBackup(backup, Either.getOrThrow(parseMac(d.mac)), join(dir, "var/backups"))
    }).pipe(Effect.provide(ShellyRpcLive), Effect.provide(NodeContext.layer))
  )
  backupName = file.split("/").at(-1)!
  // Something that is not a backup in the same folder: listed as unreadable, not a crash.
  mkdirSync(join(dir, "var/backups", d.mac), { recursive: true })
  writeFileSync(join(dir, "var/backups", d.mac, "0000-broken.json"), "{")
  server = await startServe(dir, ["--host", "127.95.0.200", "--port", "0"])
})

afterAll(async () => {
  if (server) await stopChild(server.child)
  await fleet?.stop()
  removeProject(dir)
  cleanInventoryBundle()
})

describe("a device's backups in the web UI", () => {
  it("the inventory links each device to its backups; the page and the API list them, newest first", async () => {
    const client = makeClient(server.url)
    const mac = fleet.devices[0]!.mac
    expect(await client.open()).toContain(`href="/devices/${mac}/backups"`)
    const html = await (await client.get(`/devices/${mac}/backups`)).text()
    expect(html).toContain(`Backups of ${mac}`)
    expect(html).toContain(backupName)
    const list = (await (await client.get(`/api/devices/${mac.toLowerCase()}/backups`)).json()) as Array<Record<string, unknown>>
    expect(list.map((b) => b["name"])).toEqual([backupName, "0000-broken.json"])
    expect(list[0]).toMatchObject({ scripts: 1, webhooks: 0, schedules: 1, fw: fleet.devices[0]!.fw })
    expect(list[1]).toMatchObject({ taken_at: null, scripts: null })
    const download = await client.get(`/devices/${mac}/backups/${encodeURIComponent(backupName)}`)
    expect(download.status).toBe(200)
    expect(((await download.json()) as { mac: string }).mac).toBe(mac)
  })

  it("a device without backups says how to take one; bad MACs and file names are refused", async () => {
    const client = makeClient(server.url)
    await client.open()
    const other = fleet.devices[1]!.mac
    expect(await (await client.get(`/devices/${other}/backups`)).text()).toContain(`provision backup --mac ${other}`)
    expect((await client.get(`/api/devices/${other}/backups`)).status).toBe(200)
    expect((await client.get("/api/devices/not-a-mac/backups")).status).toBe(400)
    expect((await client.get(`/devices/${fleet.devices[0]!.mac}/backups/..%2F..%2Fdata%2Fsecrets.yaml`)).status).toBe(400)
  })
})
