/**
 * One hostile device per case, against the real client (issue 13): each
 * failure is a typed error for that call, memory and stack stay bounded.
 * Raw TCP servers on this file's loopback block, 127.13.1.x.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import * as Methods from "../../src/shelly/methods.js"
import { layer as shellyRpcLayer, ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import { type HostileBehaviour, startHostileDevice } from "../support/hostileDevice.js"

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value)}`)
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (failure === undefined) throw new Error(`expected a typed failure, got ${exit.cause._tag}`)
  return failure
}

const device = (host: string, behaviour: HostileBehaviour) =>
  Effect.acquireRelease(
    Effect.promise(() => startHostileDevice(host, 0, behaviour)),
    (d) => Effect.promise(() => d.close())
  )

const callAgainst = (host: string, behaviour: HostileBehaviour, transport: "get" | "post" = "get") =>
  Effect.gen(function* () {
    const d = yield* device(host, behaviour)
    return failureOf(yield* Effect.exit(Methods.checkForUpdate({ host: d.host, port: d.port }, { timeout: "10 seconds", transport })))
  }).pipe(Effect.scoped)

describe("ShellyRpcLive against hostile devices", () => {
  it.live("an endless chunked body → ResponseTooLarge (body) at the 1 MiB default", () =>
    Effect.gen(function* () {
      const error = yield* callAgainst("127.13.1.1", "endless_chunked")
      expect(error._tag).toBe("ResponseTooLarge")
      if (error._tag === "ResponseTooLarge") {
        expect(error.part).toBe("body")
        expect(error.limitBytes).toBe(1024 * 1024)
        expect(error.code).toBe("response_too_large")
        expect(error.hint).toMatch(/few KB/)
        expect(error.message).toContain("Shelly.CheckForUpdate on 127.13.1.1:")
      }
    }).pipe(Effect.provide(ShellyRpcLive))
  )

  it.live("a 1 GB Content-Length → ResponseTooLarge at once, over POST too", () =>
    Effect.gen(function* () {
      expect((yield* callAgainst("127.13.1.2", "huge_body"))._tag).toBe("ResponseTooLarge")
      expect((yield* callAgainst("127.13.1.2", "huge_body", "post"))._tag).toBe("ResponseTooLarge")
    }).pipe(Effect.provide(ShellyRpcLive))
  )

  it.live("the cap follows the configured limit", () =>
    Effect.gen(function* () {
      const error = yield* callAgainst("127.13.1.3", { json: { can_update: false, pad: "x".repeat(5000) } })
      expect(error._tag).toBe("ResponseTooLarge")
      if (error._tag === "ResponseTooLarge") expect(error.limitBytes).toBe(4096)
    }).pipe(Effect.provide(shellyRpcLayer({ limits: { maxBodyBytes: 4096, maxHeaderBytes: 16 * 1024, maxJsonDepth: 64 } })))
  )

  it.live("a 64 KB header and a header flood → ResponseTooLarge (headers), not 'unreachable'", () =>
    Effect.gen(function* () {
      for (const [host, behaviour] of [
        ["127.13.1.4", "big_header"],
        ["127.13.1.5", "header_flood"]
      ] as const) {
        const error = yield* callAgainst(host, behaviour)
        expect(error._tag).toBe("ResponseTooLarge")
        if (error._tag === "ResponseTooLarge") expect(error.part).toBe("headers")
      }
    }).pipe(Effect.provide(ShellyRpcLive))
  )

  it.live("garbage instead of HTTP → BadHttpResponse ('bad HTTP from device')", () =>
    Effect.gen(function* () {
      const error = yield* callAgainst("127.13.1.6", "garbage")
      expect(error._tag).toBe("BadHttpResponse")
      expect(error.message).toContain("bad HTTP from device")
    }).pipe(Effect.provide(ShellyRpcLive))
  )

  it.live("JSON nested 10⁵ levels → ResponseInvalid naming the depth limit (no stack overflow)", () =>
    Effect.gen(function* () {
      for (const transport of ["get", "post"] as const) {
        const error = yield* callAgainst("127.13.1.7", "deep_json", transport)
        expect(error._tag).toBe("ResponseInvalid")
        if (error._tag === "ResponseInvalid") expect(error.reason).toMatch(/nested deeper than 64 levels/)
      }
    }).pipe(Effect.provide(ShellyRpcLive))
  )

  it.live("a well-behaved answer still decodes", () =>
    Effect.gen(function* () {
      const d = yield* device("127.13.1.8", { json: { can_update: false } })
      const result = yield* Methods.checkForUpdate({ host: d.host, port: d.port })
      expect(result).toBeDefined()
    }).pipe(Effect.scoped, Effect.provide(Layer.fresh(ShellyRpcLive)))
  )
})
