/**
 * Simulator behaviours taken from real firmware (issue 11 §3): the `/rpc`
 * WebSocket with raw frames, Shelly.GetComponents, WiFi.ListAPClients,
 * `Server: ShellyHTTP/1.0.0`, `fw_id` form, and auth before the body is
 * parsed. Addresses: 127.112.1.x.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createHash } from "node:crypto"
import WebSocket from "ws"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"

const ADMIN_PW = "real-pw-112"
let fleet: FleetHandle

beforeAll(async () => {
  fleet = await startFleet({
    devices: 4,
    baseIp: "127.112.1.1",
    port: 0,
    seed: 112,
    timeScale: 0.01,
    adminPassword: ADMIN_PW,
    apIp: "127.112.33.1",
    dhcpPool: { start: "127.112.200.1", end: "127.112.200.254" },
    control: false,
    models: ["S2PMG3", "Plus1PM", "MiniEMG4", "S1PMG4"],
    faults: ["2=protected", "3=protected"]
  })
})

afterAll(async () => {
  await fleet?.stop()
})

const base = (n: number) => `http://${fleet.device(n)!.ip}:${fleet.port}`
const sha = (text: string) => createHash("sha256").update(text).digest("hex")

/** A raw WebSocket client: sends frames, collects every frame received. */
const open = async (n: number) => {
  const socket = new WebSocket(`ws://${fleet.device(n)!.ip}:${fleet.port}/rpc`)
  const frames: Array<Record<string, unknown>> = []
  const waiters: Array<() => void> = []
  socket.on("message", (data) => {
    frames.push(JSON.parse(data.toString()) as Record<string, unknown>)
    for (const wake of waiters.splice(0)) wake()
  })
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve())
    socket.once("error", reject)
  })
  const next = async (match: (f: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + 5000
    for (;;) {
      const found = frames.find(match)
      if (found !== undefined) return found
      if (Date.now() > deadline) throw new Error(`no matching frame; got ${JSON.stringify(frames)}`)
      await new Promise<void>((resolve) => {
        waiters.push(resolve)
        setTimeout(resolve, 100)
      })
    }
  }
  const call = async (id: number, method: string, params?: object, auth?: object) => {
    socket.send(JSON.stringify({ id, src: "raw-test", method, ...(params && { params }), ...(auth && { auth }) }))
    return next((f) => f.id === id)
  }
  return { socket, frames, next, call }
}

const signed = (realm: string, nonce: string | number, nc: number, cnonce: string) => ({
  realm,
  username: "admin",
  nonce,
  cnonce,
  nc,
  algorithm: "SHA-256",
  response: sha(`${sha(`admin:${realm}:${ADMIN_PW}`)}:${nonce}:${nc}:${cnonce}:auth:${sha("dummy_method:dummy_uri")}`)
})

describe("WebSocket /rpc", () => {
  it("answers frames with {id, src, dst, result} and unknown methods with error 404", async () => {
    const ws = await open(1)
    try {
      const reply = await ws.call(7, "Shelly.GetDeviceInfo")
      expect(reply).toMatchObject({ id: 7, src: fleet.device(1)!.id, dst: "raw-test" })
      expect(reply.result).toMatchObject({ app: "S2PMG3", gen: 3, profile: "switch", matter: false, provision: "complete" })
      expect(await ws.call(8, "No.Such")).toMatchObject({ id: 8, error: { code: 404, message: "No handler for No.Such" } })
    } finally {
      ws.socket.close()
    }
  })

  it("notifies every client that sent a src when a SetConfig changes the status (cfg_rev)", async () => {
    const watcher = await open(1)
    const writer = await open(1)
    try {
      await watcher.call(1, "Sys.GetStatus")
      const reply = await writer.call(2, "Sys.SetConfig", { config: { device: { name: "Flur" } } })
      expect(reply.result).toEqual({ restart_required: false })
      const note = await watcher.next((f) => f.method === "NotifyStatus")
      expect(note).toMatchObject({ src: fleet.device(1)!.id, dst: "raw-test", params: { sys: { cfg_rev: expect.any(Number) } } })
      expect(typeof (note.params as { ts: unknown }).ts).toBe("number")
    } finally {
      watcher.socket.close()
      writer.socket.close()
    }
  })

  it("answers an unsigned call to a protected device with error 401 carrying the JSON challenge; a signed one succeeds", async () => {
    const ws = await open(2)
    try {
      const refused = await ws.call(1, "Shelly.GetStatus")
      expect(refused).toMatchObject({ id: 1, error: { code: 401 } })
      const challenge = JSON.parse((refused.error as { message: string }).message) as Record<string, unknown>
      expect(challenge).toMatchObject({ auth_type: "digest", nc: 1, realm: fleet.device(2)!.id, algorithm: "SHA-256" })
      const nonce = challenge.nonce as string | number
      const ok = await ws.call(2, "Shelly.GetStatus", undefined, signed(fleet.device(2)!.id, nonce, 1, "c1"))
      expect(ok.result).toHaveProperty("sys")
      // Firmware 1.x (this Plus 1PM runs 1.4.4): the same auth object again is accepted while the nonce lives.
      const again = await ws.call(3, "Shelly.GetStatus", undefined, signed(fleet.device(2)!.id, nonce, 1, "c1"))
      expect(again.result).toHaveProperty("sys")
      const wrong = await ws.call(4, "Shelly.GetStatus", undefined, { ...signed(fleet.device(2)!.id, nonce, 2, "c2"), response: "00" })
      expect(wrong).toMatchObject({ error: { code: 401 } })
    } finally {
      ws.socket.close()
    }
  })

  it("on firmware 2.x tracks nc per nonce: a repeated nc is refused, the next one accepted", async () => {
    expect(fleet.device(3)!.fw).toBe("2.0.0")
    const ws = await open(3)
    try {
      const refused = await ws.call(1, "Shelly.GetStatus")
      const nonce = (JSON.parse((refused.error as { message: string }).message) as { nonce: string | number }).nonce
      const realm = fleet.device(3)!.id
      expect((await ws.call(2, "Shelly.GetStatus", undefined, signed(realm, nonce, 1, "a"))).result).toBeDefined()
      expect(await ws.call(3, "Shelly.GetStatus", undefined, signed(realm, nonce, 1, "a"))).toMatchObject({ error: { code: 401 } })
      expect((await ws.call(4, "Shelly.GetStatus", undefined, signed(realm, nonce, 2, "b"))).result).toBeDefined()
    } finally {
      ws.socket.close()
    }
  })
})

describe("real-device keys and methods", () => {
  it("sends Server: ShellyHTTP/1.0.0 and a fw_id of the form YYYYMMDD-HHMMSS/<ver>-g<hash>", async () => {
    const reply = await fetch(`${base(3)}/shelly`)
    expect(reply.headers.get("server")).toBe("ShellyHTTP/1.0.0")
    const info = (await reply.json()) as { fw_id: string; ver: string; gen: number; app: string; matter: boolean }
    expect(info).toMatchObject({ gen: 4, app: "MiniEMG4", matter: true, ver: "2.0.0" })
    expect(info.fw_id).toBe("20260710-101108/2.0.0-g87fbfa4")
    const other = (await (await fetch(`${base(4)}/shelly`)).json()) as { fw_id: string; ver: string }
    expect(other.fw_id).toMatch(new RegExp(`^\\d{8}-\\d{6}/${other.ver.replace(/\./g, "\\.")}-g[0-9a-f]{7}$`))
  })

  it("checks auth before it parses a POST /rpc/<Method> body: a bad body on a protected device gets 401", async () => {
    const reply = await fetch(`${base(2)}/rpc/Sys.SetConfig`, { method: "POST", body: "{not json" })
    expect(reply.status).toBe(401)
    expect(reply.headers.get("www-authenticate")).toMatch(/^Digest /)
    // The same body on an open device is a parse error.
    expect((await fetch(`${base(1)}/rpc/Sys.SetConfig`, { method: "POST", body: "{not json" })).status).toBe(500)
  })

  it("lists components with Shelly.GetComponents (keys, include, offset, total, cfg_rev)", async () => {
    const all = (await (await fetch(`${base(1)}/rpc/Shelly.GetComponents`)).json()) as {
      components: Array<{ key: string; status?: unknown; config?: unknown }>
      total: number
      offset: number
      cfg_rev: number
    }
    const keys = all.components.map((c) => c.key)
    expect(keys).toEqual(expect.arrayContaining(["sys", "wifi", "switch:0", "switch:1", "input:0", "input:1", "bthome", "knx"]))
    expect(all.total).toBe(keys.length)
    expect(all.components[0]).not.toHaveProperty("status")
    const some = (await (
      await fetch(`${base(1)}/rpc/Shelly.GetComponents`, {
        method: "POST",
        body: JSON.stringify({ keys: ["switch:1"], include: ["status", "config"] })
      })
    ).json()) as { components: Array<{ key: string; status: { id: number }; config: { id: number } }> }
    expect(some.components).toHaveLength(1)
    expect(some.components[0]).toMatchObject({ key: "switch:1", status: { id: 1, output: false }, config: { id: 1 } })
    const page = (await (await fetch(`${base(1)}/rpc/Shelly.GetComponents?offset=3`)).json()) as {
      offset: number
      components: Array<unknown>
    }
    expect(page.offset).toBe(3)
    expect(page.components).toHaveLength(keys.length - 3)
  })

  it("answers WiFi.ListAPClients without auth: the provisioning host while it talks over the AP, none otherwise", async () => {
    const viaSta = (await (await fetch(`${base(2)}/rpc/WiFi.ListAPClients`)).json()) as { ts: number; ap_clients: Array<unknown> }
    expect(typeof viaSta.ts).toBe("number")
    expect(viaSta.ap_clients).toEqual([])
  })
})
