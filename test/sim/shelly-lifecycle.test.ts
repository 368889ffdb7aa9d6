// Device lifecycles on the simulator: update + reboot, the factory AP flow,
// DHCP/static addresses, reboot loops. Addresses 127.11.x.x; time scale 0.01.
import { Either } from "effect"
import { afterEach, describe, expect, it, vi } from "vitest"
import type { FleetHandle, FleetOptions } from "../../sim/shelly/index.js"
import { startFleet } from "../../sim/shelly/index.js"
import { digestHeader, failureOf, parseChallenge, request } from "./shelly-support.js"

let fleet: FleetHandle | undefined
afterEach(async () => {
  await fleet?.stop()
  fleet = undefined
})

const start = async (options: FleetOptions): Promise<FleetHandle> => {
  fleet = await startFleet({
    port: 18140,
    timeScale: 0.01,
    apIp: "127.11.33.1",
    dhcpPool: { start: "127.11.200.10", end: "127.11.200.20" },
    network: { ssid: "FactoryNet", password: "right-pw" },
    adminPassword: "admin-pw",
    ...options
  })
  return fleet
}

const post = (base: string, method: string, params: unknown) =>
  request(`${base}/rpc`, { method: "POST", body: JSON.stringify({ id: 1, src: "test", method, params }) })

const waitFor = <A>(check: () => Promise<A> | A, timeout = 5000) => vi.waitFor(check, { timeout, interval: 20 })

describe("firmware update", () => {
  it("goes offline for the reboot and comes back on the new version", async () => {
    const f = await start({ devices: 2, baseIp: "127.11.1.1", faults: ["1=update:1.8.0"] })
    const base = `http://127.11.1.1:${f.port}`
    expect((await request(`${base}/rpc/Shelly.Update?stage=stable`)).status).toBe(200)
    const again = await request(`${base}/rpc/Shelly.Update?stage=stable`)
    expect(again.json).toMatchObject({ code: -109 })
    await waitFor(async () => expect(await failureOf(`${base}/shelly`)).toBe("refused"))
    expect(f.device(1)!.mode).toBe("offline")
    const info = await waitFor(async () => {
      const reply = await request(`${base}/shelly`)
      expect(reply.status).toBe(200)
      return reply.json as { ver: string; fw_id: string }
    })
    expect(info.ver).toBe("1.8.0")
    expect(info.fw_id).toContain("/1.8.0-g")
    expect((await request(`${base}/rpc/Shelly.CheckForUpdate`)).json).toEqual({})
    expect(f.state(1)!.reboots).toBe(1)
    expect(f.device(2)!.fw).toBe("1.6.2")
  })

  it("reboots after delay_ms and keeps its address", async () => {
    const f = await start({ devices: 1, baseIp: "127.11.2.1" })
    const base = `http://127.11.2.1:${f.port}`
    // Uptime counts device seconds: 300 ms at time scale 0.01 are 30 s.
    await new Promise((r) => setTimeout(r, 300))
    const before = ((await request(`${base}/rpc/Sys.GetStatus`)).json as { uptime: number }).uptime
    expect(before).toBeGreaterThanOrEqual(30)
    expect((await request(`${base}/rpc/Shelly.Reboot?delay_ms=1000`)).json).toBeNull()
    await waitFor(async () => expect(await failureOf(`${base}/shelly`)).toBe("refused"))
    await waitFor(async () => expect((await request(`${base}/shelly`)).status).toBe(200))
    const status = (await request(`${base}/rpc/Sys.GetStatus`)).json as { uptime: number }
    expect(status.uptime).toBeLessThan(before)
    expect(f.state(1)!.reboots).toBe(1)
  })
})

describe("factory AP flow (WiFi.SetConfig applied live, no reboot)", () => {
  it("announces its AP; the station joins live from the DHCP pool while the AP stays up; ap.enable:false drops the AP at once after the answer", async () => {
    const f = await start({ devices: 3, baseIp: "127.11.3.1", models: ["S2PMG3"], faults: ["1-2=factory"] })
    const [d1, d2, d3] = f.devices
    expect(d1!.ip).toBeNull()
    expect(d3!.ip).toBe("127.11.3.1")
    const ssids = f.scan().map((ap) => ap.ssid)
    // AP SSIDs as real devices name them (identity table): Shelly2PMG3-<MAC>.
    expect(ssids).toEqual(["FactoryNet", `Shelly2PMG3-${d1!.mac}`, `Shelly2PMG3-${d2!.mac}`])
    expect(f.scan()[1]).toMatchObject({ security: "open", mac: d1!.mac, bssid: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/) })

    expect(await failureOf(`http://127.11.33.1:${f.port}/shelly`)).toBe("refused")
    const link = await f.connectAp(`Shelly2PMG3-${d1!.mac}`)
    expect(Either.getOrThrow(link)).toEqual({ ssid: `Shelly2PMG3-${d1!.mac}`, ip: "127.11.33.1", port: f.port, mac: d1!.mac })
    const ap = `http://127.11.33.1:${f.port}`
    expect(((await request(`${ap}/shelly`)).json as { mac: string }).mac).toBe(d1!.mac)
    expect((await request(`${ap}/rpc/WiFi.GetStatus`)).json).toMatchObject({ sta_ip: null, status: "disconnected", ap_client_count: 1 })

    // Station first: answered at once with restart_required false; "connecting", then "got ip" — no reboot.
    const set = await post(ap, "WiFi.SetConfig", { config: { sta: { ssid: "FactoryNet", pass: "right-pw", enable: true } } })
    expect(set.json).toMatchObject({ result: { restart_required: false } })
    expect((await post(ap, "Cloud.SetConfig", { config: { enable: false } })).json).toMatchObject({ result: { restart_required: false } })
    await waitFor(async () =>
      expect((await request(`${ap}/rpc/WiFi.GetStatus`)).json).toMatchObject({ status: "got ip", sta_ip: "127.11.200.10" })
    )
    expect(f.device(1)!.mode).toBe("sta")
    expect(f.state(1)!.reboots).toBe(0)
    // The AP stays up beside the station until it is disabled (shared/reference §5).
    expect(f.scan().map((a) => a.ssid)).toContain(`Shelly2PMG3-${d1!.mac}`)
    const info = (await request(`http://127.11.200.10:${f.port}/shelly`)).json as { mac: string }
    expect(info.mac).toBe(d1!.mac)

    // AP off: the answer arrives, then the AP is gone at once (the Pi's link with it).
    const off = await post(ap, "WiFi.SetConfig", { config: { ap: { enable: false } } })
    expect(off.json).toMatchObject({ result: { restart_required: false } })
    await waitFor(() => expect(f.apLink()).toBeNull())
    expect(await failureOf(`${ap}/shelly`)).toBe("refused")
    expect(f.scan().map((a) => a.ssid)).not.toContain(`Shelly2PMG3-${d1!.mac}`)
    expect((await request(`http://127.11.200.10:${f.port}/rpc/WiFi.GetStatus`)).json).toMatchObject({
      sta_ip: "127.11.200.10",
      status: "got ip",
      ssid: "FactoryNet"
    })
    expect(f.state(1)!.config).toMatchObject({
      cloud: { enable: false },
      wifi: { ap: { enable: false }, sta: { ssid: "FactoryNet", pass_set: true } }
    })
    expect(f.state(1)!.reboots).toBe(0)

    // The lease is sticky across a power cycle, and the next device gets the next address.
    await f.powerCycle(1)
    await waitFor(() => expect(f.device(1)!.mode).toBe("sta"))
    expect(f.device(1)!.ip).toBe("127.11.200.10")
    Either.getOrThrow(await f.connectAp(`Shelly2PMG3-${d2!.mac}`))
    await post(ap, "WiFi.SetConfig", { config: { sta: { ssid: "FactoryNet", pass: "right-pw", enable: true } } })
    await waitFor(() => expect(f.device(2)!.mode).toBe("sta"))
    expect(f.device(2)!.ip).toBe("127.11.200.11")
    expect(f.scan().map((a) => a.ssid)).toContain(`Shelly2PMG3-${d2!.mac}`)
  })

  it("drop_before_answer: ap.enable:false takes the AP down before the answer goes out — the caller's connection is cut", async () => {
    const f = await start({ devices: 1, baseIp: "127.11.8.1", faults: ["1=factory,drop_before_answer"] })
    Either.getOrThrow(await f.connectAp(f.devices[0]!.apSsid))
    const ap = `http://127.11.33.1:${f.port}`
    expect((await post(ap, "MQTT.SetConfig", { config: { enable: true, server: "127.0.0.1:1883" } })).json).toMatchObject({
      result: { restart_required: true }
    })
    expect(
      await failureOf(
        `${ap}/rpc/WiFi.SetConfig?config=${encodeURIComponent('{"sta":{"ssid":"FactoryNet","pass":"right-pw","enable":true},"ap":{"enable":false}}')}`,
        5000
      )
    ).toBe("reset")
    expect(f.apLink()).toBeNull()
    // Applied all the same: the station joins, the AP stays down.
    await waitFor(() => expect(f.device(1)!.mode).toBe("sta"))
    expect(f.scan().map((a) => a.ssid)).not.toContain(f.devices[0]!.apSsid)
  })

  it("setup_window (firmware 1.8+): writes over the AP refused (-109) 15 device-minutes after power-on; a power cycle reopens it", async () => {
    const f = await start({ devices: 1, baseIp: "127.11.10.1", faults: ["1=factory,setup_window"], timeScale: 0.001 })
    Either.getOrThrow(await f.connectAp(f.devices[0]!.apSsid))
    const ap = `http://127.11.33.1:${f.port}`
    expect((await post(ap, "Cloud.SetConfig", { config: { enable: false } })).json).toMatchObject({ result: { restart_required: false } })
    await new Promise((r) => setTimeout(r, 1000))
    expect((await post(ap, "Cloud.SetConfig", { config: { enable: true } })).json).toMatchObject({
      error: { code: -109, message: expect.stringContaining("Setup window closed") }
    })
    // Reads stay open.
    expect((await post(ap, "Shelly.GetDeviceInfo", {})).json).toMatchObject({ result: { mac: f.devices[0]!.mac } })
    await f.powerCycle(1)
    await waitFor(() => expect(f.device(1)!.mode).toBe("ap"))
    Either.getOrThrow(await f.connectAp(f.devices[0]!.apSsid))
    expect((await post(ap, "Cloud.SetConfig", { config: { enable: true } })).json).toMatchObject({ result: { restart_required: false } })
  })

  it("a wrong WiFi password: 'connecting' while the AP stays up, then given up; AP still reachable, no reboot", async () => {
    const f = await start({ devices: 1, baseIp: "127.11.4.1", faults: ["1=factory"] })
    const ssid = f.devices[0]!.apSsid
    Either.getOrThrow(await f.connectAp(ssid))
    const ap = `http://127.11.33.1:${f.port}`
    await post(ap, "WiFi.SetConfig", { config: { sta: { ssid: "FactoryNet", pass: "wrong-pw", enable: true } } })
    expect((await request(`${ap}/rpc/WiFi.GetStatus`)).json).toMatchObject({ status: "connecting", sta_ip: null })
    expect(f.scan().map((a) => a.ssid)).toContain(ssid)
    await waitFor(() => expect(f.state(1)!.lastError).toMatch(/wrong SSID or password/))
    expect((await request(`${ap}/rpc/WiFi.GetStatus`)).json).toMatchObject({ status: "disconnected", sta_ip: null })
    expect(f.device(1)!.mode).toBe("ap")
    expect(f.device(1)!.ip).toBeNull()
    expect(f.state(1)!.reboots).toBe(0)
    expect((await request(`${ap}/shelly`)).status).toBe(200)
  })

  it("a rebooted device with wrong credentials tries for joinTimeoutMs (AP down), then falls back to AP mode", async () => {
    const f = await start({ devices: 1, baseIp: "127.11.9.1", faults: ["1=factory"] })
    const ssid = f.devices[0]!.apSsid
    Either.getOrThrow(await f.connectAp(ssid))
    const ap = `http://127.11.33.1:${f.port}`
    await post(ap, "WiFi.SetConfig", { config: { sta: { ssid: "FactoryNet", pass: "wrong-pw", enable: true } } })
    await post(ap, "Shelly.Reboot", {})
    await waitFor(() => expect(f.state(1)!.reboots).toBe(1))
    await waitFor(() => expect(f.scan().map((a) => a.ssid)).not.toContain(ssid))
    expect(f.device(1)!.mode).not.toBe("sta")
    await waitFor(() => expect(f.device(1)!.mode).toBe("ap"))
    expect(f.scan().map((a) => a.ssid)).toContain(ssid)
    expect(Either.isRight(await f.connectAp(ssid))).toBe(true)
    expect((await request(`${ap}/shelly`)).status).toBe(200)
  })

  it("moves to a static address at once (answer first, then the old address is gone), and back to its DHCP lease", async () => {
    const f = await start({ devices: 2, baseIp: "127.11.5.1" })
    const old = `http://127.11.5.2:${f.port}`
    const params = {
      config: { sta: { ipv4mode: "static", ip: "127.11.6.50", netmask: "255.255.255.0", gw: "127.11.6.1", nameserver: "127.0.0.53" } }
    }
    const compact = encodeURIComponent(JSON.stringify(params.config))
    const bad = await request(`${old}/rpc/WiFi.SetConfig?config=${encodeURIComponent('{"sta":{"ipv4mode":"static","ip":"nope"}}')}`)
    expect(bad.status).toBe(500)
    expect((await request(`${old}/rpc/WiFi.SetConfig?config=${compact}`)).json).toEqual({ restart_required: false })
    await waitFor(async () => expect((await request(`http://127.11.6.50:${f.port}/shelly`)).status).toBe(200))
    expect(await failureOf(`${old}/shelly`)).toBe("refused")
    expect(f.device(2)!.ip).toBe("127.11.6.50")
    expect(f.device("127.11.6.50")!.index).toBe(2)
    expect(f.state(2)!.reboots).toBe(0)
    expect((await request(`http://127.11.6.50:${f.port}/rpc/WiFi.GetConfig`)).json).toMatchObject({
      sta: { ipv4mode: "static", ip: "127.11.6.50" }
    })
    // Back to DHCP: the old lease again, at once.
    await request(`http://127.11.6.50:${f.port}/rpc/WiFi.SetConfig?config=${encodeURIComponent('{"sta":{"ipv4mode":"dhcp"}}')}`)
    await waitFor(async () => expect((await request(`${old}/shelly`)).status).toBe(200))
    expect(await failureOf(`http://127.11.6.50:${f.port}/shelly`)).toBe("refused")
  })
})

describe("lifecycle faults", () => {
  it("ap_http_dead: the AP is visible and connectable, but HTTP on it never answers", async () => {
    const f = await start({ devices: 1, baseIp: "127.11.7.1", faults: ["1=factory,ap_http_dead"] })
    Either.getOrThrow(await f.connectAp(f.devices[0]!.apSsid))
    expect(await failureOf(`http://127.11.33.1:${f.port}/rpc/Sys.GetStatus`, 300)).toBe("timeout")
  })

  it("reboot_loop: the device reboots again and again", async () => {
    const f = await start({ devices: 1, baseIp: "127.11.8.1", faults: ["1=reboot_loop"], delays: { rebootLoopMs: 5000 } })
    await waitFor(() => expect(f.state(1)!.reboots).toBeGreaterThanOrEqual(3), 8000)
    await waitFor(async () => expect((await request(`http://127.11.8.1:${f.port}/shelly`)).status).toBe(200))
  })

  it("reboot_loop can be switched on at run time and off again", async () => {
    const f = await start({ devices: 1, baseIp: "127.11.11.1", delays: { rebootLoopMs: 5000 } })
    Either.getOrThrow(await f.setFaults(1, ["reboot_loop"]))
    await waitFor(() => expect(f.state(1)!.reboots).toBeGreaterThanOrEqual(2), 8000)
    Either.getOrThrow(await f.clearFaults(1))
    await waitFor(() => expect(f.device(1)!.mode).toBe("sta"))
    const settled = f.state(1)!.reboots
    // At most the one reboot already armed when the fault was removed.
    await new Promise((r) => setTimeout(r, 300))
    expect(f.state(1)!.reboots).toBeLessThanOrEqual(settled + 1)
    await waitFor(async () => expect((await request(`http://127.11.11.1:${f.port}/shelly`)).status).toBe(200))
  })

  it("a protected factory device asks for auth over the AP", async () => {
    const f = await start({ devices: 1, baseIp: "127.11.9.1", faults: ["1=factory,protected"] })
    Either.getOrThrow(await f.connectAp(f.devices[0]!.apSsid))
    const ap = `http://127.11.33.1:${f.port}`
    const challenged = await request(`${ap}/rpc/Sys.GetStatus`)
    expect(challenged.status).toBe(401)
    const c = parseChallenge(challenged.headers.get("www-authenticate"))
    const auth = digestHeader({ realm: c.realm!, nonce: c.nonce!, password: "admin-pw", method: "GET", uri: "/rpc/Sys.GetStatus" })
    expect((await request(`${ap}/rpc/Sys.GetStatus`, { headers: { Authorization: auth } })).status).toBe(200)
  })

  it("refuses to connect to an AP that is not visible", async () => {
    const f = await start({ devices: 1, baseIp: "127.11.10.1" })
    const result = await f.connectAp("Shelly2PMG3-000000000000")
    expect(Either.isLeft(result) && result.left).toMatch(/no access point named Shelly2PMG3-000000000000/)
  })
})
