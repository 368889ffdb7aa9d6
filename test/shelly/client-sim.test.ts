/**
 * The Live client against the simulated fleet (real HTTP over loopback,
 * range 127.20.1.x for this file): every call form, digest auth, and every
 * fault the client must tell apart.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Redacted, Schedule, Schema } from "effect"
import type { Mac } from "../../src/domain/mac.js"
import { checkMac } from "../../src/shelly/identity.js"
import * as Methods from "../../src/shelly/methods.js"
import { ShellyRpc, type DeviceTarget } from "../../src/shelly/ShellyRpc.js"
import { ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"

const ADMIN_PW = "sim-admin-pw-20"

let fleet: FleetHandle

beforeAll(async () => {
  fleet = await startFleet({
    devices: 9,
    baseIp: "127.20.1.1",
    port: 0,
    seed: 20,
    timeScale: 0.01,
    adminPassword: ADMIN_PW,
    apIp: "127.20.33.1",
    dhcpPool: { start: "127.20.200.1", end: "127.20.200.254" },
    control: false,
    faults: ["2=http500_on_spaces", "3=protected", "4=offline", "5=blackhole", "6=fail:Sys.SetConfig", "7=wrong_mac", "8=update:1.8.0"]
  })
})

afterAll(async () => {
  await fleet?.stop()
})

const device = (n: number) => fleet.device(n)!
const target = (n: number, password?: string): DeviceTarget => ({
  host: device(n).ip!,
  port: fleet.port,
  password: password === undefined ? undefined : Redacted.make(password)
})

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value)}`)
  if (exit.cause._tag !== "Fail") throw new Error(`expected a typed failure, got cause ${exit.cause._tag}`)
  return exit.cause.error
}

const live = <A, E>(effect: Effect.Effect<A, E, ShellyRpc>) => Effect.provide(effect, ShellyRpcLive)

describe("ShellyRpcLive ↔ simulator: reads", () => {
  it.live("GetDeviceInfo over GET and POST matches the device, and GET /shelly agrees", () =>
    live(
      Effect.gen(function* () {
        const view = device(1)
        const viaGet = yield* Methods.getDeviceInfo(target(1))
        const viaPost = yield* Methods.getDeviceInfo(target(1), { transport: "post" })
        const rpc = yield* ShellyRpc
        const shelly = yield* rpc.getShelly(target(1))
        for (const info of [viaGet, viaPost, shelly]) {
          expect(info.id).toBe(view.id)
          expect(info.mac).toBe(view.mac)
          expect(info.model).toBe(view.model)
          expect(info.app).toBe(view.app)
          expect(info.ver).toBe(view.fw)
          expect(info.gen).toBeGreaterThanOrEqual(2)
        }
      })
    )
  )

  it.live("status and config reads decode (Shelly.GetStatus, Sys.*, WiFi.*, Cloud/BLE/MQTT)", () =>
    live(
      Effect.gen(function* () {
        const t = target(1)
        const status = yield* Methods.getStatus(t)
        expect(status.sys.mac).toBe(device(1).mac)
        const sys = yield* Methods.sysGetStatus(t, { transport: "post" })
        expect(sys.available_updates).toEqual({})
        const config = yield* Methods.sysGetConfig(t)
        expect(config.device.name === null || typeof config.device.name === "string").toBe(true)
        const wifi = yield* Methods.wifiGetStatus(t)
        expect(["disconnected", "connecting", "connected", "got ip"]).toContain(wifi.status)
        const wifiConfig = yield* Methods.wifiGetConfig(t)
        expect(wifiConfig.sta).toBeDefined()
        const scan = yield* Methods.wifiScan(t)
        expect(Array.isArray(scan.results)).toBe(true)
        expect(typeof (yield* Methods.cloudGetConfig(t)).enable).toBe("boolean")
        expect(typeof (yield* Methods.bleGetConfig(t)).enable).toBe("boolean")
        expect(typeof (yield* Methods.mqttGetConfig(t)).enable).toBe("boolean")
      })
    )
  )

  it.live("CheckForUpdate: {} when current, stable version when one is pending", () =>
    live(
      Effect.gen(function* () {
        expect(yield* Methods.checkForUpdate(target(1))).toEqual({})
        const pending = yield* Methods.checkForUpdate(target(8), { transport: "post" })
        expect(pending.stable?.version).toBe("1.8.0")
        const sys = yield* Methods.sysGetStatus(target(8))
        expect(sys.available_updates?.stable?.version).toBe("1.8.0")
      })
    )
  )

  it.live("wrong_mac: the identity check reports the MAC that answered", () =>
    live(
      Effect.gen(function* () {
        const info = yield* Methods.getDeviceInfo(target(7))
        const check = checkMac(info.mac, device(7).mac as Mac)
        expect(check._tag).toBe("Mismatch")
        expect(checkMac(info.mac, device(7).reportedMac as Mac)._tag).toBe("Match")
      })
    )
  )
})

describe("ShellyRpcLive ↔ simulator: writes", () => {
  it.live("setDeviceName via GET compact JSON survives http500_on_spaces; name with spaces reads back", () =>
    live(
      Effect.gen(function* () {
        const t = target(2)
        // The fault is live: a spaced query gets HTTP 500 from this device.
        const spaced = yield* Effect.promise(() =>
          fetch(`http://${t.host}:${t.port}/rpc/Sys.SetConfig?config=${encodeURIComponent('{"device": {"name": "X"}}')}`)
        )
        expect(spaced.status).toBe(500)
        const result = yield* Methods.setDeviceName(t, "Wohnzimmer Süd 2")
        expect(typeof result.restart_required).toBe("boolean")
        expect((yield* Methods.sysGetConfig(t)).device.name).toBe("Wohnzimmer Süd 2")
        yield* Methods.sysSetConfig(t, { device: { name: "Küche (POST)" } }, { transport: "post" })
        expect((yield* Methods.sysGetConfig(t, { transport: "post" })).device.name).toBe("Küche (POST)")
        const log = fleet.state(2)!.rpcLog.filter((entry) => entry.method === "Sys.SetConfig")
        expect(log.map((entry) => entry.transport)).toEqual(["get", "frame"])
      })
    )
  )

  it.live("*.SetConfig round trips (WiFi, Cloud, BLE, MQTT) and Reboot", () =>
    live(
      Effect.gen(function* () {
        const t = target(9)
        yield* Methods.cloudSetConfig(t, { enable: true })
        expect((yield* Methods.cloudGetConfig(t)).enable).toBe(true)
        yield* Methods.bleSetConfig(t, { enable: false })
        expect((yield* Methods.bleGetConfig(t)).enable).toBe(false)
        yield* Methods.mqttSetConfig(t, { enable: true, server: "127.20.0.9:1883", user: "u", pass: Redacted.make("mqtt pw") })
        const mqtt = yield* Methods.mqttGetConfig(t)
        expect(mqtt.server).toBe("127.20.0.9:1883")
        expect(JSON.stringify(mqtt)).not.toContain("mqtt pw")
        const wifi = yield* Methods.wifiSetConfig(t, { ap: { enable: false } }, { transport: "post" })
        expect(wifi.restart_required).toBe(false)
        const rebootsBefore = fleet.state(9)!.reboots
        const reboot = yield* Methods.reboot(t, 500)
        expect(reboot === null || typeof reboot === "object").toBe(true)
        // The digest-auth tests use device 9 next: wait (bounded) until this reboot has happened and is over,
        // rather than relying on how long the tests in between take.
        yield* Effect.gen(function* () {
          if (fleet.state(9)!.reboots === rebootsBefore) return yield* Effect.fail("not rebooted yet" as const)
          yield* Methods.sysGetStatus(t)
        }).pipe(Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(200)))))
      })
    )
  )
})

describe("ShellyRpcLive ↔ simulator: digest auth", () => {
  it.live("right password → ok (GET and POST); GET /shelly and GetDeviceInfo stay open", () =>
    live(
      Effect.gen(function* () {
        const rpc = yield* ShellyRpc
        const open = yield* rpc.getShelly(target(3))
        expect(open.auth_en).toBe(true)
        expect(open.auth_domain).toBe(device(3).id)
        expect((yield* Methods.getDeviceInfo(target(3))).id).toBe(device(3).id)
        const config = yield* Methods.sysGetConfig(target(3, ADMIN_PW))
        expect(config.device).toBeDefined()
        yield* Methods.setDeviceName(target(3, ADMIN_PW), "Flur oben")
        expect((yield* Methods.sysGetConfig(target(3, ADMIN_PW), { transport: "post" })).device.name).toBe("Flur oben")
      })
    )
  )

  it.live("no password → AuthRequired; wrong password → AuthRequired after exactly one retry", () =>
    live(
      Effect.gen(function* () {
        const none = failureOf(yield* Effect.exit(Methods.sysGetConfig(target(3))))
        expect(none._tag).toBe("AuthRequired")
        if (none._tag === "AuthRequired") {
          expect(none.passwordSent).toBe(false)
          expect(none.realm).toBe(device(3).id)
          expect(none.hint).toContain("data/secrets.yaml")
        }
        const before = fleet.state(3)!.rpcLog.length
        const wrong = failureOf(yield* Effect.exit(Methods.sysGetStatus(target(3, "not-the-password"), { transport: "post" })))
        expect(wrong._tag).toBe("AuthRequired")
        if (wrong._tag === "AuthRequired") expect(wrong.passwordSent).toBe(true)
        expect(wrong.message).not.toContain("not-the-password")
        expect(wrong.message).toContain(`${device(3).ip}:${fleet.port}`)
        // nothing ran on the device
        expect(fleet.state(3)!.rpcLog.length).toBe(before)
      })
    )
  )

  it.live("Shelly.SetAuth sets a password (ha1), then clears it", () =>
    live(
      Effect.gen(function* () {
        const view = device(9)
        yield* Methods.setAuth(target(9), view.id, Redacted.make("new pw 9"))
        expect(failureOf(yield* Effect.exit(Methods.sysGetStatus(target(9))))._tag).toBe("AuthRequired")
        expect((yield* Methods.sysGetStatus(target(9, "new pw 9"))).mac).toBe(view.mac)
        yield* Methods.setAuth(target(9, "new pw 9"), view.id, null)
        expect((yield* Methods.sysGetStatus(target(9))).mac).toBe(view.mac)
      })
    )
  )
})

describe("ShellyRpcLive ↔ simulator: faults are told apart", () => {
  it.live("offline → DeviceUnreachable (refused); probe false", () =>
    live(
      Effect.gen(function* () {
        const error = failureOf(yield* Effect.exit(Methods.getStatus(target(4))))
        expect(error._tag).toBe("DeviceUnreachable")
        if (error._tag === "DeviceUnreachable") expect(error.reason).toBe("connection refused")
        expect(error.message).toContain(`${device(4).ip}:${fleet.port}`)
        expect(error.message).toContain("Shelly.GetStatus")
        expect(yield* (yield* ShellyRpc).probe(target(4), "250 millis")).toBe(false)
      })
    )
  )

  it.live("blackhole → RpcTimeout with the short timeout; probe true (it accepts)", () =>
    live(
      Effect.gen(function* () {
        const error = failureOf(yield* Effect.exit(Methods.getStatus(target(5), { timeout: "300 millis" })))
        expect(error._tag).toBe("RpcTimeout")
        if (error._tag === "RpcTimeout") expect(error.timeoutMs).toBe(300)
        const post = failureOf(yield* Effect.exit(Methods.getStatus(target(5), { timeout: "200 millis", transport: "post" })))
        expect(post._tag).toBe("RpcTimeout")
        expect(yield* (yield* ShellyRpc).probe(target(5), "250 millis")).toBe(true)
      })
    )
  )

  it.live("fail:Sys.SetConfig → RpcHttp500 with the device's code and message (GET); RpcError in a frame (POST)", () =>
    live(
      Effect.gen(function* () {
        const error = failureOf(yield* Effect.exit(Methods.setDeviceName(target(6), "X")))
        expect(error._tag).toBe("RpcHttp500")
        if (error._tag === "RpcHttp500") {
          expect(error.rpcCode).toBe(-114)
          expect(error.rpcMessage.length).toBeGreaterThan(0)
        }
        const framed = failureOf(yield* Effect.exit(Methods.setDeviceName(target(6), "X", { transport: "post" })))
        expect(framed._tag).toBe("RpcError")
        if (framed._tag === "RpcError") expect(framed.rpcCode).toBe(-114)
      })
    )
  )

  it.live("unknown method → RpcError 404 No handler", () =>
    live(
      Effect.gen(function* () {
        const rpc = yield* ShellyRpc
        const error = failureOf(yield* Effect.exit(rpc.call(target(1), "Foo.Bar", undefined, Schema.Unknown)))
        expect(error._tag).toBe("RpcError")
        if (error._tag === "RpcError") {
          expect(error.rpcCode).toBe(404)
          expect(error.rpcMessage).toContain("No handler for Foo.Bar")
        }
        const framed = failureOf(yield* Effect.exit(rpc.call(target(1), "Foo.Bar", undefined, Schema.Unknown, { transport: "post" })))
        expect(framed._tag).toBe("RpcError")
        if (framed._tag === "RpcError") expect(framed.rpcCode).toBe(404)
      })
    )
  )

  it.live("Shelly.Update starts the update; the device comes back on the new version", () =>
    live(
      Effect.gen(function* () {
        const t = target(8)
        yield* Methods.update(t, "stable")
        // bounded poll: the simulator's update+boot delays are scaled by 0.01 (≈150 ms)
        const info = yield* Methods.getDeviceInfo(t, { timeout: "500 millis" }).pipe(
          Effect.filterOrFail(
            (i) => i.ver === "1.8.0",
            () => "still on the old version"
          ),
          Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(60))))
        )
        expect(info.ver).toBe("1.8.0")
      })
    )
  )
})
