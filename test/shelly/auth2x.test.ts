// Firmware 2.x digest auth against the simulator (`fw2` trait): opaque base64
// nonces, stale=true, a small nonce table, 429 throttling — and the client
// (ShellyRpcLive) coping with each. Addresses 127.21.x.x, ports 18190+.
import { Effect, Exit, Redacted, Schedule } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import type { FleetHandle, FleetOptions } from "../../sim/shelly/index.js"
import { startFleet } from "../../sim/shelly/index.js"
import { authorizationHeader, freshCnonce, parseDigestChallenge } from "../../src/shelly/digest.js"
import * as Methods from "../../src/shelly/methods.js"
import { layer as rpcLayer } from "../../src/shelly/ShellyRpcLive.js"

let fleet: FleetHandle | undefined
afterEach(async () => {
  await fleet?.stop()
  fleet = undefined
})

const start = async (options: FleetOptions): Promise<FleetHandle> => {
  fleet = await startFleet({ port: 18190, control: false, adminPassword: "admin-pw", ...options })
  return fleet
}

const password = Redacted.make("admin-pw")
const unsigned = (url: string) => fetch(url)

describe("firmware 2.x auth in the simulator", () => {
  it("1.x style: a decimal nonce and no stale flag; 2.x style (fw2): a base64 nonce with padding, stale=true for a correctly signed request with a dropped nonce", async () => {
    const f = await start({ devices: 2, baseIp: "127.21.1.1", faults: ["1=protected", "2=protected,fw2"] })
    const old = await unsigned(`http://127.21.1.1:${f.port}/rpc/Sys.GetStatus`)
    expect(old.status).toBe(401)
    expect(parseDigestChallenge(old.headers.get("www-authenticate") ?? undefined)).toMatchObject({
      nonce: expect.stringMatching(/^\d+$/),
      stale: false
    })

    const url = `http://127.21.1.2:${f.port}/rpc/Sys.GetStatus`
    const first = parseDigestChallenge((await unsigned(url)).headers.get("www-authenticate") ?? undefined)!
    expect(first.nonce).toMatch(/^[A-Za-z0-9+/]{22}==$/)
    // Push the nonce out of the 2.x table (4 slots) with more challenges.
    for (let i = 0; i < 4; i++) expect((await unsigned(url)).status).toBe(401)
    const signed = authorizationHeader({
      challenge: first,
      password: "admin-pw",
      httpMethod: "GET",
      uri: "/rpc/Sys.GetStatus",
      cnonce: freshCnonce(),
      nc: 1
    })
    const staleAnswer = await fetch(url, { headers: { Authorization: signed } })
    expect(staleAnswer.status).toBe(401)
    expect(parseDigestChallenge(staleAnswer.headers.get("www-authenticate") ?? undefined)?.stale).toBe(true)
    // A wrong password with a live nonce: a plain 401, no stale flag.
    const live = parseDigestChallenge(staleAnswer.headers.get("www-authenticate") ?? undefined)!
    const wrong = authorizationHeader({
      challenge: live,
      password: "nope",
      httpMethod: "GET",
      uri: "/rpc/Sys.GetStatus",
      cnonce: freshCnonce(),
      nc: 1
    })
    const refused = await fetch(url, { headers: { Authorization: wrong } })
    expect(parseDigestChallenge(refused.headers.get("www-authenticate") ?? undefined)?.stale).toBe(false)
  })

  it("throttles a burst of challenges with 429, then answers again", async () => {
    // time scale 0.2: 20 challenges within 2 s start 1 s of 429.
    const f = await start({ devices: 1, baseIp: "127.21.2.1", faults: ["1=protected,fw2"], timeScale: 0.2 })
    const url = `http://127.21.2.1:${f.port}/rpc/Sys.GetStatus`
    const statuses: Array<number> = []
    for (let i = 0; i < 22; i++) statuses.push((await unsigned(url)).status)
    expect(statuses.slice(0, 21).every((s) => s === 401)).toBe(true)
    expect(statuses.at(-1)).toBe(429)
    // GET /shelly stays open.
    expect((await unsigned(`http://127.21.2.1:${f.port}/shelly`)).status).toBe(200)
  })
})

describe("ShellyRpcLive against firmware 2.x auth", () => {
  it("overlapping calls to one protected device are serialised: one challenge for all, no nc refused", async () => {
    const f = await start({ devices: 1, baseIp: "127.21.3.1", faults: ["1=protected,fw2"] })
    const target = { host: "127.21.3.1", port: f.port, password }
    const exit = await Effect.runPromiseExit(
      Effect.all(
        Array.from({ length: 12 }, () => Methods.sysGetStatus(target)),
        { concurrency: "unbounded" }
      ).pipe(Effect.provide(rpcLayer()))
    )
    expect(Exit.isSuccess(exit)).toBe(true)
    const auth = f.state(1)!.auth
    expect(auth.challenges).toBe(1)
    expect(auth.ncRefused).toBe(0)
    expect(auth.nonces).toEqual([{ highestNc: 12, uses: 12 }])
  })

  it("stale=true after its nonce was dropped: the client signs again with the new nonce — no password error", async () => {
    const f = await start({ devices: 1, baseIp: "127.21.4.1", faults: ["1=protected,fw2"] })
    const target = { host: "127.21.4.1", port: f.port, password }
    const url = `http://127.21.4.1:${f.port}/rpc/Sys.GetStatus`
    const program = Effect.gen(function* () {
      yield* Methods.sysGetStatus(target)
      // Someone else churns the 4-slot nonce table: the client's cached nonce is gone.
      yield* Effect.promise(async () => {
        for (let i = 0; i < 4; i++) await unsigned(url)
      })
      return yield* Methods.sysGetStatus(target)
    }).pipe(Effect.provide(rpcLayer()))
    const exit = await Effect.runPromiseExit(program)
    expect(Exit.isSuccess(exit)).toBe(true)
  })

  it("429 while throttled: retried with backoff until the device answers; an exhausted retry is RpcError 429 with the hint", async () => {
    const f = await start({ devices: 1, baseIp: "127.21.5.1", faults: ["1=protected,fw2"], timeScale: 0.2 })
    const target = { host: "127.21.5.1", port: f.port, password }
    const url = `http://127.21.5.1:${f.port}/rpc/Sys.GetStatus`
    const throttle = async () => {
      for (let i = 0; i < 22; i++) await unsigned(url)
    }
    await throttle()
    // A retry budget too short for the 1 s throttle: the 429 stands, as a typed error with the fix.
    const short = await Effect.runPromiseExit(
      Methods.sysGetStatus(target).pipe(
        Effect.provide(rpcLayer({ throttleRetry: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(2))) }))
      )
    )
    expect(Exit.isFailure(short)).toBe(true)
    const error = Exit.isFailure(short) ? JSON.stringify(short.cause) : ""
    expect(error).toContain("RpcError")
    expect(error).toContain("429")
    // The default schedule (100 ms doubling, 4 retries ≈ 1.5 s) outlasts the throttle.
    await throttle()
    const ok = await Effect.runPromiseExit(Methods.sysGetStatus(target, { timeout: "5 seconds" }).pipe(Effect.provide(rpcLayer())))
    expect(Exit.isSuccess(ok)).toBe(true)
  })
})
