/**
 * Per-method timeouts (issue 11 §4): WiFi.Scan gets at least 30 s whatever
 * the caller passes; other methods keep the caller's timeout. Against a
 * simulated device that answers everything after 1.5 s. Addresses: 127.115.1.x.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as Methods from "../../src/shelly/methods.js"
import { ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"

let fleet: FleetHandle
beforeAll(async () => {
  fleet = await startFleet({
    devices: 1,
    baseIp: "127.115.1.1",
    port: 0,
    seed: 115,
    timeScale: 0.01,
    control: false,
    apIp: "127.115.33.1",
    dhcpPool: { start: "127.115.200.1", end: "127.115.200.254" },
    faults: ["1=slow:1500"]
  })
})
afterAll(async () => {
  await fleet?.stop()
})

describe("per-method timeouts", () => {
  it("raises a short caller timeout to the method's floor and leaves other methods alone", () => {
    expect(Methods.withMethodTimeout("Shelly.GetStatus", { timeout: "2 seconds" })).toEqual({ timeout: "2 seconds" })
    expect(Duration.toMillis(Methods.withMethodTimeout("WiFi.Scan", { timeout: "2 seconds" })!.timeout!)).toBe(30_000)
    expect(Duration.toMillis(Methods.withMethodTimeout("WiFi.Scan", undefined)!.timeout!)).toBe(30_000)
    expect(Duration.toMillis(Methods.withMethodTimeout("WiFi.Scan", { timeout: "45 seconds" })!.timeout!)).toBe(45_000)
  })

  it.live("a slow WiFi.Scan completes under a 500 ms caller timeout that a quick method runs out of", () =>
    Effect.gen(function* () {
      const target = { host: fleet.device(1)!.ip!, port: fleet.port }
      const quick = yield* Effect.flip(Methods.getStatus(target, { timeout: "500 millis" }))
      expect(quick._tag).toBe("RpcTimeout")
      const scan = yield* Methods.wifiScan(target, { timeout: "500 millis" })
      expect(Array.isArray(scan.results)).toBe(true)
    }).pipe(Effect.provide(ShellyRpcLive))
  )
})
