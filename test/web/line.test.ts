// The live line dashboard against a real PostgreSQL: `provision serve
// --database` (a child process), a station writing through the real store in
// this process, Node's fetch as the browser. Loopback block: 127.46.0.0/16.
import { NodeContext } from "@effect/platform-node"
import { Effect, Exit, Layer, Scope } from "effect"
import type { ChildProcess } from "node:child_process"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"
import { pgLayer } from "../../src/store/connect.js"
import { parseDatabaseUrl } from "../../src/store/databaseUrl.js"
import { makePgRecordStore } from "../../src/store/PgRecordStore.js"
import type { BoardRecordRow, RecordStoreService } from "../../src/store/RecordStore.js"
import { spawn } from "node:child_process"
import { resolve } from "node:path"
import { freshDatabase, usePgCluster } from "../support/pg.js"
import { makeClient, makeProject, removeProject } from "./support.js"

const pg = usePgCluster()

/** `provision serve` from the project's bundle (bin/provision.mjs), once it prints its URL. */
const startServe = (cwd: string, args: ReadonlyArray<string>) =>
  new Promise<{ child: ChildProcess; url: string }>((resolveStart, reject) => {
    const child = spawn("node", [resolve("bin/provision.mjs"), "serve", ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`serve did not start: ${out}`))
    }, 90_000)
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()))
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString()
      const match = /provision web UI: (http:\/\/\S+)/.exec(out)
      if (match) {
        clearTimeout(timer)
        resolveStart({ child, url: match[1]! })
      }
    })
    child.on("exit", (code) => reject(new Error(`serve exited with ${code}: ${out}`)))
  })
const stopChild = (child: ChildProcess) =>
  new Promise<void>((done) => {
    if (child.exitCode !== null) return done()
    child.once("exit", () => done())
    child.kill("SIGTERM")
  })
let fleet: FleetHandle
let dir: string
let server: { child: ChildProcess; url: string }
let store: RecordStoreService
let url: string
const scope = Effect.runSync(Scope.make())

const row = (n: number, status: "pass" | "fail", errorCode?: string): BoardRecordRow => ({
  attemptKey: `b1/s1/p${n}/1-1`,
  batchId: "b1",
  stationId: "s1",
  port: "/dev/ttyUSB0",
  deviceId: `esp32-aabbcc00000${n}`,
  mac: `aa:bb:cc:00:00:0${n}`,
  board: "esp32",
  platform: "esp32",
  firmwareVersion: "1.0.0",
  status,
  errorCode,
  totalSeconds: 2,
  attempts: 1,
  retries: 0,
  day: "20261205",
  startedAt: new Date(Date.now() - 2000).toISOString(),
  finishedAt: new Date().toISOString(),
  csvRow: "…",
  result: { deviceId: `esp32-aabbcc00000${n}`, tests: [{ name: "boot_test", passed: status === "pass" }] }
})

beforeAll(async () => {
  url = freshDatabase(pg.current())
  const target = Effect.runSync(parseDatabaseUrl(url, "--database"))
  // A live station through the real store: registered, heartbeating, one board on its port.
  // Its pool and heartbeat live in `scope` until afterAll.
  const context = await Effect.runPromise(Layer.buildWithScope(Layer.mergeAll(pgLayer(target), NodeContext.layer), scope))
  store = await Effect.runPromise(
    Effect.gen(function* () {
      const s = yield* makePgRecordStore({
        display: target.display,
        spoolFile: join(pg.current().dir, "spool.jsonl"),
        heartbeat: "500 millis"
      })
      yield* s.openStations([{ stationId: "s1", ports: ["/dev/ttyUSB0"] }])
      yield* s.boardFinished(row(1, "pass"))
      yield* s.boardFinished(row(2, "fail", "self_test_failed"))
      s.stepChanged("s1", "/dev/ttyUSB0", "writing firmware")
      return s
    }).pipe(Effect.provide(context), Scope.extend(scope))
  )
  fleet = await startFleet({ devices: 1, baseIp: "127.46.0.1", port: 0, timeScale: 0.01, control: false, seed: 7 })
  dir = await makeProject(fleet, "web-line-")
  server = await startServe(dir, ["--host", "127.46.0.200", "--port", "0", "--database", url])
}, 120_000)

afterAll(async () => {
  if (server) await stopChild(server.child)
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await fleet?.stop()
  removeProject(dir)
})

describe("factory page on the shared database", () => {
  it("shows stations, ports with their current step, pass/fail, throughput, yield and top failure codes; history per batch and day", async () => {
    const client = makeClient(server.url)
    await client.open()
    const html = await (await client.get("/factory")).text()
    expect(html).toContain("<h1>Factory line</h1>")
    expect(html).toMatch(/<tr data-station="s1"><td>s1<\/td><td>[^<]+<\/td><td class="ok">live<\/td>/)
    expect(html).toMatch(/\/dev\/ttyUSB0: <b>(writing firmware|done: fail self_test_failed)<\/b>/)
    expect(html).toMatch(/<td>2<\/td><td>1<\/td><td>1<\/td><td>2<\/td><td>50\.0 %<\/td>/)
    expect(html).toContain("<li>self_test_failed: 1</li>")
    expect(html).toMatch(/<table id="line-batches">.*<td>b1<\/td><td>s1<\/td><td>2<\/td><td>1<\/td>/s)
    expect(html).toMatch(/<table id="line-days">.*<td>20261205<\/td><td>2<\/td>/s)
    expect(html).toContain("postgres://postgres:***@")
    expect(html).not.toContain(pg.current().password)
    // This machine's files stay one click away.
    expect((await client.get("/factory/files")).status).toBe(200)
  })

  it("pushes an update over SSE when a station writes a record (LISTEN/NOTIFY)", async () => {
    const client = makeClient(server.url)
    await client.open()
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), 60_000)
    const res = await fetch(new URL("/api/line/events", server.url), {
      headers: { cookie: (await client.get("/")).headers.get("set-cookie")?.split(";")[0] ?? "" },
      signal: controller.signal
    })
    expect(res.headers.get("content-type")).toContain("text/event-stream")
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let text = ""
    const nextEvent = async (): Promise<{ html: string }> => {
      for (;;) {
        const end = text.indexOf("\n\n")
        if (end >= 0) {
          const block = text.slice(0, end)
          text = text.slice(end + 2)
          const data = block.split("\n").find((l) => l.startsWith("data: "))
          if (block.includes("event: line") && data) return JSON.parse(data.slice(6))
          continue
        }
        const { value, done } = await reader.read()
        if (done) throw new Error("event stream ended")
        text += decoder.decode(value, { stream: true })
      }
    }
    const first = await nextEvent()
    expect(first.html).not.toContain("esp32-aabbcc000003")
    await Effect.runPromise(store.boardFinished(row(3, "pass")))
    let seen = false
    for (let i = 0; i < 10 && !seen; i++) seen = (await nextEvent()).html.includes("esp32-aabbcc000003")
    expect(seen).toBe(true)
    clearTimeout(timer)
    controller.abort()
  })

  it("finds a board's full record by device id or MAC", async () => {
    const client = makeClient(server.url)
    await client.open()
    const byMac = await (await client.get("/factory/board?q=AA%3ABB%3ACC%3A00%3A00%3A02")).text()
    expect(byMac).toContain("esp32-aabbcc000002 · fail")
    expect(byMac).toContain("&quot;error_code&quot;: &quot;self_test_failed&quot;")
    const byId = await (await client.get("/factory/board?q=esp32-aabbcc000001")).text()
    expect(byId).toContain("esp32-aabbcc000001 · pass")
    expect(await (await client.get("/factory/board?q=nothing-here")).text()).toContain('id="board-none"')
  })
})
