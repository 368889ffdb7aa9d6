// `provision serve` as a child process against hostile clients and hostile
// devices (issue 13): oversized bodies are a 413 and the server stays up,
// errors never echo the input, downloads stay inside their folders, a flood
// of cookieless requests cannot evict the operator's session, logins are
// throttled, pages refuse framing, and a run over hostile devices ends
// normally. Loopback block of this file: 127.13.3.0/24.
import type { ChildProcess } from "node:child_process"
import { execFileSync } from "node:child_process"
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { request } from "node:http"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"
import { cleanInventoryBundle, startServe, stopChild } from "../e2e/inventoryCli.js"
import { type HostileDevice, startHostileDevice } from "../support/hostileDevice.js"
import { makeClient, makeProject, readEvents, removeProject } from "./support.js"

let fleet: FleetHandle
let dir: string
let server: { child: ChildProcess; url: string }
const hostile: Array<HostileDevice> = []

beforeAll(async () => {
  fleet = await startFleet({ devices: 2, baseIp: "127.13.3.1", port: 0, timeScale: 0.01, control: false, seed: 7 })
  dir = await makeProject(fleet, "web-hardening-")
  hostile.push(await startHostileDevice("127.13.3.11", fleet.port, "endless_chunked"))
  hostile.push(await startHostileDevice("127.13.3.12", fleet.port, "deep_json"))
  hostile.push(await startHostileDevice("127.13.3.13", fleet.port, "garbage"))
  const statePath = join(dir, "data/ip_state.json")
  const state = JSON.parse(readFileSync(statePath, "utf8")) as Record<string, unknown>
  state["AABBCC130011"] = { ip: "127.13.3.11", model: "SNSW-001X16EU" }
  state["AABBCC130012"] = { ip: "127.13.3.12", model: "SNSW-001X16EU" }
  state["AABBCC130013"] = { ip: "127.13.3.13", model: "SNSW-001X16EU" }
  writeFileSync(statePath, JSON.stringify(state, null, 2))
  writeFileSync(join(dir, "data/secrets.yaml"), 'web:\n  admin_password: "top-secret-web"\n')
  server = await startServe(dir, ["--host", "127.13.3.200", "--port", "0"])
}, 60_000)

afterAll(async () => {
  if (server) await stopChild(server.child)
  for (const d of hostile) await d.close()
  await fleet?.stop()
  removeProject(dir)
  cleanInventoryBundle()
})

const alive = async () => (await fetch(new URL("/api/devices", server.url), { signal: AbortSignal.timeout(10_000) })).status

/** POSTs `total` bytes (announced or chunked) and resolves with the status once the server answers. */
const bigPost = (path: string, total: number, announced: boolean, session: Record<string, string> = {}): Promise<number> =>
  new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "content-type": "application/json", ...session }
    if (announced) headers["content-length"] = String(total)
    const req = request(new URL(path, server.url), { method: "POST", headers, timeout: 30_000 }, (res) => {
      res.resume()
      stop = true
      resolve(res.statusCode ?? 0)
      req.destroy()
    })
    let stop = false
    let sent = 0
    const chunk = Buffer.alloc(64 * 1024, 0x61)
    const more = () => {
      while (!stop && sent < total) {
        sent += chunk.length
        if (!req.write(chunk)) return void req.once("drain", more)
      }
      if (!stop) req.end()
    }
    req.once("error", (e) => (stop ? undefined : reject(e)))
    req.once("timeout", () => reject(new Error("no answer within 30 s")))
    more()
  })

describe("request bodies", () => {
  it("a 100 MB POST and a 512 MB chunked POST are 413; the server stays up", async () => {
    const client = makeClient(server.url)
    await client.open()
    const session = client.sessionHeaders()
    const rename = `/api/devices/${fleet.devices[0]!.mac}/name`
    expect(await bigPost(rename, 100 * 1024 * 1024, true, session)).toBe(413)
    expect(await bigPost(rename, 512 * 1024 * 1024, false, session)).toBe(413)
    expect(await bigPost("/api/stage3", 512 * 1024 * 1024, false, session)).toBe(413)
    expect(await alive()).toBe(200)
  }, 120_000)

  it("an error names a bad value without echoing it whole", async () => {
    const client = makeClient(server.url)
    await client.open()
    const name = "x".repeat(60_000)
    const res = await client.post(`/api/devices/${fleet.devices[0]!.mac}/name`, { name })
    expect(res.status).toBe(400)
    const text = await res.text()
    expect(text.length).toBeLessThan(2_000)
  })
})

describe("downloads", () => {
  it("serves only regular files inside var/reports and var/records (links resolved)", async () => {
    mkdirSync(join(dir, "var/reports"), { recursive: true })
    mkdirSync(join(dir, "var/records"), { recursive: true })
    writeFileSync(join(dir, "var/reports/batch-1.json"), "{}")
    symlinkSync(join(dir, "data/secrets.yaml"), join(dir, "var/reports/leak.json"))
    symlinkSync(join(dir, "data/secrets.yaml"), join(dir, "var/records/leak.csv"))
    mkdirSync(join(dir, "var/reports/dir.json"))
    execFileSync("mkfifo", [join(dir, "var/records/fifo.csv")])
    const client = makeClient(server.url)
    await client.open()
    expect((await client.get("/files/reports/batch-1.json")).status).toBe(200)
    for (const path of ["/files/reports/leak.json", "/files/records/leak.csv", "/files/reports/dir.json", "/files/records/fifo.csv"]) {
      const res = await client.get(path)
      expect(res.status, path).toBe(404)
      expect(await res.text()).not.toContain("top-secret-web")
    }
  })

  it("/qr/constructor and /qr/__proto__ are 404", async () => {
    const client = makeClient(server.url)
    await client.open()
    for (const path of ["/qr/constructor", "/qr/__proto__", "/qr/constructor.png", "/qr/hasOwnProperty"]) {
      expect((await client.get(path)).status, path).toBe(404)
    }
  })
})

describe("sessions and pages", () => {
  it("1,100 cookieless requests do not evict the operator's session", async () => {
    const operator = makeClient(server.url)
    await operator.open()
    // What the inventory page's script does on load: an API call with the cookie.
    expect((await operator.get("/api/lock")).status).toBe(200)
    let next = 0
    const flood = async () => {
      while (next < 1100) {
        next += 1
        const res = await fetch(new URL("/", server.url), { signal: AbortSignal.timeout(10_000) })
        await res.arrayBuffer()
      }
    }
    await Promise.all(Array.from({ length: 8 }, flood))
    const res = await operator.post(`/api/devices/${fleet.devices[1]!.mac}/name`, { name: "Still Mine" })
    expect(res.status).toBe(200)
  }, 120_000)

  it("pages refuse framing and carry a restrictive Content-Security-Policy", async () => {
    for (const path of ["/", "/login", "/factory"]) {
      const res = await fetch(new URL(path, server.url), { redirect: "manual" })
      expect(res.headers.get("x-frame-options"), path).toBe("DENY")
      const csp = res.headers.get("content-security-policy") ?? ""
      expect(csp).toContain("frame-ancestors 'none'")
      expect(csp).toContain("default-src 'none'")
      expect(csp).toContain("script-src 'self'")
    }
  })
})

describe("login throttling", () => {
  it("after 5 wrong passwords a client gets 429 with Retry-After, even for the right one", async () => {
    const authDir = await makeProject(fleet, "web-throttle-")
    writeFileSync(join(authDir, "data/secrets.yaml"), 'web:\n  admin_password: "s3cret-web"\n')
    const guarded = await startServe(authDir, ["--host", "127.13.3.201", "--port", "0", "--auth"])
    try {
      const form = (password: string) =>
        fetch(new URL("/login", guarded.url), {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ password }).toString(),
          redirect: "manual"
        })
      for (let i = 0; i < 5; i++) expect((await form(`wrong-${i}`)).status).toBe(401)
      const blocked = await form("wrong-6")
      expect(blocked.status).toBe(429)
      expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0)
      expect((await form("s3cret-web")).status).toBe(429)
    } finally {
      await stopChild(guarded.child)
      removeProject(authDir)
    }
  }, 60_000)
})

describe("a web-started run over hostile devices", () => {
  it("finishes with a line per device and the summary; the server stays up", async () => {
    const client = makeClient(server.url)
    await client.open()
    const started = await client.post("/api/stage3", { ips: [], dryRun: true })
    expect(started.status).toBe(202)
    const { id } = (await started.json()) as { id: string }
    const events = await readEvents(await client.get(`/api/stage3/${id}/events`))
    const lines = events.filter((e) => e.event === "line").map((e) => e.data)
    expect(lines.find((l) => l.includes("127.13.3.11 "))).toMatch(/ERR=identity: response too large/)
    expect(lines.find((l) => l.includes("127.13.3.12 "))).toMatch(/ERR=identity: invalid response/)
    expect(lines.find((l) => l.includes("127.13.3.13 "))).toMatch(/ERR=identity: bad HTTP from device/)
    expect(lines).toContain("Stage 3 summary: total=5 ok=2 failed=3")
    expect(events.at(-1)).toEqual({ event: "end", data: JSON.stringify({ exitCode: 1 }) })
    expect(await alive()).toBe(200)
  }, 60_000)
})
