// Shelly.Update {url} on the simulator: the device really downloads the
// package over loopback HTTP, checks it, reboots into the version it names;
// the OTA faults; the beta channel. Addresses 127.16.x.x; time scale 0.01.
import { createServer, type Server } from "node:http"
import { afterEach, describe, expect, it, vi } from "vitest"
import type { FleetHandle, FleetOptions } from "../../sim/shelly/index.js"
import { makeFirmwareImage, startFleet } from "../../sim/shelly/index.js"
import { request } from "./shelly-support.js"

let fleet: FleetHandle | undefined
let files: Server | undefined
afterEach(async () => {
  await fleet?.stop()
  fleet = undefined
  await new Promise<void>((r) => (files ? files.close(() => r()) : r()))
  files = undefined
})

const start = async (options: FleetOptions): Promise<FleetHandle> => {
  fleet = await startFleet({ port: 18710, timeScale: 0.01, models: ["S2PMG3"], control: false, ...options })
  return fleet
}

/** A loopback file server; counts downloads per path. */
const serveFiles = async (content: Record<string, Uint8Array>) => {
  const hits: Record<string, number> = {}
  files = createServer((req, res) => {
    const body = content[req.url ?? ""]
    hits[req.url ?? ""] = (hits[req.url ?? ""] ?? 0) + 1
    if (body === undefined) return void res.writeHead(404).end()
    res.writeHead(200, { "content-type": "application/zip", "content-length": body.length }).end(body)
  })
  await new Promise<void>((r) => files!.listen(18711, "127.16.99.1", r))
  return { base: "http://127.16.99.1:18711", hits }
}

const update = (ip: string, port: number, params: unknown) =>
  request(`http://${ip}:${port}/rpc`, { method: "POST", body: JSON.stringify({ id: 1, src: "t", method: "Shelly.Update", params }) })

const versionOf = async (ip: string, port: number) => {
  const reply = await request(`http://${ip}:${port}/shelly`, { timeoutMs: 300 })
  return (reply.json as { ver: string }).ver
}
const waitFor = <A>(check: () => Promise<A> | A) => vi.waitFor(check, { timeout: 5000, interval: 20 })

const image = makeFirmwareImage({ app: "S2PMG3", model: "S3SW-002P16EU", version: "1.7.5" })
const otherModel = makeFirmwareImage({ app: "Plus1PM", model: "SNSW-001P16EU", version: "1.7.5" })

describe("Shelly.Update {url}", () => {
  it("downloads the package, reboots and runs the version its manifest names", async () => {
    const f = await start({ devices: 1, baseIp: "127.16.1.1" })
    const { base, hits } = await serveFiles({ "/firmware/a.zip": image })
    const reply = await update("127.16.1.1", f.port, { url: `${base}/firmware/a.zip` })
    expect(reply.json).toMatchObject({ result: null })
    await waitFor(async () => expect(await versionOf("127.16.1.1", f.port)).toBe("1.7.5"))
    expect(hits["/firmware/a.zip"]).toBe(1)
    expect(f.state(1)!.reboots).toBe(1)
  })

  it("refuses a package for another model or a damaged one and stays on its version", async () => {
    const f = await start({ devices: 2, baseIp: "127.16.2.1" })
    const damaged = Buffer.from(image)
    damaged[damaged.length - 1] ^= 0xff
    const { base, hits } = await serveFiles({ "/other.zip": otherModel, "/bad.zip": damaged })
    await update("127.16.2.1", f.port, { url: `${base}/other.zip` })
    await update("127.16.2.2", f.port, { url: `${base}/bad.zip` })
    await waitFor(() => expect(f.state(1)!.lastError).toContain("package is for SNSW-001P16EU"))
    await waitFor(() => expect(f.state(2)!.lastError).toContain("sha256 mismatch"))
    expect(hits["/other.zip"]).toBe(1)
    await new Promise((r) => setTimeout(r, 250))
    expect(f.state(1)!.reboots).toBe(0)
    expect(await versionOf("127.16.2.1", f.port)).toBe("1.6.2")
    expect(await versionOf("127.16.2.2", f.port)).toBe("1.6.2")
  })

  it("answers -103 for a url off loopback or together with stage, without downloading", async () => {
    const f = await start({ devices: 1, baseIp: "127.16.3.1" })
    expect((await update("127.16.3.1", f.port, { url: "http://192.0.2.1/fw.zip" })).json).toMatchObject({ error: { code: -103 } })
    expect((await update("127.16.3.1", f.port, { url: "ftp://127.0.0.1/fw.zip" })).json).toMatchObject({ error: { code: -103 } })
    expect((await update("127.16.3.1", f.port, { url: "http://127.0.0.1/x", stage: "stable" })).json).toMatchObject({
      error: { code: -103 }
    })
    expect(f.state(1)!.reboots).toBe(0)
  })

  it("ota_old_version: reboots but comes back on the old version; ota_no_return: never comes back", async () => {
    const f = await start({ devices: 2, baseIp: "127.16.4.1", faults: ["1=ota_old_version", "2=ota_no_return"] })
    const { base } = await serveFiles({ "/a.zip": image })
    await update("127.16.4.1", f.port, { url: `${base}/a.zip` })
    await update("127.16.4.2", f.port, { url: `${base}/a.zip` })
    await waitFor(() => expect(f.state(1)!.reboots).toBe(1))
    await waitFor(async () => expect(await versionOf("127.16.4.1", f.port)).toBe("1.6.2"))
    await waitFor(() => expect(f.device(2)!.mode).toBe("offline"))
    // Boot takes 50 ms at this scale: well past it, still gone.
    await new Promise((r) => setTimeout(r, 400))
    expect(f.device(2)!.mode).toBe("offline")
    expect(f.state(2)!.lastError).toContain("did not come back")
  })
})

describe("beta channel", () => {
  it("CheckForUpdate offers stable and beta; stage=beta installs the beta build", async () => {
    const f = await start({ devices: 1, baseIp: "127.16.5.1", faults: ["1=update:1.7.5,beta:1.8.0-beta1"] })
    const check = await request(`http://127.16.5.1:${f.port}/rpc/Shelly.CheckForUpdate`)
    expect(check.json).toMatchObject({ stable: { version: "1.7.5" }, beta: { version: "1.8.0-beta1" } })
    await update("127.16.5.1", f.port, { stage: "beta" })
    await waitFor(async () => expect(await versionOf("127.16.5.1", f.port)).toBe("1.8.0-beta1"))
  })
})
