/**
 * Discovery and fan-out through the Live client against the simulator
 * (this file: 127.20.2.x and 127.20.4.x – 127.20.5.x).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import type { Ipv4 } from "../../src/domain/ipv4.js"
import type { Mac } from "../../src/domain/mac.js"
import { discoverAll, expandTargets, findByMac } from "../../src/shelly/discovery.js"
import * as Methods from "../../src/shelly/methods.js"
import { ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"

const ips = (specs: ReadonlyArray<string>): ReadonlyArray<Ipv4> => Either.getOrThrow(expandTargets(specs))

describe("expandTargets", () => {
  it("expands CIDR blocks without network/broadcast, ranges and single IPs, de-duplicated", () => {
    const block = ips(["127.20.2.0/24"])
    expect(block.length).toBe(254)
    expect(block[0]).toBe("127.20.2.1")
    expect(block.at(-1)).toBe("127.20.2.254")
    expect(ips(["127.20.2.77/30"])).toEqual(["127.20.2.77", "127.20.2.78"])
    expect(ips(["127.20.2.9/32"])).toEqual(["127.20.2.9"])
    expect(ips(["127.20.2.250 - 127.20.3.1", "127.20.2.251"])).toEqual([
      "127.20.2.250",
      "127.20.2.251",
      "127.20.2.252",
      "127.20.2.253",
      "127.20.2.254",
      "127.20.2.255",
      "127.20.3.0",
      "127.20.3.1"
    ])
  })

  it("rejects bad input and oversized scans with a message naming the spec", () => {
    expect(expandTargets(["127.20.0.0/8"])).toEqual(Either.left(expect.stringContaining("127.20.0.0/8")))
    expect(Either.isLeft(expandTargets(["127.20.2.9-127.20.2.1"]))).toBe(true)
    expect(Either.isLeft(expandTargets(["127.20.2.300"]))).toBe(true)
    expect(Either.isLeft(expandTargets(["127.20.2.0/33"]))).toBe(true)
  })
})

let fleet: FleetHandle
let crowd: FleetHandle

beforeAll(async () => {
  fleet = await startFleet({
    devices: 12,
    baseIp: "127.20.2.1",
    port: 0,
    seed: 21,
    timeScale: 0.01,
    apIp: "127.20.33.2",
    dhcpPool: { start: "127.20.201.1", end: "127.20.201.254" },
    control: false,
    faults: ["4=offline", "5=blackhole", "9=protected"]
  })
  // Every device answers after 300 ms: a client that queued calls behind a
  // connection cap would run past the per-call timeout below.
  crowd = await startFleet({
    devices: 200,
    baseIp: "127.20.4.1",
    port: 0,
    seed: 22,
    timeScale: 1,
    apIp: "127.20.33.3",
    dhcpPool: { start: "127.20.202.1", end: "127.20.202.254" },
    control: false,
    faults: ["all=slow:300"]
  })
})

afterAll(async () => {
  await fleet?.stop()
  await crowd?.stop()
})

describe("discovery (GET /shelly scan)", () => {
  it.live("finds a MAC in a /24, password-protected devices included", () =>
    Effect.gen(function* () {
      for (const n of [7, 9]) {
        const view = fleet.device(n)!
        // Generous per-host timeout and modest fan-out: the simulator shares this process
        // (and 2 cores with the rest of the suite) with the scan; speed is the bench's business.
        const found = yield* findByMac(view.mac as Mac, ips(["127.20.2.0/24"]), { port: fleet.port, timeout: "8 seconds", concurrency: 32 })
        expect(Option.map(found, (f) => [f.ip, f.identity.id])).toEqual(Option.some([view.ip, view.id]))
      }
    }).pipe(Effect.provide(ShellyRpcLive))
  )

  it.live("respects its bounds: a device outside the range is not found", () =>
    Effect.gen(function* () {
      const outside = fleet.device(8)!
      const found = yield* findByMac(outside.mac as Mac, ips(["127.20.2.1-127.20.2.7"]), { port: fleet.port, timeout: "1 second" })
      expect(Option.isNone(found)).toBe(true)
      const inside = yield* findByMac(outside.mac as Mac, ips(["127.20.2.8/32"]), { port: fleet.port })
      expect(Option.isSome(inside)).toBe(true)
    }).pipe(Effect.provide(ShellyRpcLive))
  )

  it.live("discoverAll lists exactly the devices that answer (not offline, not blackhole)", () =>
    Effect.gen(function* () {
      const found = yield* discoverAll(ips(["127.20.2.0/24"]), { port: fleet.port, timeout: "2 seconds", concurrency: 64 })
      const expected = fleet.devices
        .filter((d) => d.index !== 4 && d.index !== 5)
        .map((d) => d.mac)
        .sort()
      expect(found.map((f) => f.identity.mac).sort()).toEqual(expected)
    }).pipe(Effect.provide(ShellyRpcLive))
  )
})

describe("fan-out", () => {
  it.live("200 slow devices called at once all answer within a per-call timeout of 2 s (no connection cap)", () =>
    Effect.gen(function* () {
      const results = yield* Effect.forEach(
        crowd.devices,
        (d) => Methods.getDeviceInfo({ host: d.ip!, port: crowd.port }, { timeout: "2 seconds" }).pipe(Effect.either),
        { concurrency: "unbounded" }
      )
      const failures = results.filter(Either.isLeft).map((e) => e.left.message)
      expect(failures).toEqual([])
      expect(
        results
          .filter(Either.isRight)
          .map((r) => r.right.mac)
          .sort()
      ).toEqual(crowd.devices.map((d) => d.mac).sort())
    }).pipe(Effect.provide(ShellyRpcLive))
  )
})
