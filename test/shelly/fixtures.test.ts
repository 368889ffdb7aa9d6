/**
 * Real-device shapes (issue 11 §4): our own fixtures in test/fixtures/shelly/,
 * written from documented and published shapes (each file names its sources),
 * for Gen2, Gen3, Gen4, firmware 2.x and a Gen1 device.
 * (a) The client's schemas decode every one, and the identity table gives
 *     each model's id and AP SSID.
 * (b) The simulator playing the same model answers with the same keys and
 *     value types (null matches any type: a field unset on one device is set
 *     on another). Addresses: 127.113.1.x.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Logger, Schema } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import type { Ipv4 } from "../../src/domain/ipv4.js"
import { parseMac } from "../../src/domain/mac.js"
import { discoverAll } from "../../src/shelly/discovery.js"
import { Gen1Shelly, refuseGen1, ShellyAnswer } from "../../src/shelly/gen1.js"
import { apSsidFor, deviceIdFor } from "../../src/shelly/identity.js"
import {
  BleConfig,
  CloudConfig,
  DeviceInfo,
  DeviceStatus,
  MqttConfig,
  SysConfig,
  SysStatus,
  WifiConfig,
  WifiStatus
} from "../../src/shelly/schemas.js"
import { ShellyRpc } from "../../src/shelly/ShellyRpc.js"
import { ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"

type Doc = Record<string, unknown>
const dir = join(import.meta.dirname, "../fixtures/shelly")
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".json"))
  .sort()
const load = (file: string): Doc => JSON.parse(readFileSync(join(dir, file), "utf8")) as Doc
const gen2Plus = files.filter((f) => !f.startsWith("Gen1-"))
const gen1 = files.filter((f) => f.startsWith("Gen1-"))

const decodes = <A, I>(schema: Schema.Schema<A, I>, value: unknown): string | undefined =>
  Either.match(Schema.decodeUnknownEither(schema)(value), { onLeft: (e) => e.message, onRight: () => undefined })
/** A named decode check (the schemas differ in type, so each is closed over here). */
const check = <A, I>(what: string, schema: Schema.Schema<A, I>, value: unknown): readonly [string, string | undefined] => [
  what,
  decodes(schema, value)
]

/** Paths where `a` and `b` differ in keys or JSON types; null matches anything, empty arrays any array. */
const shapeDiff = (a: unknown, b: unknown, path = "$"): Array<string> => {
  if (a === null || b === null) return []
  const kind = (v: unknown) => (Array.isArray(v) ? "array" : typeof v)
  if (kind(a) !== kind(b)) return [`${path}: ${kind(a)} vs ${kind(b)}`]
  if (Array.isArray(a) && Array.isArray(b)) return a.length > 0 && b.length > 0 ? shapeDiff(a[0], b[0], `${path}[0]`) : []
  if (typeof a !== "object" || typeof b !== "object") return []
  const x = a as Doc
  const y = b as Doc
  const out: Array<string> = []
  for (const key of new Set([...Object.keys(x), ...Object.keys(y)])) {
    if (!(key in x)) out.push(`${path}.${key}: only in the simulator`)
    else if (!(key in y)) out.push(`${path}.${key}: missing in the simulator`)
    else out.push(...shapeDiff(x[key], y[key], `${path}.${key}`))
  }
  return out
}

describe("fixtures", () => {
  it("cover at least 12 Gen2+ models across Gen2, Gen3, Gen4 and firmware 2.x, plus a Gen1 device", () => {
    const infos = gen2Plus.map((f) => load(f)["Shelly.GetDeviceInfo"] as { gen: number; ver: string })
    expect(infos.length).toBeGreaterThanOrEqual(12)
    expect(new Set(infos.map((i) => i.gen))).toEqual(new Set([2, 3, 4]))
    expect(infos.some((i) => Number.parseInt(i.ver, 10) >= 2)).toBe(true)
    expect(gen1.length).toBeGreaterThanOrEqual(1)
    for (const file of files) expect((load(file)._sources as Array<string>).length, file).toBeGreaterThan(0)
  })

  describe.each(gen2Plus)("%s", (file) => {
    const doc = load(file)
    const info = doc["Shelly.GetDeviceInfo"] as { id: string; mac: string; app: string }
    const status = doc["Shelly.GetStatus"] as Doc
    const config = doc["Shelly.GetConfig"] as Doc

    it("(a) decodes with the client's schemas", () => {
      const checks = [
        check("/shelly", DeviceInfo, doc.shelly),
        check("GetDeviceInfo", DeviceInfo, info),
        check("GetStatus", DeviceStatus, status),
        check("sys status", SysStatus, status.sys),
        check("wifi status", WifiStatus, status.wifi),
        check("sys config", SysConfig, config.sys),
        check("wifi config", WifiConfig, config.wifi),
        check("cloud config", CloudConfig, config.cloud),
        check("ble config", BleConfig, config.ble),
        check("mqtt config", MqttConfig, config.mqtt),
        ...(doc["BLE.GetConfig"] === undefined ? [] : [check("BLE.GetConfig", BleConfig, doc["BLE.GetConfig"])])
      ]
      for (const [what, failure] of checks) expect(failure, `${file} ${what}`).toBeUndefined()
      // `/shelly` of a Gen2+ device is not taken for Gen1.
      expect(
        Exit.isSuccess(
          Effect.runSyncExit(refuseGen1({ device: file, method: "GET /shelly" }, Schema.decodeUnknownSync(ShellyAnswer)(doc.shelly)))
        )
      ).toBe(true)
    })

    it("(a) its id and AP SSID follow the identity table", () => {
      const mac = Either.getOrThrow(parseMac(info.mac))
      expect(deviceIdFor(info.app, mac)).toBe(info.id)
      expect(apSsidFor(info.app, mac)).toBe((config.wifi as { ap: { ssid: string } }).ap.ssid)
    })
  })

  it.each(gen1)("%s: (a) is recognised as Gen1 and refused with a typed error that says so", (file) => {
    const shelly = load(file).shelly as { type: string; mac: string }
    expect(decodes(DeviceInfo, shelly)).toBeDefined()
    expect(decodes(Gen1Shelly, shelly)).toBeUndefined()
    const exit = Effect.runSyncExit(
      refuseGen1({ device: "127.0.0.9:80", method: "GET /shelly" }, Schema.decodeUnknownSync(ShellyAnswer)(shelly))
    )
    expect(Exit.isFailure(exit)).toBe(true)
    if (Exit.isFailure(exit) && exit.cause._tag === "Fail") {
      const error = exit.cause.error
      expect(error).toMatchObject({ _tag: "Gen1Unsupported", code: "gen1_unsupported", type: shelly.type, mac: shelly.mac })
      expect(error.message).toMatch(/Gen1 is not supported/)
      expect(error.hint).toMatch(/Gen2 and newer/)
    } else throw new Error("expected a typed failure")
  })
})

// --- (b) the simulator against the fixtures -----------------------------------

const byApp = new Map(gen2Plus.map((f) => [(load(f)["Shelly.GetDeviceInfo"] as { app: string }).app, load(f)]))
const apps = [...byApp.keys()]
let fleet: FleetHandle

beforeAll(async () => {
  fleet = await startFleet({
    devices: apps.length + 1,
    baseIp: "127.113.1.1",
    port: 0,
    seed: 113,
    timeScale: 0.01,
    apIp: "127.113.33.1",
    dhcpPool: { start: "127.113.200.1", end: "127.113.200.254" },
    control: false,
    models: [...apps, "SHSW-1"]
  })
})

afterAll(async () => {
  await fleet?.stop()
})

const rpc = async (n: number, method: string): Promise<unknown> =>
  (await fetch(`http://${fleet.device(n)!.ip}:${fleet.port}/rpc/${method}`)).json()

describe("(b) the simulator answers with the fixtures' keys and types", () => {
  it.each(apps.map((app, i) => [app, i + 1] as const))("%s", async (app, n) => {
    const fixture = byApp.get(app)!
    expect(fleet.device(n)!.app).toBe(app)
    for (const method of ["Shelly.GetDeviceInfo", "Shelly.GetStatus", "Shelly.GetConfig", "BLE.GetConfig"]) {
      const expected = method === "BLE.GetConfig" ? (fixture[method] ?? (fixture["Shelly.GetConfig"] as Doc).ble) : fixture[method]
      expect(shapeDiff(expected, await rpc(n, method)), `${app} ${method}`).toEqual([])
    }
    const shelly = await (await fetch(`http://${fleet.device(n)!.ip}:${fleet.port}/shelly`)).json()
    expect(shapeDiff(fixture.shelly, shelly), `${app} /shelly`).toEqual([])
  })

  it("the simulated Gen1 device answers /shelly in the Gen1 form of the fixture, and has no /rpc", async () => {
    const n = apps.length + 1
    const shelly = await (await fetch(`http://${fleet.device(n)!.ip}:${fleet.port}/shelly`)).json()
    expect(shapeDiff(load(gen1[0]!).shelly, shelly)).toEqual([])
    expect((await fetch(`http://${fleet.device(n)!.ip}:${fleet.port}/rpc/Shelly.GetDeviceInfo`)).status).toBe(404)
  })
})

describe("Gen1 in discovery", () => {
  it.live("a scan finds every Gen2+ device, skips the Gen1 one and says why in a warning", () =>
    Effect.gen(function* () {
      const logs: Array<string> = []
      const logger = Logger.make(({ message }) => logs.push(Array.isArray(message) ? message.join(" ") : String(message)))
      const ips = fleet.devices.map((d) => d.ip as Ipv4)
      const found = yield* discoverAll(ips, { port: fleet.port, timeout: "5 seconds", concurrency: 8 }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      expect(found.map((f) => f.identity.app).sort()).toEqual([...apps].sort())
      const gen1Ip = fleet.device(apps.length + 1)!.ip!
      expect(logs.filter((l) => l.includes("Gen1"))).toEqual([
        expect.stringContaining(`GET /shelly on ${gen1Ip}:${fleet.port}: a Gen1 device (SHSW-1`)
      ])
      // The typed error itself, as Stage 2 sees it from getShelly.
      const error = yield* Effect.flip(Effect.flatMap(ShellyRpc, (c) => c.getShelly({ host: gen1Ip, port: fleet.port })))
      expect(error._tag).toBe("Gen1Unsupported")
    }).pipe(Effect.provide(ShellyRpcLive))
  )
})
