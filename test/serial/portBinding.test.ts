import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { SerialPorts, SerialPortsLive } from "../../src/serial/index.js"
import { serialPortStream } from "../../src/serial/portBinding.js"
import { ptyPair } from "../support/pty.js"

/**
 * The pattern that hung flashes under load (src/serial/portBinding.ts):
 * the host writes large commands back to back, the device answers each one
 * as soon as it is complete, so answers arrive while the next command is
 * still filling the port's output queue. With the stock binding, a read that
 * re-arms the poller then drops the waiting write's wake-up and the write
 * hangs until the port's write timeout (on this machine it hit within a few
 * hundred frames; with the stock binding this test failed 3 runs of 3).
 * Every frame must go through.
 */
const FRAME = 16 * 1024
const FRAMES = 1500

describe("serial writes while the device answers (repaired binding)", () => {
  it.scopedLive(`${FRAMES} pipelined ${FRAME}-byte frames, each answered on arrival: no write stalls, every byte arrives`, () =>
    Effect.gen(function* () {
      const pair = yield* ptyPair
      const ports = yield* SerialPorts
      const host = yield* ports.open(pair.hostPath, { baudRate: 921600 })
      // The device answers from the port's own data events (as an emulator does), each answer queued behind the chunk.
      const device = serialPortStream({ path: pair.devicePath, baudRate: 921600 })
      yield* Effect.acquireRelease(
        Effect.async<void, Error>((resume) => device.open((error) => resume(error ? Effect.fail(error) : Effect.void))),
        () => Effect.async<void>((resume) => device.close(() => resume(Effect.void)))
      )
      let received = 0
      device.on("data", (chunk: Buffer) => {
        const before = Math.floor(received / FRAME)
        received += chunk.length
        const complete = Math.floor(received / FRAME) - before
        if (complete > 0) setTimeout(() => device.write(Buffer.alloc(complete, 0xc0)), 0)
      })

      // The host: frame i goes out while the answer to frame i-1 is on its way (two in flight).
      const frame = new Uint8Array(FRAME).fill(0x55)
      for (let i = 0; i < FRAMES; i++) {
        if (i >= 2) yield* host.readExactly(1, "10 seconds")
        yield* host.write(frame)
      }
      yield* host.readExactly(2, "10 seconds")
      expect(received).toBe(FRAME * FRAMES)
    }).pipe(Effect.provide(SerialPortsLive))
  )

  it.scopedLive("a write into a full queue ends when the port is closed, and the port opens again", () =>
    Effect.gen(function* () {
      const pair = yield* ptyPair
      const ports = yield* SerialPorts
      // Nobody reads the device end: the queue fills and the write keeps waiting.
      const stuck = yield* Effect.scoped(
        Effect.gen(function* () {
          const host = yield* ports.open(pair.hostPath, { baudRate: 115200 })
          const writing = yield* Effect.fork(host.write(new Uint8Array(1024 * 1024)))
          yield* Effect.sleep("200 millis")
          return yield* Fiber.interrupt(writing)
        })
      )
      expect(stuck._tag).toBe("Failure")
      // The closed port let go of the pty: it opens and carries bytes again.
      const host = yield* ports.open(pair.hostPath, { baudRate: 115200 })
      const device = yield* ports.open(pair.devicePath, { baudRate: 115200 })
      yield* device.discardInput
      yield* Effect.sleep("100 millis")
      yield* device.discardInput
      yield* host.write(Uint8Array.from([1, 2, 3]))
      const got = yield* device.readExactly(3, "5 seconds")
      expect(got[got.length - 1]).toBe(3)
    }).pipe(Effect.provide(SerialPortsLive))
  )
})
