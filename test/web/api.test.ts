// `provision serve` over HTTP: a child process in a temp project, a simulated
// fleet, Node's fetch as the client. Loopback block of this file: 127.42.0.0/16.
import type { ChildProcess } from "node:child_process"
import { request } from "node:http"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import QRCode from "qrcode"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"
import { cleanBundles, spawnScript, waitForLine } from "../inventory/children.js"
import { cleanInventoryBundle, spawnEntry, startServe, stopChild } from "../e2e/inventoryCli.js"
import { makeClient, makeProject, readEvents, removeProject } from "./support.js"

let fleet: FleetHandle
let dir: string
let server: { child: ChildProcess; url: string }
const state = () => JSON.parse(readFileSync(join(dir, "data/ip_state.json"), "utf8")) as Record<string, Record<string, unknown>>

beforeAll(async () => {
  fleet = await startFleet({
    devices: 4,
    baseIp: "127.42.0.1",
    port: 0,
    timeScale: 0.01,
    control: false,
    seed: 42,
    faults: ["1=friendly:Wohnzimmer", "4=offline"]
  })
  dir = await makeProject(fleet, "web-api-")
  server = await startServe(dir, ["--host", "127.42.0.200", "--port", "0"])
})

afterAll(async () => {
  if (server) await stopChild(server.child)
  await fleet?.stop()
  removeProject(dir)
  cleanInventoryBundle()
  cleanBundles()
})

describe("inventory page and API", () => {
  it("serves the inventory with every device, a session cookie and a CSRF token", async () => {
    const client = makeClient(server.url)
    const html = await client.open()
    expect(client.csrf).toMatch(/^[A-Za-z0-9_-]{20,}$/)
    for (const device of fleet.devices) {
      expect(html).toContain(device.mac)
      expect(html).toContain(device.ip!)
    }
    expect(html).toContain('value="Wohnzimmer"')
    const rows = (await (await client.get("/api/devices")).json()) as Array<{ mac: string }>
    expect(rows.map((r) => r.mac).sort()).toEqual(fleet.devices.map((d) => d.mac).sort())
    const online = (await (await client.get("/api/online")).json()) as Record<string, boolean>
    expect(online[fleet.devices[0]!.mac]).toBe(true)
    expect(online[fleet.devices[3]!.mac]).toBe(false)
  })

  it("renames with the CSRF token only; the name is normalised; a bad name is a 400 and changes nothing", async () => {
    const client = makeClient(server.url)
    await client.open()
    const mac = fleet.devices[1]!.mac
    const forged = await client.post(`/api/devices/${mac}/name`, { name: "Evil" }, { "x-csrf-token": "forged" })
    expect(forged.status).toBe(403)
    expect(state()[mac]!.friendly_name).not.toBe("Evil")

    const ok = await client.post(`/api/devices/${mac.toLowerCase()}/name`, { name: "  Büro   Süd " })
    expect(ok.status).toBe(200)
    expect(await ok.json()).toMatchObject({ mac, name: "Büro Süd" })
    expect(state()[mac]!.friendly_name).toBe("Büro Süd")

    const before = readFileSync(join(dir, "data/ip_state.json"), "utf8")
    const bad = await client.post(`/api/devices/${mac}/name`, { name: "Zeile\nzwei" })
    expect(bad.status).toBe(400)
    const body = (await bad.json()) as { error: string; code: string }
    expect(body.code).toBe("friendly_name_invalid")
    expect(body.error).toContain("U+000A")
    expect(readFileSync(join(dir, "data/ip_state.json"), "utf8")).toBe(before)
  })

  it("answers bad requests with 4xx and a message, never a stack trace", async () => {
    const client = makeClient(server.url)
    await client.open()
    const malformed = await client.post(`/api/devices/${fleet.devices[0]!.mac}/name`, "{not json")
    expect(malformed.status).toBe(400)
    const text = await malformed.text()
    expect(text).not.toMatch(/at .*\.(ts|js):\d+/)
    const unknown = await client.post("/api/devices/00:11:22:33:44:55/name", { name: "X" })
    expect(unknown.status).toBe(404)
    expect(((await unknown.json()) as { error: string }).error).toContain("no device 00:11:22:33:44:55")
    const noRoute = await client.get("/nope")
    expect(noRoute.status).toBe(404)
    expect(await noRoute.json()).toMatchObject({ code: "not_found" })
    // fetch will not send a foreign Host header; node:http does (a DNS-rebinding request looks like this).
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = request(new URL("/", server.url), { headers: { host: "attacker.example" }, timeout: 10_000 }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.once("error", reject)
      req.end()
    })
    expect(rebound).toBe(421)
    const traversal = await client.get("/files/reports/..%2Fdata%2Fip_state.json")
    expect(traversal.status).toBeGreaterThanOrEqual(400)
    expect(await traversal.text()).not.toContain(fleet.devices[0]!.mac)
  })

  it("assigns a planned address and refuses one already taken", async () => {
    const client = makeClient(server.url)
    await client.open()
    const mac = fleet.devices[2]!.mac
    const taken = await client.post(`/api/devices/${mac}/ip`, { ip: fleet.devices[0]!.ip })
    expect(taken.status).toBe(400)
    const bad = await client.post(`/api/devices/${mac}/ip`, { ip: "127.42.0.300" })
    expect(bad.status).toBe(400)
    expect(state()[mac]!.ip).toBe(fleet.devices[2]!.ip)
  })
})

describe("Stage 3 from the web", () => {
  it("a dry run streams one line per device and the summary, and writes nothing", async () => {
    const client = makeClient(server.url)
    await client.open()
    const before = readFileSync(join(dir, "data/ip_state.json"), "utf8")
    const started = await client.post("/api/stage3", { ips: [], dryRun: true })
    expect(started.status).toBe(202)
    const { id } = (await started.json()) as { id: string }
    const events = await readEvents(await client.get(`/api/stage3/${id}/events`))
    const lines = events.filter((e) => e.event === "line").map((e) => e.data)
    for (const device of fleet.devices) expect(lines.some((l) => l.includes(device.ip!))).toBe(true)
    expect(lines.find((l) => l.startsWith("Stage 3 summary:"))).toMatch(/total=4 ok=\d+ failed=\d+/)
    expect(events.at(-1)!.event).toBe("end")
    expect(readFileSync(join(dir, "data/ip_state.json"), "utf8")).toBe(before)
    // A late subscriber gets the whole run replayed.
    const replay = await readEvents(await client.get(`/api/stage3/${id}/events`))
    expect(replay).toEqual(events)
  })

  it("a real run on a selection sends the renamed name to the simulated device", async () => {
    const client = makeClient(server.url)
    await client.open()
    const device = fleet.devices[1]!
    expect((await client.post(`/api/devices/${device.mac}/name`, { name: "Wintergarten" })).status).toBe(200)
    const started = await client.post("/api/stage3", { ips: [device.ip], dryRun: false })
    expect(started.status).toBe(202)
    const { id } = (await started.json()) as { id: string }
    const events = await readEvents(await client.get(`/api/stage3/${id}/events`))
    const lines = events.filter((e) => e.event === "line").map((e) => e.data)
    expect(lines.filter((l) => l.startsWith("●"))).toHaveLength(1)
    expect(lines.join("\n")).toContain("Wintergarten")
    expect(fleet.device(device.mac)!.name).toBe("Wintergarten")
    expect((state()[device.mac]!.stage3 as { friendly_status: string }).friendly_status).toBeDefined()
  })

  it("while Stage 1 holds the lock: banner, writes and real runs refused (423), dry runs allowed", async () => {
    const holder = spawnScript("lockHolder.ts", [join(dir, "var/run"), "stage1 --loop"])
    try {
      await waitForLine(holder, /^locked \d+/)
      const client = makeClient(server.url)
      const html = await client.open()
      expect(html).toContain("Read-only: stage1 --loop")
      const rename = await client.post(`/api/devices/${fleet.devices[0]!.mac}/name`, { name: "Gesperrt" })
      expect(rename.status).toBe(423)
      expect(((await rename.json()) as { error: string }).error).toContain(`PID ${holder.pid}`)
      expect((await client.post("/api/stage3", { ips: [], dryRun: false })).status).toBe(423)
      expect((await client.post("/api/stage3", { ips: [fleet.devices[0]!.ip], dryRun: true })).status).toBe(202)
    } finally {
      holder.kill("SIGKILL")
    }
  })
})

describe("factory page", () => {
  it("says there are none, then lists a batch report with its station statistics and serves the download", async () => {
    const client = makeClient(server.url)
    expect(await (await client.get("/factory")).text()).toContain("There are no batch reports yet")
    mkdirSync(join(dir, "var/reports"), { recursive: true })
    // A whole report as `provision flash` writes it (the page decodes the writer's Schema), plus a key it does not know.
    const noTimes = { p50: null, p95: null, min: null, max: null, mean: null }
    const report = {
      batch_id: "B-42",
      config: "data/factory-config.yaml",
      started_at: "2026-11-23T09:58:00.000Z",
      finished_at: "2026-11-23T10:00:00.000Z",
      duration_s: 120,
      totals: { requested: 3, total: 3, passed: 2, failed: 1, registered: 2, queued: 0 },
      pass_rate: 0.6667,
      flash_time_s: noTimes,
      throughput_boards_per_min: 1.5,
      retries: 4,
      stations: { "st-1": { total: 3, passed: 2, failed: 1, retries: 4, flash_time_s: noTimes } },
      failures: [],
      boards: [],
      written_by: "a newer provision"
    }
    writeFileSync(join(dir, "var/reports/batch_report_20261123T100000.json"), JSON.stringify(report))
    const html = await (await client.get("/factory")).text()
    expect(html).toContain("B-42")
    expect(html).toContain("66.7 %")
    expect(html).toMatch(/<td>st-1<\/td><td>3<\/td><td>2<\/td><td>1<\/td><td>4<\/td>/)
    const download = await client.get("/files/reports/batch_report_20261123T100000.json")
    expect(download.status).toBe(200)
    expect(download.headers.get("content-disposition")).toContain("attachment")
    expect(await download.json()).toEqual(report)
  })

  it("lists device records with their QR label and serves the records CSV", async () => {
    const client = makeClient(server.url)
    mkdirSync(join(dir, "var/records"), { recursive: true })
    mkdirSync(join(dir, "var/labels"), { recursive: true })
    const png = await QRCode.toBuffer("fp1:dev-web-1:tok", { type: "png" })
    writeFileSync(join(dir, "var/labels/dev-web-1.png"), png)
    const csv = [
      "timestamp,batch_id,device_id,mac,board,status,qr_code",
      "2026-11-23T10:01:00Z,B-42,dev-web-1,AA:BB:CC:00:00:01,esp32-devkit,pass,var/labels/dev-web-1.png",
      "2026-11-23T10:02:00Z,B-42,dev-web-2,AA:BB:CC:00:00:02,esp32-devkit,fail,"
    ].join("\n")
    writeFileSync(join(dir, "var/records/factory_records_20261123.csv"), `${csv}\n`)
    const html = await (await client.get("/factory")).text()
    expect(html).toContain("dev-web-2")
    expect(html).toContain('src="/qr/dev-web-1.png"')
    const label = await client.get("/qr/dev-web-1.png")
    expect(label.status).toBe(200)
    expect(Buffer.from(await label.arrayBuffer()).equals(png)).toBe(true)
    expect((await client.get("/qr/dev-web-2.png")).status).toBe(404)
    const records = await client.get("/files/records/factory_records_20261123.csv")
    expect(await records.text()).toBe(`${csv}\n`)
  })
})

describe("password mode", () => {
  it("refuses to start with --auth when secrets hold no web password (exit 2, names the fix)", async () => {
    const child = spawnEntry(dir, ["serve", "--host", "127.42.0.202", "--port", "0", "--auth"])
    let err = ""
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c))
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve))
    expect(code).toBe(2)
    expect(err).toContain("web_password_missing")
    expect(err).toContain("web.admin_password")
  })

  it("with --auth every page asks to sign in; the right password opens a session", async () => {
    const authDir = await makeProject(fleet, "web-auth-")
    writeFileSync(join(authDir, "data/secrets.yaml"), 'web:\n  admin_password: "s3cret-web"\n')
    const guarded = await startServe(authDir, ["--host", "127.42.0.201", "--port", "0", "--auth"])
    try {
      const client = makeClient(guarded.url)
      const page = await client.get("/")
      expect(page.status).toBe(303)
      expect(page.headers.get("location")).toBe("/login")
      expect((await client.get("/api/devices")).status).toBe(401)
      const form = (password: string) =>
        fetch(new URL("/login", guarded.url), {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ password }).toString(),
          redirect: "manual"
        })
      const wrong = await form("nope")
      expect(wrong.status).toBe(401)
      expect(await wrong.text()).not.toContain("s3cret-web")
      const right = await form("s3cret-web")
      expect(right.status).toBe(303)
      const cookie = right.headers.get("set-cookie")!.split(";")[0]!
      const devices = await fetch(new URL("/api/devices", guarded.url), { headers: { cookie } })
      expect(devices.status).toBe(200)
    } finally {
      await stopChild(guarded.child)
      removeProject(authDir)
    }
  })
})
