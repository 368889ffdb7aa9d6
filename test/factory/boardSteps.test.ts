// The flash step of the factory pipeline on its own, against the ESP ROM
// emulator over a real pty and the live flasher: what it counts (attempts,
// retries of the pipeline and of the flasher, wire bytes) and what it hands
// on when the link gives up.
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { makeEsp32FlashSet } from "../../sim/esp/index.js"
import { connectAndFlash, type FlashJob } from "../../src/factory/boardSteps.js"
import { factoryLogLayer } from "../../src/factory/log.js"
import * as RunOutput from "../../src/runtime/RunOutput.js"
import { defaultTimeouts } from "../../src/flash/esp/index.js"
import { espBoard, flasherLayer, ptyOptions } from "../flash/esp/support.js"
import { tempDir } from "./support.js"

/** Short timeouts so a lost reply or a silent board costs well under a second per try. */
const layer = Layer.mergeAll(
  flasherLayer({ timeouts: { ...defaultTimeouts, default: Duration.millis(400), erasePerMb: Duration.seconds(1) } }),
  NodeContext.layer
)

const regions = makeEsp32FlashSet({ version: "1.0.0", appSize: 64 * 1024 })
const jobFor = (port: string, maxAttempts: number): FlashJob => ({
  stationId: "s1",
  port,
  board: { platform: "esp32" },
  regions,
  maxFlashSeconds: 60,
  maxAttempts,
  session: ptyOptions,
  retryBase: Duration.millis(10)
})
const noSay = () => Effect.void

const logIn = (root: string) =>
  factoryLogLayer({ file: join(root, "factory.log"), level: "DEBUG", maxFileSize: 1 << 20, backupCount: 1 }).pipe(
    Layer.provide(RunOutput.capture(() => {}))
  )

describe("factory flash step (connectAndFlash) against the ESP emulator", () => {
  it.scopedLive("an MD5 mismatch costs one more whole attempt: attempts 2, retries 1, the log names the failed attempt", () =>
    Effect.gen(function* () {
      const root = tempDir("fp-step-")
      const board = yield* espBoard({ chip: "esp32", mac: "24:0a:c4:40:00:01", pace: false, faults: ["corrupt_block:1"] })
      const outcome = yield* connectAndFlash(jobFor(board.hostPath, 3), noSay).pipe(Effect.provide(logIn(root)))
      expect(board.emulator.stats.corruptedBlocks).toBe(1)
      expect(outcome.failure).toBeUndefined()
      expect(outcome).toMatchObject({ attempts: 2, retries: 1, detected: { platform: "esp32", identity: { value: "240AC4400001" } } })
      expect(outcome.flashSeconds).toBeGreaterThan(0)
      expect(outcome.wireBytes).toBeGreaterThan(0)
      expect(readFileSync(join(root, "factory.log"), "utf8")).toMatch(/s1 \S+: attempt 1 failed \(\w+\): .*; retrying/)
      // The second attempt wrote the image whole.
      const app = regions[2]!
      expect(Buffer.from(board.emulator.readFlash(app.offset, app.data.length)).equals(Buffer.from(app.data))).toBe(true)
    }).pipe(Effect.provide(layer))
  )

  it.scopedLive("a lost data-block reply is retried inside the flasher: one attempt, and its retry still counts", () =>
    Effect.gen(function* () {
      const root = tempDir("fp-step-")
      const board = yield* espBoard({ chip: "esp32", mac: "24:0a:c4:40:00:02", pace: false, faults: ["drop_frame:1"] })
      const outcome = yield* connectAndFlash(jobFor(board.hostPath, 3), noSay).pipe(Effect.provide(logIn(root)))
      expect(board.emulator.stats.droppedResponses).toBe(1)
      expect(outcome.failure).toBeUndefined()
      expect(outcome).toMatchObject({ attempts: 1, retries: 1 })
      // Nothing for the pipeline to retry, so nothing logged.
      expect(existsSync(join(root, "factory.log"))).toBe(false)
    }).pipe(Effect.provide(layer))
  )

  it.scopedLive("a board that never syncs: every attempt made and counted, no board, a flash-step failure, no flash time", () =>
    Effect.gen(function* () {
      const root = tempDir("fp-step-")
      const board = yield* espBoard({ chip: "esp32", mac: "24:0a:c4:40:00:03", pace: false, faults: ["no_sync"] })
      const outcome = yield* connectAndFlash(jobFor(board.hostPath, 2), noSay).pipe(Effect.provide(logIn(root)))
      expect(outcome).toMatchObject({ attempts: 2, retries: 1, wireBytes: 0, detected: undefined, flashSeconds: undefined })
      expect(outcome.failure).toMatchObject({ _tag: "StepFailed", step: "flash", code: "sync_failed" })
      expect(outcome.failure?.hint).not.toBe("")
      // Only the attempt that was followed by another says "retrying".
      expect(readFileSync(join(root, "factory.log"), "utf8").match(/retrying/g)).toHaveLength(1)
    }).pipe(Effect.provide(layer))
  )
})
