import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { existsSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { backendSim } from "../../sim/backend/index.js"
import { Backend } from "../../src/factory/Backend.js"
import { BackendLive } from "../../src/factory/BackendLive.js"
import type { Registration } from "../../src/factory/registration.js"
import { registerOrQueue, syncQueue } from "../../src/factory/register.js"
import { RegistrationQueue, RegistrationQueueLive } from "../../src/factory/RegistrationQueue.js"
import { tempDir } from "../factory/support.js"

const TOKEN = "test-token-backend"

const registration = (n: number, batch = "batch-1"): Registration => ({
  device_id: `esp32-240ac40000${String(n).padStart(2, "0")}`,
  identity: { kind: "mac", value: `240AC40000${String(n).padStart(2, "0")}` },
  platform: "esp32",
  board: "esp32",
  board_model: "ESP32-WROOM-32",
  firmware_version: "1.0.0",
  station_id: "station_1",
  batch_id: batch,
  device_secret: Redacted.make(`secret-${n}-${"s".repeat(20)}`),
  provisioning_token: Redacted.make(`token-${n}-${"t".repeat(12)}`)
})

const client = (url: string, token = TOKEN) =>
  BackendLive({ url, token: Redacted.make(token), retries: 3, retryBase: "10 millis", timeout: "500 millis" }).pipe(
    Layer.provide(NodeHttpClient.layer)
  )

describe("provisioning backend: real HTTP client against sim/backend on 127.0.0.1", () => {
  it.scopedLive("registration is idempotent per device id: a repeat returns the existing registration", () =>
    Effect.gen(function* () {
      const sim = yield* backendSim({ token: TOKEN })
      const [first, again] = yield* Effect.gen(function* () {
        const backend = yield* Backend
        return [yield* backend.register(registration(1)), yield* backend.register(registration(1))] as const
      }).pipe(Effect.provide(client(sim.url)))
      expect(first).toEqual({ device_id: "esp32-240ac4000001", created: true })
      expect(again).toEqual({ device_id: "esp32-240ac4000001", created: false })
      expect(sim.registrations()).toHaveLength(1)
      expect(sim.attempts().get("esp32-240ac4000001")).toBe(2)
      // The secret and token reached the backend in clear (they must), and only there.
      expect(sim.registrations()[0]).toMatchObject({
        device_secret: Redacted.value(registration(1).device_secret),
        provisioning_token: Redacted.value(registration(1).provisioning_token)
      })
    })
  )

  it.scopedLive("a wrong token is a 401 → BackendRejected with a hint about backend.token, never echoing the token", () =>
    Effect.gen(function* () {
      const sim = yield* backendSim({ token: TOKEN })
      const error = yield* Effect.flip(
        Effect.flatMap(Backend, (b) => b.register(registration(2))).pipe(Effect.provide(client(sim.url, "wrong-token-value")))
      )
      expect(error._tag).toBe("BackendRejected")
      expect(error).toMatchObject({ status: 401 })
      expect(error.hint).toContain("backend.token")
      expect(`${error.message} ${error.hint}`).not.toContain("wrong-token-value")
      expect(sim.registrations()).toHaveLength(0)
    })
  )

  it.scopedLive("HTTP 500 twice is retried and then succeeds; 500 beyond the retries is BackendUnavailable", () =>
    Effect.gen(function* () {
      const sim = yield* backendSim({ token: TOKEN })
      sim.failNext(2)
      const ok = yield* Effect.flatMap(Backend, (b) => b.register(registration(3))).pipe(Effect.provide(client(sim.url)))
      expect(ok.created).toBe(true)
      expect(sim.requestCount()).toBe(3)
      sim.failNext(10)
      const error = yield* Effect.flip(Effect.flatMap(Backend, (b) => b.register(registration(4))).pipe(Effect.provide(client(sim.url))))
      expect(error._tag).toBe("BackendUnavailable")
      // First try + 3 retries.
      expect(sim.requestCount()).toBe(3 + 4)
    })
  )

  it.scopedLive("a slow backend times out per attempt → BackendUnavailable; a down one is refused → BackendUnavailable", () =>
    Effect.gen(function* () {
      const sim = yield* backendSim({ token: TOKEN })
      sim.setDelay(2000)
      const slow = yield* Effect.flip(
        Effect.flatMap(Backend, (b) => b.register(registration(5))).pipe(
          Effect.provide(
            BackendLive({ url: sim.url, token: Redacted.make(TOKEN), retries: 0, timeout: "150 millis" }).pipe(
              Layer.provide(NodeHttpClient.layer)
            )
          )
        )
      )
      expect(slow._tag).toBe("BackendUnavailable")
      expect(slow.message).toContain("no answer in time")
      sim.setDelay(0)
      yield* Effect.promise(() => sim.down())
      const down = yield* Effect.flip(Effect.flatMap(Backend, (b) => b.listBatches).pipe(Effect.provide(client(sim.url))))
      expect(down._tag).toBe("BackendUnavailable")
    })
  )

  it.scopedLive(
    "backend down → registrations wait in the queue file (0600); backend up → sync delivers each exactly once, queue empty",
    () =>
      Effect.gen(function* () {
        const sim = yield* backendSim({ token: TOKEN })
        const dir = tempDir("fp-queue-")
        const queueFile = join(dir, "var/records/registration-queue.jsonl")
        const layer = Layer.mergeAll(client(sim.url), RegistrationQueueLive(queueFile)).pipe(Layer.provideMerge(NodeContext.layer))
        yield* Effect.promise(() => sim.down())
        const outcomes = yield* Effect.forEach(
          [1, 2, 3, 4, 5].map((n) => registration(n, n < 4 ? "batch-a" : "batch-b")),
          registerOrQueue,
          { concurrency: 5 }
        ).pipe(Effect.provide(layer))
        expect(outcomes.map((o) => o.status)).toEqual(["queued", "queued", "queued", "queued", "queued"])
        expect(outcomes[0]!.problem?.code).toBe("backend_unavailable")
        expect(readFileSync(queueFile, "utf8").trim().split("\n")).toHaveLength(5)
        expect(statSync(queueFile).mode & 0o777).toBe(0o600)

        // Still down: sync delivers nothing and loses nothing.
        const failed = yield* syncQueue().pipe(Effect.provide(layer))
        expect(failed).toMatchObject({ pending: 5, delivered: 0, remaining: 5 })
        expect(failed.failures.map((f) => f.error.code)).toEqual(["backend_unavailable", "backend_unavailable"])

        yield* Effect.promise(() => sim.up())
        // One device is already there (registered by another route): sync must not duplicate it.
        yield* Effect.flatMap(Backend, (b) => b.register(registration(2, "batch-a"))).pipe(Effect.provide(layer))
        const summary = yield* syncQueue({ chunkSize: 2 }).pipe(Effect.provide(layer))
        expect(summary).toMatchObject({ pending: 5, delivered: 5, created: 4, existing: 1, remaining: 0, failures: [] })
        expect(
          sim
            .registrations()
            .map((r) => r.device_id)
            .sort()
        ).toEqual([1, 2, 3, 4, 5].map((n) => registration(n).device_id))
        expect(readFileSync(queueFile, "utf8")).toBe("")
        const batches = yield* Effect.flatMap(Backend, (b) => b.listBatches).pipe(Effect.provide(layer))
        expect(batches.map((b) => [b.batch_id, b.device_count]).sort()).toEqual([
          ["batch-a", 3],
          ["batch-b", 2]
        ])
        // A second sync has nothing to do.
        const again = yield* syncQueue().pipe(Effect.provide(layer))
        expect(again).toMatchObject({ pending: 0, delivered: 0, remaining: 0 })
        expect(sim.registrations()).toHaveLength(5)
        expect(existsSync(`${queueFile}.tmp`)).toBe(false)
      })
  )

  it.scopedLive("a queue line that does not parse is kept byte for byte, counted, and never sent", () =>
    Effect.gen(function* () {
      const sim = yield* backendSim({ token: TOKEN })
      const dir = tempDir("fp-queue-")
      const queueFile = join(dir, "q.jsonl")
      const layer = Layer.mergeAll(client(sim.url), RegistrationQueueLive(queueFile)).pipe(Layer.provideMerge(NodeContext.layer))
      yield* Effect.flatMap(RegistrationQueue, (q) => q.enqueue(registration(7))).pipe(Effect.provide(layer))
      const fs = yield* Effect.promise(() => import("node:fs"))
      fs.appendFileSync(queueFile, "{not json\n")
      const summary = yield* syncQueue().pipe(Effect.provide(layer))
      expect(summary).toMatchObject({ delivered: 1, unreadable: 1, remaining: 0 })
      expect(readFileSync(queueFile, "utf8")).toBe("{not json\n")
    })
  )
})
