import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import fc from "fast-check"
import { ReceiveBuffer } from "../../src/serial/ReceiveBuffer.js"
import { makeRecordingConnection } from "../../src/serial/index.js"

describe("ReceiveBuffer", () => {
  it("takes exactly what was pushed, in order, across any chunking", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 30 }),
        (chunks, takes) => {
          const buffer = new ReceiveBuffer()
          for (const chunk of chunks) buffer.push(chunk)
          const all = chunks.flatMap((c) => [...c])
          const out: Array<number> = []
          for (const n of takes) {
            const before = buffer.length
            const got = buffer.take(n)
            expect(got.length).toBe(Math.min(n, before))
            out.push(...got)
          }
          out.push(...buffer.takeAll())
          expect(out).toEqual(all)
          expect(buffer.length).toBe(0)
        }
      )
    )
  })

  it.effect("a waiter wakes on push and on failure", () =>
    Effect.gen(function* () {
      const buffer = new ReceiveBuffer()
      const waiting = yield* Effect.fork(buffer.changed)
      yield* Effect.yieldNow() // let the fiber register its waiter
      buffer.push(Uint8Array.of(1))
      yield* Fiber.join(waiting)
      const again = yield* Effect.fork(buffer.changed)
      yield* Effect.yieldNow()
      buffer.fail("gone")
      yield* Fiber.join(again)
      expect(buffer.failure).toBe("gone")
    })
  )
})

describe("recording connection", () => {
  it.effect("records both line states with Clock time; unsupported mode fails like a pty", () =>
    Effect.gen(function* () {
      const recording = makeRecordingConnection()
      yield* recording.connection.setSignals({ dtr: false })
      yield* TestClock.adjust("100 millis")
      yield* recording.connection.setSignals({ rts: false })
      expect(recording.events().map(({ atMillis, dtr, rts }) => ({ atMillis, dtr, rts }))).toEqual([
        { atMillis: 0, dtr: false, rts: true },
        { atMillis: 100, dtr: false, rts: false }
      ])
      const pty = makeRecordingConnection({ signalsSupported: false })
      const error = yield* Effect.flip(pty.connection.setSignals({ dtr: true }))
      expect(error._tag).toBe("SignalsUnsupported")
    })
  )
})
