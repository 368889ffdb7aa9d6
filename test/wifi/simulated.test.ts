// The simulated Wifi layer against the real Shelly simulator (control API over
// HTTP). Loopback block of this file: 127.51.0.0/16.
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Option, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startFleet } from "../../sim/shelly/index.js"
import type { FleetHandle } from "../../sim/shelly/index.js"
import { makeSimulatedWifi } from "../../src/wifi/SimulatedWifi.js"

let fleet: FleetHandle
beforeAll(async () => {
  fleet = await startFleet({
    devices: 3,
    baseIp: "127.51.1.1",
    port: 0,
    apIp: "127.51.33.1",
    dhcpPool: { start: "127.51.200.1", end: "127.51.200.50" },
    control: { host: "127.51.0.1", port: 0 },
    faults: ["1-2=factory"],
    timeScale: 0.01
  })
})
afterAll(async () => {
  await fleet?.stop()
})

const run = <A, E>(f: (wifi: Effect.Effect.Success<ReturnType<typeof makeSimulatedWifi>>) => Effect.Effect<A, E>) =>
  Effect.runPromise(
    makeSimulatedWifi({ controlUrl: fleet.controlUrl!, initial: { ssid: "ProdNet", profile: "ProdNet" } }).pipe(
      Effect.flatMap(f),
      Effect.provide(NodeHttpClient.layer)
    )
  )

describe("SimulatedWifi", () => {
  it("scan lists the factory APs (open, quality 0–100) and the production network", async () => {
    const aps = await run((wifi) => wifi.scan())
    const factory = fleet.devices.slice(0, 2).map((d) => d.apSsid)
    expect(aps.filter((ap) => factory.includes(ap.ssid)).map((ap) => ap.security)).toEqual(["open", "open"])
    expect(aps.some((ap) => ap.ssid === "ProdNet" && ap.security !== "open")).toBe(true)
    for (const ap of aps) expect(ap.signal).toBeGreaterThanOrEqual(0), expect(ap.signal).toBeLessThanOrEqual(100)
    // the third device is already on the production network: no AP
    expect(aps.some((ap) => ap.ssid === fleet.devices[2]!.apSsid)).toBe(false)
  })

  it("connect routes the AP address to that device; restore drops the route", async () => {
    const target = fleet.devices[1]!
    const [joined, current, body, after] = await run((wifi) =>
      Effect.gen(function* () {
        const previous = yield* wifi.current()
        const joined = yield* wifi.connect({ ssid: target.apSsid })
        const current = yield* wifi.current()
        const body = yield* Effect.promise(() =>
          fetch(`http://${fleet.apIp}:${fleet.port}/shelly`).then((r) => r.json() as Promise<{ mac: string }>)
        )
        yield* wifi.restore(previous)
        return [joined, current, body, yield* wifi.current()] as const
      })
    )
    expect(joined.ssid).toBe(target.apSsid)
    expect(Option.getOrThrow(current).ssid).toBe(target.apSsid)
    expect(body.mac).toBe(target.mac.replace(/:/g, "").toUpperCase())
    expect(fleet.apLink()).toBeNull()
    expect(Option.getOrThrow(after).ssid).toBe("ProdNet")
  })

  it("an unknown SSID or a wrong production password is WifiConnectFailed naming the SSID", async () => {
    const error = await run((wifi) => Effect.flip(wifi.connect({ ssid: "ShellyNope-000000000000", password: Redacted.make("x") })))
    expect(error._tag).toBe("WifiConnectFailed")
    expect(error.message).toContain("ShellyNope-000000000000")
    expect(error.message).not.toContain('"x"')
  })
})
