/**
 * Per-device credentials: the file (mode 0600, safe write, Redacted) and the
 * RPC decorator against the simulated fleet (real HTTP, digest auth; range
 * 127.90.1.x for this file).
 */
import { NodeContext } from "@effect/platform-node"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Redacted } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"
import { DeviceCredentials } from "../../src/credentials/DeviceCredentials.js"
import { deviceCredentialsLayer } from "../../src/credentials/DeviceCredentialsLive.js"
import { macOfRealm, withDeviceCredentialsLayer } from "../../src/credentials/rpc.js"
import { parseMac, type Mac } from "../../src/domain/mac.js"
import * as Methods from "../../src/shelly/methods.js"
import { ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"
import { Either } from "effect"

const mac = (text: string): Mac => Either.getOrThrow(parseMac(text))

let fleet: FleetHandle
let dir: string

beforeAll(async () => {
  dir = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "creds-"))
  fleet = await startFleet({
    devices: 4,
    baseIp: "127.90.1.1",
    port: 0,
    seed: 90,
    timeScale: 0.01,
    control: false,
    apIp: "127.90.33.1",
    dhcpPool: { start: "127.90.200.1", end: "127.90.200.254" }
  })
})

afterAll(async () => {
  await fleet?.stop()
  Fs.rmSync(dir, { recursive: true, force: true })
})

const fileIn = (name: string) => NodePath.join(dir, name)
const credentialsAt = (file: string) => deviceCredentialsLayer(file).pipe(Layer.provide(NodeContext.layer))
const rpcWith = (file: string) => Layer.provideMerge(withDeviceCredentialsLayer(ShellyRpcLive), credentialsAt(file))

describe("data/device-secrets.yaml", () => {
  it.effect("is created at mode 0600 with a .bak on change, and reads back as Redacted", () =>
    Effect.gen(function* () {
      const file = fileIn("a.yaml")
      const creds = yield* DeviceCredentials
      const m = mac("AA:BB:CC:00:00:01")
      yield* creds.stagePending(m, Redacted.make("first-secret-1"))
      expect(Fs.statSync(file).mode & 0o777).toBe(0o600)
      yield* creds.confirm(m, Redacted.make("first-secret-1"))
      expect(Fs.statSync(file).mode & 0o777).toBe(0o600)
      expect(Fs.statSync(`${file}.bak`).mode & 0o777).toBe(0o600)
      const entry = Option.getOrThrow(yield* creds.get(m))
      expect(Redacted.isRedacted(entry.password)).toBe(true)
      expect(String(entry.password)).not.toContain("first-secret-1")
      expect(entry.pending).toBeUndefined()
      // A second service (another process) reads what the first wrote.
      const again = yield* Effect.provide(DeviceCredentials, credentialsAt(file))
      expect((yield* again.candidates(m)).map(Redacted.value)).toEqual(["first-secret-1"])
    }).pipe(Effect.provide(credentialsAt(fileIn("a.yaml"))))
  )

  it.effect("keeps both passwords while one is pending, stored one first", () =>
    Effect.gen(function* () {
      const creds = yield* DeviceCredentials
      const m = mac("AABBCC000002")
      yield* creds.confirm(m, Redacted.make("old-pw-2"))
      yield* creds.stagePending(m, Redacted.make("new-pw-2"))
      expect((yield* creds.candidates(m)).map(Redacted.value)).toEqual(["old-pw-2", "new-pw-2"])
      yield* creds.dropPending(m)
      expect((yield* creds.candidates(m)).map(Redacted.value)).toEqual(["old-pw-2"])
    }).pipe(Effect.provide(credentialsAt(fileIn("b.yaml"))))
  )

  it.effect("a broken file fails with the field, never the value", () =>
    Effect.gen(function* () {
      const file = fileIn("broken.yaml")
      Fs.writeFileSync(file, "devices:\n  AABBCC000003:\n    password: 12345\n  nonsense: {password: leaked-value-x}\n")
      const exit = yield* Effect.exit(Effect.provide(DeviceCredentials, credentialsAt(file)))
      expect(Exit.isFailure(exit)).toBe(true)
      const text = JSON.stringify(exit) + String(Exit.isFailure(exit) ? exit.cause : "")
      expect(text).toContain("ConfigInvalid")
      expect(text).not.toContain("leaked-value-x")
      expect(text).not.toContain("12345")
    })
  )
})

describe("the RPC client with per-device passwords", () => {
  it("reads the MAC from a realm", () => {
    expect(macOfRealm("shellyplus1pm-a8032ab12345")).toBe("A8032AB12345")
    expect(macOfRealm("something")).toBeUndefined()
    expect(macOfRealm(null)).toBeUndefined()
  })

  it.effect("authenticates with the device's stored password whatever the caller passed", () =>
    Effect.gen(function* () {
      const d1 = fleet.device(1)!
      const d2 = fleet.device(2)!
      yield* Effect.promise(() => fleet.setPassword(1, "device-one-pw"))
      yield* Effect.promise(() => fleet.setPassword(2, "device-two-pw"))
      const creds = yield* DeviceCredentials
      yield* creds.confirm(mac(d1.mac), Redacted.make("device-one-pw"))
      // Device 2's password is only pending (a crash before `confirm`): still found.
      yield* creds.stagePending(mac(d2.mac), Redacted.make("device-two-pw"))
      const at = (n: number, password?: string) => ({
        host: fleet.device(n)!.ip!,
        port: fleet.port,
        password: password === undefined ? undefined : Redacted.make(password)
      })
      for (let i = 0; i < 3; i++) {
        expect((yield* Methods.sysGetStatus(at(1))).mac).toBe(d1.mac)
        expect((yield* Methods.sysGetStatus(at(1, "fleet-pw"))).mac).toBe(d1.mac)
        expect((yield* Methods.sysGetStatus(at(2))).mac).toBe(d2.mac)
      }
      // A device without an entry still gets the fleet password, and its refusal stays AuthRequired.
      yield* Effect.promise(() => fleet.setPassword(3, "fleet-pw"))
      expect((yield* Methods.sysGetStatus(at(3, "fleet-pw"))).mac).toBe(fleet.device(3)!.mac)
      const refused = yield* Effect.flip(Methods.sysGetStatus(at(3, "wrong")))
      expect(refused._tag).toBe("AuthRequired")
      // After the first call the stored password goes out up front: no 401 per call.
      const before = fleet.state(1)!.auth.challenges
      for (let i = 0; i < 5; i++) yield* Methods.sysGetStatus(at(1))
      expect(fleet.state(1)!.auth.challenges).toBe(before)
    }).pipe(Effect.provide(rpcWith(fileIn("rpc.yaml"))))
  )
})
