// The Shelly simulator's wire behaviour, driven with plain fetch over loopback
// (addresses 127.10.x.x). Lifecycle/AP flows: shelly-lifecycle.test.ts; CLI: shelly-cli.test.ts.
import { Either } from "effect"
import { readFile, mkdtemp } from "node:fs/promises"
import { createConnection, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { FleetHandle } from "../../sim/shelly/index.js"
import { parseScenarioText, startFleet } from "../../sim/shelly/index.js"
import { digestHeader, failureOf, parseChallenge, request, sha256 } from "./shelly-support.js"

const adminPassword = "test-admin-pw"
let fleet: FleetHandle
const url = (n: number, path: string) => `http://${fleet.device(n)!.ip}:${fleet.port}${path}`

beforeAll(async () => {
  fleet = await startFleet({
    devices: 12,
    baseIp: "127.10.1.1",
    port: 18110,
    seed: 3,
    adminPassword,
    models: ["S2PMG3", "S1PMG3", "Mini1PMG3", "I4G3", "Plus1PM"],
    faults: [
      "2=update", // S1PMG3 with a pending stable update
      "4=protected",
      "6=offline",
      "7=blackhole",
      "8=slow:400",
      "9=http500_on_spaces",
      "10=fail:Sys.SetConfig",
      "11=wrong_mac",
      "12=beta:2.0.0-beta1"
    ]
  })
})
afterAll(async () => {
  await fleet?.stop()
})

describe("identity and shapes", () => {
  it("gives each model its id prefix, model code, app and generation", async () => {
    const expected = [
      ["shelly2pmg3", "S3SW-002P16EU", "S2PMG3", 3],
      ["shelly1pmg3", "S3SW-001P16EU", "S1PMG3", 3],
      ["shelly1pmminig3", "S3SW-001P8EU", "Mini1PMG3", 3],
      ["shellyi4g3", "S3SN-0024X", "I4G3", 3],
      ["shellyplus1pm", "SNSW-001P16EU", "Plus1PM", 2]
    ] as const
    for (const [k, [prefix, model, app, gen]] of expected.entries()) {
      const d = fleet.device(k + 1)!
      const info = (await request(url(k + 1, "/rpc/Shelly.GetDeviceInfo"))).json as Record<string, unknown>
      expect(info).toMatchObject({
        id: `${prefix}-${d.mac.toLowerCase()}`,
        mac: d.mac,
        model,
        app,
        gen,
        slot: 0,
        auth_en: d.authEnabled,
        auth_domain: d.authEnabled ? d.id : null
      })
      expect(info.ver).toBe(d.fw)
      expect(String(info.fw_id)).toMatch(new RegExp(`^\\d{8}-\\d{6}/${d.fw.replace(/\./g, "\\.")}-g[0-9a-f]{7}$`))
      expect(d.ip).toBe(`127.10.1.${k + 1}`)
    }
  })

  it("answers GET /shelly like GetDeviceInfo, with Mongoose headers and Connection: close", async () => {
    const reply = await request(url(1, "/shelly"))
    expect(reply.status).toBe(200)
    expect(reply.headers.get("connection")).toBe("close")
    expect(reply.headers.get("server")).toBe("ShellyHTTP/1.0.0")
    expect(reply.headers.get("content-type")).toBe("application/json")
    expect(reply.json).toEqual((await request(url(1, "/rpc/Shelly.GetDeviceInfo"))).json)
  })

  it("closes the connection after every response, even when the client asks for keep-alive", async () => {
    const { connect } = await import("node:net")
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: fleet.device(1)!.ip!, port: fleet.port })
      let text = ""
      socket.setTimeout(2000, () => reject(new Error("server kept the connection open")))
      socket.on("data", (chunk) => (text += chunk.toString()))
      // "end" = the server sent FIN; the client never closes its side here.
      socket.on("end", () => {
        socket.destroy()
        resolve(text)
      })
      socket.on("error", reject)
      socket.write("GET /shelly HTTP/1.1\r\nHost: device\r\nConnection: keep-alive\r\n\r\n")
    })
    expect(raw).toMatch(/^HTTP\/1\.1 200 /)
    expect(raw).toMatch(/\r\nConnection: close\r\n/)
  })

  it("returns the status, config and network shapes of the reference", async () => {
    const status = (await request(url(1, "/rpc/Shelly.GetStatus"))).json as Record<string, unknown>
    expect(Object.keys(status)).toEqual(
      expect.arrayContaining(["ble", "cloud", "mqtt", "sys", "wifi", "ws", "switch:0", "switch:1", "input:0"])
    )
    const mini = (await request(url(3, "/rpc/Shelly.GetStatus"))).json as Record<string, unknown>
    expect(mini).toHaveProperty("switch:0")
    expect(mini).not.toHaveProperty("switch:1")
    const sys = (await request(url(1, "/rpc/Sys.GetStatus"))).json as Record<string, unknown>
    expect(sys).toMatchObject({ mac: fleet.device(1)!.mac, restart_required: false, available_updates: {} })
    expect(typeof sys.uptime).toBe("number")
    const wifi = (await request(url(1, "/rpc/WiFi.GetStatus"))).json
    expect(wifi).toMatchObject({ sta_ip: "127.10.1.1", status: "got ip", ssid: "ProdNet" })
    const sysConfig = (await request(url(1, "/rpc/Sys.GetConfig"))).json as { device: Record<string, unknown> }
    expect(sysConfig.device).toMatchObject({ name: null, mac: fleet.device(1)!.mac })
    const wifiConfig = (await request(url(1, "/rpc/WiFi.GetConfig"))).json as Record<string, Record<string, unknown>>
    expect(Object.keys(wifiConfig)).toEqual(["ap", "sta", "sta1", "roam"])
    expect(wifiConfig.sta).toMatchObject({ ssid: "ProdNet", enable: true, ipv4mode: "dhcp", is_open: false })
    expect(wifiConfig.sta).not.toHaveProperty("pass")
    // Real SSIDs follow the identity table, not the app name: Shelly2PMG3-<MAC> (Shelly KB; reference §4).
    expect(wifiConfig.ap!.ssid).toBe(`Shelly2PMG3-${fleet.device(1)!.mac}`)
    const full = (await request(url(1, "/rpc/Shelly.GetConfig"))).json as Record<string, unknown>
    expect(Object.keys(full)).toEqual(expect.arrayContaining(["ble", "cloud", "mqtt", "sys", "wifi", "switch:0"]))
    expect((await request(url(1, "/rpc/Cloud.GetConfig"))).json).toMatchObject({ enable: true })
    expect((await request(url(1, "/rpc/BLE.GetConfig"))).json).toMatchObject({ enable: true, rpc: { enable: true } })
    expect((await request(url(1, "/rpc/MQTT.GetConfig"))).json).toMatchObject({ enable: false, server: null })
    const methods = ((await request(url(1, "/rpc/Shelly.ListMethods"))).json as { methods: Array<string> }).methods
    expect(methods).toEqual(expect.arrayContaining(["Shelly.Update", "Sys.SetConfig", "WiFi.Scan", "MQTT.SetConfig"]))
  })

  it("reports pending updates in CheckForUpdate and Sys.GetStatus", async () => {
    expect((await request(url(1, "/rpc/Shelly.CheckForUpdate"))).json).toEqual({})
    const stable = (await request(url(2, "/rpc/Shelly.CheckForUpdate"))).json as Record<string, Record<string, string>>
    expect(Object.keys(stable)).toEqual(["stable"])
    expect(stable.stable!.version).toBe("1.7.5")
    expect(typeof stable.stable!.build_id).toBe("string")
    expect(((await request(url(2, "/rpc/Sys.GetStatus"))).json as Record<string, unknown>).available_updates).toEqual({
      stable: { version: "1.7.5" }
    })
    expect((await request(url(12, "/rpc/Shelly.CheckForUpdate"))).json).toMatchObject({ beta: { version: "2.0.0-beta1" } })
  })
})

describe("GET and POST forms", () => {
  it("parses GET query values as JSON, falling back to plain strings", async () => {
    const set = await request(url(3, `/rpc/Sys.SetConfig?config=${encodeURIComponent(JSON.stringify({ device: { name: "Küche" } }))}`))
    expect(set.status).toBe(200)
    expect(set.json).toEqual({ restart_required: false })
    expect(fleet.state(3)!.name).toBe("Küche")
    expect(((await request(url(3, "/rpc/Sys.GetConfig"))).json as { device: { name: string } }).device.name).toBe("Küche")
    // stage=stable is not JSON, so it arrives as the string "stable": the call is accepted.
    const noUpdate = await request(url(3, "/rpc/Shelly.Update?stage=stable"))
    expect(noUpdate.status).toBe(500)
    expect(noUpdate.json).toMatchObject({ code: -109 })
    const log = fleet.state(3)!.rpcLog.map((e) => [e.method, e.transport])
    expect(log).toContainEqual(["Sys.SetConfig", "get"])
  })

  it("answers POST /rpc frames with {id, src, dst, result} and error frames with HTTP 200", async () => {
    const d = fleet.device(1)!
    const ok = await request(url(1, "/rpc"), {
      method: "POST",
      body: JSON.stringify({ id: 7, src: "tester", method: "Sys.SetConfig", params: { config: { device: { name: "Wohnzimmer Nord" } } } })
    })
    expect(ok.status).toBe(200)
    expect(ok.json).toEqual({ id: 7, src: d.id, dst: "tester", result: { restart_required: false } })
    expect(fleet.device(1)!.name).toBe("Wohnzimmer Nord")
    const bad = await request(url(1, "/rpc"), {
      method: "POST",
      body: JSON.stringify({ id: 8, src: "tester", method: "Sys.SetConfig", params: {} })
    })
    expect(bad.status).toBe(200)
    expect(bad.json).toEqual({ id: 8, src: d.id, dst: "tester", error: { code: -103, message: "Argument 'config' is missing" } })
    const unknown = await request(url(1, "/rpc"), { method: "POST", body: JSON.stringify({ id: 9, src: "tester", method: "Foo.Bar" }) })
    expect(unknown.status).toBe(200)
    expect(unknown.json).toMatchObject({ id: 9, error: { code: 404, message: "No handler for Foo.Bar" } })
  })

  it("accepts POST /rpc/<Method> with the params as body and answers the bare result", async () => {
    const reply = await request(url(5, "/rpc/Cloud.SetConfig"), { method: "POST", body: JSON.stringify({ config: { enable: false } }) })
    expect(reply.json).toEqual({ restart_required: false })
    expect((await request(url(5, "/rpc/Cloud.GetConfig"))).json).toMatchObject({ enable: false })
  })

  it("answers unknown methods 404 and RPC errors 500 with {code, message}", async () => {
    const unknown = await request(url(1, "/rpc/Foo.Bar"))
    expect(unknown.status).toBe(404)
    expect(unknown.json).toEqual({ code: 404, message: "No handler for Foo.Bar" })
    const missing = await request(url(1, "/rpc/Sys.SetConfig"))
    expect(missing.status).toBe(500)
    expect(missing.json).toEqual({ code: -103, message: "Argument 'config' is missing" })
    const badKey = await request(url(1, `/rpc/Sys.SetConfig?config=${encodeURIComponent('{"nope":1}')}`))
    expect(badKey.status).toBe(500)
    expect(badKey.json).toMatchObject({ code: -103 })
  })

  it("keeps write-only passwords: accepted by WiFi/MQTT.SetConfig, never returned", async () => {
    const wifi = await request(url(5, "/rpc"), {
      method: "POST",
      body: JSON.stringify({
        id: 1,
        src: "t",
        method: "WiFi.SetConfig",
        params: { config: { sta1: { ssid: "Backup", pass: "backup-pw", enable: true } } }
      })
    })
    expect(wifi.json).toMatchObject({ result: { restart_required: false } })
    const config = (await request(url(5, "/rpc/WiFi.GetConfig"))).json as Record<string, Record<string, unknown>>
    expect(config.sta1).toMatchObject({ ssid: "Backup", enable: true, is_open: false })
    expect(JSON.stringify(config)).not.toContain("backup-pw")
    expect(fleet.state(5)!.config).toMatchObject({ wifi: { sta1: { pass_set: true } } })
    expect(JSON.stringify(fleet.state(5))).not.toContain("backup-pw")
    await request(url(5, "/rpc/MQTT.SetConfig"), {
      method: "POST",
      body: JSON.stringify({ config: { enable: true, server: "127.0.0.1:1883", user: "u", pass: "mqtt-pw" } })
    })
    const mqtt = (await request(url(5, "/rpc/MQTT.GetConfig"))).json as Record<string, unknown>
    expect(mqtt).toMatchObject({ enable: true, server: "127.0.0.1:1883", user: "u" })
    expect(mqtt).not.toHaveProperty("pass")
    // BLE on/off takes effect at the next boot (aioshelly async_ensure_ble_enabled reboots on it); same value again: nothing to restart.
    const ble = await request(url(5, `/rpc/BLE.SetConfig?config=${encodeURIComponent('{"enable":false}')}`))
    expect(ble.json).toEqual({ restart_required: true })
    const again = await request(url(5, `/rpc/BLE.SetConfig?config=${encodeURIComponent('{"enable":false}')}`))
    expect(again.json).toEqual({ restart_required: false })
    expect((await request(url(5, "/rpc/BLE.GetConfig"))).json).toMatchObject({ enable: false })
  })

  it("lists other visible networks in WiFi.Scan", async () => {
    const scan = (await request(url(1, "/rpc/WiFi.Scan"))).json as { results: Array<Record<string, unknown>> }
    expect(scan.results).toContainEqual(expect.objectContaining({ ssid: "ProdNet", auth: 3 }))
    for (const ap of scan.results) expect(Object.keys(ap).sort()).toEqual(["auth", "bssid", "channel", "rssi", "ssid"])
  })

  it("limits a device to 6 requests in flight and answers 429 beyond", async () => {
    const replies = await Promise.all(Array.from({ length: 8 }, () => request(url(8, "/rpc/Sys.GetStatus"))))
    const statuses = replies.map((r) => r.status).sort()
    expect(statuses.filter((s) => s === 200)).toHaveLength(6)
    expect(statuses.filter((s) => s === 429)).toHaveLength(2)
    expect(replies.find((r) => r.status === 429)!.json).toEqual({ code: -108, message: "Too many requests" })
  })
})

describe("digest auth", () => {
  const d4 = () => fleet.device(4)!

  it("challenges with 401, an empty body and the Shelly WWW-Authenticate header", async () => {
    const reply = await request(url(4, "/rpc/Sys.GetStatus"))
    expect(reply.status).toBe(401)
    expect(reply.text).toBe("")
    const header = reply.headers.get("www-authenticate")!
    expect(header).toMatch(/^Digest qop="auth", realm="shellyi4g3-[0-9a-f]{12}", nonce="\d+", algorithm=SHA-256$/)
    expect(parseChallenge(header).realm).toBe(d4().id)
    const again = parseChallenge((await request(url(4, "/rpc/Sys.GetStatus"))).headers.get("www-authenticate"))
    expect(again.nonce).not.toBe(parseChallenge(header).nonce)
  })

  it("leaves GET /shelly and Shelly.GetDeviceInfo open and says auth_en", async () => {
    const info = await request(url(4, "/shelly"))
    expect(info.status).toBe(200)
    expect(info.json).toMatchObject({ auth_en: true, auth_domain: d4().id })
    expect((await request(url(4, "/rpc/Shelly.GetDeviceInfo"))).status).toBe(200)
  })

  it("accepts a correct digest once per nc and refuses replays and wrong passwords", async () => {
    const uri = `/rpc/Sys.SetConfig?config=${encodeURIComponent('{"device":{"name":"Flur"}}')}`
    const challenge = parseChallenge((await request(url(4, uri))).headers.get("www-authenticate"))
    const auth = digestHeader({ realm: challenge.realm!, nonce: challenge.nonce!, password: adminPassword, method: "GET", uri })
    const ok = await request(url(4, uri), { headers: { Authorization: auth } })
    expect(ok.status).toBe(200)
    expect(fleet.device(4)!.name).toBe("Flur")
    const replay = await request(url(4, uri), { headers: { Authorization: auth } })
    expect(replay.status).toBe(401)
    const nc2 = digestHeader({ realm: challenge.realm!, nonce: challenge.nonce!, password: adminPassword, method: "GET", uri, nc: 2 })
    expect((await request(url(4, uri), { headers: { Authorization: nc2 } })).status).toBe(200)
    const fresh = parseChallenge((await request(url(4, "/rpc/Sys.GetStatus"))).headers.get("www-authenticate"))
    const wrong = digestHeader({ realm: fresh.realm!, nonce: fresh.nonce!, password: "not-it", method: "GET", uri: "/rpc/Sys.GetStatus" })
    expect((await request(url(4, "/rpc/Sys.GetStatus"), { headers: { Authorization: wrong } })).status).toBe(401)
    // A digest for another uri does not authorise this one.
    const fresh2 = parseChallenge((await request(url(4, "/rpc/Sys.GetStatus"))).headers.get("www-authenticate"))
    const otherUri = digestHeader({
      realm: fresh2.realm!,
      nonce: fresh2.nonce!,
      password: adminPassword,
      method: "GET",
      uri: "/rpc/Sys.GetConfig"
    })
    expect((await request(url(4, "/rpc/Sys.GetStatus"), { headers: { Authorization: otherUri } })).status).toBe(401)
  })

  it("accepts the JSON-RPC auth object on POST /rpc", async () => {
    const challenge = parseChallenge(
      (await request(url(4, "/rpc"), { method: "POST", body: JSON.stringify({ id: 1, src: "t", method: "Sys.GetStatus" }) })).headers.get(
        "www-authenticate"
      )
    )
    const ha1 = sha256(`admin:${challenge.realm}:${adminPassword}`)
    const ha2 = sha256("dummy_method:dummy_uri")
    const cnonce = "c0ffee"
    const response = sha256(`${ha1}:${challenge.nonce}:1:${cnonce}:auth:${ha2}`)
    const frame = {
      id: 2,
      src: "t",
      method: "Sys.GetStatus",
      auth: { realm: challenge.realm, username: "admin", nonce: Number(challenge.nonce), cnonce, response, algorithm: "SHA-256", nc: 1 }
    }
    const reply = await request(url(4, "/rpc"), { method: "POST", body: JSON.stringify(frame) })
    expect(reply.status).toBe(200)
    expect(reply.json).toMatchObject({ id: 2, dst: "t", result: { mac: fleet.device(4)!.mac } })
  })

  it("turns auth on and off with Shelly.SetAuth", async () => {
    const d = fleet.device(5)!
    const ha1 = sha256(`admin:${d.id}:new-pw`)
    const badRealm = await request(url(5, `/rpc/Shelly.SetAuth?user=admin&realm=wrong&ha1=${ha1}`))
    expect(badRealm.status).toBe(500)
    expect((await request(url(5, `/rpc/Shelly.SetAuth?user=admin&realm=${d.id}&ha1=${ha1}`))).status).toBe(200)
    const challenged = await request(url(5, "/rpc/Sys.GetStatus"))
    expect(challenged.status).toBe(401)
    const c = parseChallenge(challenged.headers.get("www-authenticate"))
    const uri = `/rpc/Shelly.SetAuth?user=admin&realm=${d.id}&ha1=null`
    const off = await request(url(5, uri), {
      headers: { Authorization: digestHeader({ realm: c.realm!, nonce: c.nonce!, password: "new-pw", method: "GET", uri }) }
    })
    expect(off.status).toBe(200)
    expect((await request(url(5, "/rpc/Sys.GetStatus"))).status).toBe(200)
  })
})

describe("faults", () => {
  it("offline refuses connections", async () => {
    expect(fleet.device(6)!.mode).toBe("offline")
    expect(await failureOf(url(6, "/shelly"))).toBe("refused")
  })

  it("blackhole accepts and never answers", async () => {
    expect(await failureOf(url(7, "/shelly"), 300)).toBe("timeout")
  })

  it("blackhole frees the connection when the client hangs up (no CLOSE-WAIT pile-up)", async () => {
    const socket = createConnection({ host: fleet.device(7)!.ip!, port: fleet.port })
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject))
    socket.end("GET /shelly HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    let answer = ""
    socket.on("data", (chunk) => (answer += String(chunk)))
    // Our FIN went out; the device must close its side too, without a word.
    const closed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5000)
      socket.once("close", () => (clearTimeout(timer), resolve(true)))
    })
    socket.destroy()
    expect(closed).toBe(true)
    expect(answer).toBe("")
  })

  it("slow answers only after its latency", async () => {
    expect(await failureOf(url(8, "/shelly"), 150)).toBe("timeout")
    expect((await request(url(8, "/shelly"), { timeoutMs: 3000 })).status).toBe(200)
  })

  it("http500_on_spaces refuses GET JSON with spaces, encoded or as +, but not compact JSON or POST", async () => {
    const spaced = encodeURIComponent('{"device": {"name": "X"}}')
    const r1 = await request(url(9, `/rpc/Sys.SetConfig?config=${spaced}`))
    expect(r1.status).toBe(500)
    expect(r1.json).toMatchObject({ code: -103 })
    expect((await request(url(9, `/rpc/Sys.SetConfig?config={"device":+{"name":"X"}}`))).status).toBe(500)
    expect((await request(url(9, `/rpc/Sys.SetConfig?config=${encodeURIComponent('{"device":{"name":"X"}}')}`))).status).toBe(200)
    const post = await request(url(9, "/rpc/Sys.SetConfig"), { method: "POST", body: '{"config": {"device": {"name": "Y Z"}}}' })
    expect(post.status).toBe(200)
    expect(fleet.device(9)!.name).toBe("Y Z")
    // A healthy device takes the spaced form.
    expect((await request(url(1, `/rpc/Sys.SetConfig?config=${spaced}`))).status).toBe(200)
  })

  it("fail:<Method> fails that method only (HTTP 500, error frame)", async () => {
    const r = await request(url(10, `/rpc/Sys.SetConfig?config=${encodeURIComponent('{"device":{"name":"A"}}')}`))
    expect(r.status).toBe(500)
    expect(r.json).toMatchObject({ code: -114 })
    const frame = await request(url(10, "/rpc"), {
      method: "POST",
      body: JSON.stringify({ id: 1, src: "t", method: "Sys.SetConfig", params: { config: {} } })
    })
    expect(frame.status).toBe(200)
    expect(frame.json).toMatchObject({ error: { code: -114 } })
    expect((await request(url(10, "/rpc/Sys.GetConfig"))).status).toBe(200)
  })

  it("wrong_mac answers with another device's identity", async () => {
    const d = fleet.device(11)!
    const info = (await request(url(11, "/shelly"))).json as { mac: string; id: string }
    expect(info.mac).not.toBe(d.mac)
    expect(info.mac).toBe(d.reportedMac)
    expect(info.id).toBe(`${d.id.split("-")[0]}-${d.reportedMac.toLowerCase()}`)
  })

  it("changes faults at run time", async () => {
    expect(Either.isRight(await fleet.setFaults(1, ["offline"]))).toBe(true)
    expect(await failureOf(url(1, "/shelly"))).toBe("refused")
    await fleet.clearFaults(1)
    expect((await request(url(1, "/shelly"))).status).toBe(200)
    const unknown = await fleet.setFaults(1, ["melt"])
    expect(Either.isLeft(unknown) && unknown.left).toMatch(/"melt" is not a known fault/)
    expect(Either.isLeft(await fleet.setFaults(99, ["offline"]))).toBe(true)
  })

  it("sets pending updates and passwords at run time", async () => {
    await fleet.setPendingUpdate(1, { stable: "9.9.9" })
    expect((await request(url(1, "/rpc/Shelly.CheckForUpdate"))).json).toMatchObject({ stable: { version: "9.9.9" } })
    await fleet.setPendingUpdate(1, null)
    expect((await request(url(1, "/rpc/Shelly.CheckForUpdate"))).json).toEqual({})
    await fleet.setPassword(1, "runtime-pw")
    const challenged = await request(url(1, "/rpc/Sys.GetStatus"))
    expect(challenged.status).toBe(401)
    const c = parseChallenge(challenged.headers.get("www-authenticate"))
    const auth = digestHeader({ realm: c.realm!, nonce: c.nonce!, password: "runtime-pw", method: "GET", uri: "/rpc/Sys.GetStatus" })
    expect((await request(url(1, "/rpc/Sys.GetStatus"), { headers: { Authorization: auth } })).status).toBe(200)
    await fleet.setPassword(1, null)
    expect((await request(url(1, "/rpc/Sys.GetStatus"))).status).toBe(200)
  })
})

describe("ports, rules and inventory", () => {
  it("moves to the next port when the configured one is taken", async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen({ host: "127.10.50.1", port: 18120 }, resolve))
    const other = await startFleet({ devices: 3, baseIp: "127.10.50.1", port: 18120, control: false })
    try {
      expect(other.port).toBe(18121)
      expect((await request(`http://127.10.50.2:${other.port}/shelly`)).status).toBe(200)
    } finally {
      await other.stop()
      await new Promise((resolve) => blocker.close(resolve))
    }
  })

  it("refuses non-loopback addresses and bad rules with a clear message", async () => {
    await expect(startFleet({ devices: 1, baseIp: "192.168.1.10", control: false })).rejects.toMatchObject({
      reason: expect.stringContaining("not a loopback address")
    })
    await expect(startFleet({ devices: 2, baseIp: "127.10.51.1", faults: ["5=offline"], control: false })).rejects.toMatchObject({
      reason: expect.stringContaining("fleet has 2")
    })
    await expect(startFleet({ devices: 2, baseIp: "127.10.51.1", faults: ["offline"], control: false })).rejects.toMatchObject({
      reason: expect.stringContaining("SELECTOR=ITEM")
    })
  })

  it("picks percentages by seed, disjoint and repeatable", async () => {
    const scenario = parseScenarioText(
      "seed: 42\ndevices: 50\nfaults: ['10%=blackhole', '20%=update']\nrules:\n  - select: 1\n    items: [factory]\n    name: 'A, B'\n",
      "scenario.yaml"
    )
    expect(Either.isRight(scenario)).toBe(true)
    const run = async () => {
      const f = await startFleet({ baseIp: "127.10.60.1", port: 18130, scenario: Either.getOrThrow(scenario), control: false })
      const views = f.devices
      await f.stop()
      return views
    }
    const a = await run()
    const b = await run()
    const black = a.filter((d) => d.faults.includes("blackhole")).map((d) => d.mac)
    const updates = a.filter((d) => d.pendingUpdate.stable !== undefined).map((d) => d.mac)
    expect(black).toHaveLength(5)
    expect(updates).toHaveLength(10)
    expect(black.filter((m) => updates.includes(m))).toEqual([])
    expect(b.map((d) => [d.mac, d.faults, d.pendingUpdate])).toEqual(a.map((d) => [d.mac, d.faults, d.pendingUpdate]))
    expect(a[0]).toMatchObject({ ip: null, mode: "ap", name: "A, B" })
    expect(a[1]!.ip).toBe("127.10.60.1")
    const bad = parseScenarioText("seed: 1\nfaults: ['3=explode']\n", "bad.yaml")
    expect(Either.isLeft(bad) && bad.left).toMatch(/^bad\.yaml: .*"explode" is not a known fault/)
    const badField = parseScenarioText("seed: one\n", "bad.yaml")
    expect(Either.isLeft(badField) && badField.left).toMatch(/bad\.yaml: .*seed/)
  })

  it("writes the fleet as ip_state.json, flat and wrapped", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sim-inv-"))
    await fleet.writeInventory(join(dir, "flat.json"), "flat")
    await fleet.writeInventory(join(dir, "data", "wrapped.json"), "wrapped")
    const flat = JSON.parse(await readFile(join(dir, "flat.json"), "utf8")) as Record<string, Record<string, unknown>>
    const wrapped = JSON.parse(await readFile(join(dir, "data", "wrapped.json"), "utf8")) as { version: number; devices: typeof flat }
    expect(Object.keys(flat)).toHaveLength(12)
    const d2 = fleet.device(2)!
    expect(flat[d2.mac]).toMatchObject({
      ip: d2.ip,
      model: "S3SW-001P16EU",
      app: "S1PMG3",
      fw: d2.fw,
      hostname: d2.id,
      port: fleet.port,
      friendly_name: d2.friendlyName
    })
    expect(wrapped.version).toBe(1)
    expect(wrapped.devices).toEqual(flat)
  })
})
