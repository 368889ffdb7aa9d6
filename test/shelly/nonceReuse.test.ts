/**
 * Digest nonce reuse: the Live client against the simulated fleet (real HTTP
 * over loopback, range 127.66.x.x for this file). Costs are counted at the
 * simulator: 401 challenges it sent and signed requests it accepted.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Redacted, Schedule } from "effect"
import { vi } from "vitest"
import * as Methods from "../../src/shelly/methods.js"
import { ShellyRpc, type DeviceTarget } from "../../src/shelly/ShellyRpc.js"
import { layer as shellyRpcLayer, ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"
import { digestHeader, parseChallenge, request } from "../sim/shelly-support.js"

const ADMIN_PW = "nonce-pw-66"
/** Nominal 1 h × timeScale 0.01: a nonce lives 36 s of (simulator) Date time. */
const TIME_SCALE = 0.01
const LIFETIME_MS = 60 * 60 * 1000 * TIME_SCALE

let fleet: FleetHandle

beforeAll(async () => {
  fleet = await startFleet({
    devices: 9,
    baseIp: "127.66.1.1",
    port: 0,
    seed: 66,
    timeScale: TIME_SCALE,
    delays: { bootMs: 200 },
    adminPassword: ADMIN_PW,
    apIp: "127.66.33.1",
    dhcpPool: { start: "127.66.200.1", end: "127.66.200.254" },
    control: false,
    faults: ["all=protected"]
  })
})

afterAll(async () => {
  await fleet?.stop()
})

const device = (n: number) => fleet.device(n)!
const target = (n: number, password = ADMIN_PW): DeviceTarget => ({
  host: device(n).ip!,
  port: fleet.port,
  password: Redacted.make(password)
})

/** What auth has cost device n so far: 401s sent, signed requests accepted, refused nc values. */
const costs = (n: number) => {
  const auth = fleet.state(n)!.auth
  return {
    challenges: auth.challenges,
    accepted: auth.nonces.reduce((sum, nonce) => sum + nonce.uses, 0),
    ncRefused: auth.ncRefused,
    nonces: auth.nonces
  }
}

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value)}`)
  if (exit.cause._tag !== "Fail") throw new Error(`expected a typed failure, got cause ${exit.cause._tag}`)
  return exit.cause.error
}

/** One client instance (one nonce cache) for the whole effect. */
const live = <A, E>(effect: Effect.Effect<A, E, ShellyRpc>, client: Layer.Layer<ShellyRpc> = ShellyRpcLive) =>
  Effect.provide(effect, client)

describe("digest nonce reuse (client ↔ simulator)", () => {
  it.live("N calls to a protected device cost N + 1 exchanges, nc counting up on one nonce", () =>
    live(
      Effect.gen(function* () {
        const n = 10
        const servedBefore = fleet.state(1)!.rpcLog.length
        for (let i = 0; i < n; i++) {
          const status = yield* Methods.sysGetStatus(target(1), { transport: i % 3 === 2 ? "post" : "get" })
          expect(status.mac).toBe(device(1).mac)
        }
        const after = costs(1)
        expect(after.challenges).toBe(1)
        expect(after.accepted).toBe(n)
        expect(fleet.state(1)!.rpcLog.length - servedBefore).toBe(n)
        // The one nonce took nc 1..n (the simulator refuses a reused nc).
        expect(after.nonces).toEqual([{ highestNc: n, uses: n }])
        expect(after.ncRefused).toBe(0)
      })
    )
  )

  it.live("a new client instance starts without cached nonces (the cache is per layer, not global)", () =>
    Effect.gen(function* () {
      const before = costs(1).challenges
      yield* live(Methods.sysGetConfig(target(1)))
      yield* live(Methods.sysGetConfig(target(1)))
      // Each `live` builds its own client: each pays one 401.
      expect(costs(1).challenges - before).toBe(2)
    })
  )

  it.live("maxUses 1 turns reuse off: every call costs a 401 again", () =>
    live(
      Effect.gen(function* () {
        const before = costs(8)
        for (let i = 0; i < 4; i++) yield* Methods.sysGetStatus(target(8))
        expect(costs(8).challenges - before.challenges).toBe(4)
        expect(costs(8).accepted - before.accepted).toBe(4)
      }),
      shellyRpcLayer({ nonceCache: { maxUses: 1 } })
    )
  )

  it.live("an expired nonce costs exactly one extra 401, then the call succeeds", () =>
    Effect.acquireUseRelease(
      // Only Date is faked: the simulator dates its nonces with it, while the
      // client and its sockets keep real timers and a monotonic clock.
      Effect.sync(() => vi.useFakeTimers({ toFake: ["Date"] })),
      () =>
        live(
          Effect.gen(function* () {
            yield* Methods.sysGetStatus(target(2))
            expect(costs(2).challenges).toBe(1)
            // Still within the scaled lifetime: reused, no 401.
            vi.setSystemTime(Date.now() + LIFETIME_MS - 1000)
            yield* Methods.sysGetStatus(target(2))
            expect(costs(2)).toMatchObject({ challenges: 1, accepted: 2 })
            // Past it: the device refuses the old nonce once and hands out a new one.
            vi.setSystemTime(Date.now() + 2000)
            const status = yield* Methods.sysGetStatus(target(2))
            expect(status.mac).toBe(device(2).mac)
            // The expired nonce is gone; the new one took nc 1.
            expect(costs(2)).toMatchObject({ challenges: 2, ncRefused: 0, nonces: [{ highestNc: 1, uses: 1 }] })
            // The new nonce is reused from here on.
            yield* Methods.sysGetStatus(target(2))
            expect(costs(2).challenges).toBe(2)
            expect(costs(2).nonces).toEqual([{ highestNc: 2, uses: 2 }])
          })
        ),
      () => Effect.sync(() => vi.useRealTimers())
    )
  )

  it.live("after a reboot the device has forgotten the nonce: one extra 401, then success", () =>
    live(
      Effect.gen(function* () {
        yield* Methods.sysGetStatus(target(3))
        yield* Methods.sysGetStatus(target(3))
        expect(costs(3).challenges).toBe(1)
        yield* Effect.promise(() => fleet.powerCycle(3))
        yield* Effect.sync(() => fleet.device(3)!.online).pipe(
          Effect.repeat({ until: (online) => online, schedule: Schedule.spaced("20 millis").pipe(Schedule.upTo("5 seconds")) })
        )
        expect(device(3).online).toBe(true)
        yield* Methods.sysGetStatus(target(3))
        expect(costs(3).challenges).toBe(2)
        yield* Methods.sysGetStatus(target(3))
        expect(costs(3)).toMatchObject({ challenges: 2, nonces: [{ highestNc: 2, uses: 2 }] })
      })
    )
  )

  it.live("password changed on the device → AuthRequired with passwordSent after one retry; nothing secret in the error", () =>
    live(
      Effect.gen(function* () {
        yield* Methods.sysGetStatus(target(4))
        const newPassword = "changed-pw-4"
        yield* Effect.promise(() => fleet.setPassword(4, newPassword))
        const before = costs(4)
        const served = fleet.state(4)!.rpcLog.length
        const error = failureOf(yield* Effect.exit(Methods.sysGetStatus(target(4))))
        expect(error._tag).toBe("AuthRequired")
        if (error._tag === "AuthRequired") {
          expect(error.passwordSent).toBe(true)
          expect(error.realm).toBe(device(4).id)
        }
        // The cached nonce was refused, then the retry with the fresh one: two 401s, no third try.
        expect(costs(4).challenges - before.challenges).toBe(2)
        expect(fleet.state(4)!.rpcLog.length).toBe(served)
        const text = `${error.message} ${JSON.stringify(error)}`
        expect(text).not.toContain(ADMIN_PW)
        expect(text).not.toContain(newPassword)
        // With the new password the nonce of that retry is still good: no 401 at all.
        yield* Methods.sysGetStatus(target(4, newPassword))
        expect(costs(4).challenges - before.challenges).toBe(2)
      })
    )
  )

  it.live("20 calls side by side (at the device's 6-channel limit) all succeed; nc values never overtake each other", () =>
    live(
      Effect.gen(function* () {
        // More than 6 at once would be refused with 429 by the device itself.
        const round = () =>
          Effect.forEach(
            Array.from({ length: 20 }, (_, i) => i),
            (i) => Methods.sysGetStatus(target(5), { transport: i % 2 === 0 ? "get" : "post" }),
            { concurrency: 6 }
          )
        const cold = yield* round()
        expect(cold.every((s) => s.mac === device(5).mac)).toBe(true)
        const warm = yield* round()
        expect(warm.every((s) => s.mac === device(5).mac)).toBe(true)
        const after = costs(5)
        // Only a call with no other authenticated call to the device under way
        // signs up front (some firmware wants a nonce's nc values in order);
        // the overlapping ones pay a 401 each, so no nc is ever refused.
        expect(after.challenges).toBeGreaterThanOrEqual(1)
        expect(after.challenges).toBeLessThanOrEqual(40)
        expect(after.ncRefused).toBe(0)
        // Every nc handed out for a nonce was accepted exactly once: none skipped, none repeated.
        for (const nonce of after.nonces) if (nonce.uses > 0) expect(nonce.highestNc).toBe(nonce.uses)
        // Back to one call at a time: no 401 at all.
        const before = costs(5).challenges
        for (let i = 0; i < 5; i++) yield* Methods.sysGetStatus(target(5))
        expect(costs(5).challenges).toBe(before)
      })
    )
  )
})

describe("simulator nc rules", () => {
  const url = (n: number, path: string) => `http://${device(n).ip}:${fleet.port}${path}`
  const uri = "/rpc/Sys.GetStatus"
  const signed = async (nonce: Record<string, string>, nc: number, cnonce = `c${nc}`) =>
    (
      await request(url(6, uri), {
        headers: {
          Authorization: digestHeader({ realm: nonce.realm!, nonce: nonce.nonce!, password: ADMIN_PW, method: "GET", uri, nc, cnonce })
        }
      })
    ).status

  it("refuses a replayed nc, accepts a late one inside the window, refuses one below it", async () => {
    const challenge = parseChallenge((await request(url(6, uri))).headers.get("www-authenticate"))
    const before = costs(6).ncRefused
    expect(await signed(challenge, 1)).toBe(200)
    // Same nonce, same nc (even with another cnonce): a replay.
    expect(await signed(challenge, 1, "other")).toBe(401)
    expect(await signed(challenge, 5)).toBe(200)
    // 3 was never used and arrives late (requests run side by side): accepted once.
    expect(await signed(challenge, 3)).toBe(200)
    expect(await signed(challenge, 3)).toBe(401)
    expect(await signed(challenge, 5)).toBe(401)
    expect(await signed(challenge, 40)).toBe(200)
    // 4 is unused but now more than 32 below the highest nc.
    expect(await signed(challenge, 4)).toBe(401)
    expect(await signed(challenge, 41)).toBe(200)
    expect(costs(6).ncRefused - before).toBe(4)
  })

  it("does not take nc 0 or a nonce it never issued", async () => {
    const challenge = parseChallenge((await request(url(7, uri))).headers.get("www-authenticate"))
    const zero = digestHeader({ realm: challenge.realm!, nonce: challenge.nonce!, password: ADMIN_PW, method: "GET", uri, nc: 0 })
    expect((await request(url(7, uri), { headers: { Authorization: zero } })).status).toBe(401)
    const forged = digestHeader({ realm: challenge.realm!, nonce: "123456", password: ADMIN_PW, method: "GET", uri })
    expect((await request(url(7, uri), { headers: { Authorization: forged } })).status).toBe(401)
    const good = digestHeader({ realm: challenge.realm!, nonce: challenge.nonce!, password: ADMIN_PW, method: "GET", uri })
    expect((await request(url(7, uri), { headers: { Authorization: good } })).status).toBe(200)
  })
})
