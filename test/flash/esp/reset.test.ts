import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, TestClock } from "effect"
import { makeRecordingConnection } from "../../../src/serial/index.js"
import {
  EspConnection,
  classicReset,
  connectRom,
  defaultTimeouts,
  hardReset,
  resetForAttempt,
  runReset,
  unixTightReset,
  usbJtagSerialReset
} from "../../../src/flash/esp/index.js"

/** Runs a sequence against a recording port under TestClock; returns [ms, dtr, rts] per line change. */
const record = (steps: Parameters<typeof runReset>[1]) =>
  Effect.gen(function* () {
    const recording = makeRecordingConnection()
    const start = yield* Clock.currentTimeMillis
    const fiber = yield* Effect.fork(runReset(recording.connection, steps))
    yield* TestClock.adjust("2 seconds")
    yield* Fiber.join(fiber)
    return recording.events().map((e) => [e.atMillis - start, Number(e.dtr), Number(e.rts)])
  })

describe("reset sequences (recorded DTR/RTS, TestClock time)", () => {
  it.effect("classic: EN low 100 ms, then IO0 low while EN is released, IO0 released after the delay", () =>
    Effect.gen(function* () {
      expect(yield* record(classicReset(50))).toEqual([
        [0, 0, 1], // DTR=0 (RTS still 1 from open)
        [0, 0, 1], // RTS=1: EN low
        [100, 1, 1], // DTR=1
        [100, 1, 0], // RTS=0: EN released with IO0 low → download mode
        [150, 0, 0] // DTR=0 after the 50 ms delay
      ])
      const slow = yield* record(classicReset(550))
      expect(slow.at(-1)).toEqual([650, 0, 0])
    })
  )

  it.effect("UnixTight sets both lines per step", () =>
    Effect.gen(function* () {
      expect(yield* record(unixTightReset(50))).toEqual([
        [0, 0, 0],
        [0, 1, 1],
        [0, 0, 1],
        [100, 1, 0],
        [150, 0, 0],
        [150, 0, 0]
      ])
    })
  )

  it.effect("USB-JTAG-serial sequence and the hard reset after flashing", () =>
    Effect.gen(function* () {
      expect(yield* record(usbJtagSerialReset())).toEqual([
        [0, 1, 0],
        [0, 0, 0],
        [100, 1, 0],
        [100, 1, 0],
        [200, 1, 1],
        [200, 0, 1],
        [200, 0, 1],
        [300, 0, 1],
        [300, 0, 0]
      ])
      expect(yield* record(hardReset())).toEqual([
        [0, 1, 1],
        [100, 1, 0]
      ])
      expect(yield* record(hardReset(true))).toEqual([
        [0, 1, 1],
        [200, 1, 0]
      ])
    })
  )

  it("connect attempts cycle tight/short, tight/long, classic/short, classic/long; usb and no_reset modes", () => {
    const last = (attempt: number) => resetForAttempt("default_reset", attempt, false)
    expect(last(0)).toEqual(unixTightReset(50))
    expect(last(1)).toEqual(unixTightReset(550))
    expect(last(2)).toEqual(classicReset(50))
    expect(last(3)).toEqual(classicReset(550))
    expect(last(4)).toEqual(unixTightReset(50))
    expect(resetForAttempt("default_reset", 0, true)).toEqual(usbJtagSerialReset())
    expect(resetForAttempt("usb_reset", 2, false)).toEqual(usbJtagSerialReset())
    expect(resetForAttempt("no_reset", 0, false)).toBeUndefined()
  })
})

describe("connect on ports without modem lines", () => {
  const silentPort = (signalsSupported: boolean) =>
    makeRecordingConnection({
      signalsSupported,
      base: { write: () => Effect.void, read: (wait) => Effect.as(Effect.sleep(wait), new Uint8Array(0)) }
    })

  it.effect("default_reset on a pty fails at once with SignalsUnsupported pointing at --before no_reset", () =>
    Effect.gen(function* () {
      const port = silentPort(false)
      const error = yield* Effect.flip(
        connectRom(new EspConnection(port.connection), {
          before: "default_reset",
          connectAttempts: 7,
          usbJtagSerial: false,
          timeouts: defaultTimeouts
        })
      )
      expect(error._tag).toBe("SignalsUnsupported")
      expect(error.hint).toContain("no_reset")
    })
  )

  it.effect("no_reset never touches the lines; silence becomes SyncFailed after the configured attempts", () =>
    Effect.gen(function* () {
      const port = silentPort(false)
      const fiber = yield* Effect.fork(
        Effect.flip(
          connectRom(new EspConnection(port.connection), {
            before: "no_reset",
            connectAttempts: 3,
            usbJtagSerial: false,
            timeouts: defaultTimeouts
          })
        )
      )
      yield* TestClock.adjust("10 seconds")
      const error = yield* Fiber.join(fiber)
      expect(error._tag).toBe("SyncFailed")
      expect(error._tag === "SyncFailed" && error.attempts).toBe(3)
      expect(port.events()).toEqual([])
    })
  )

  it.effect("default_reset with lines: each attempt runs its reset sequence before syncing", () =>
    Effect.gen(function* () {
      const port = silentPort(true)
      const fiber = yield* Effect.fork(
        Effect.flip(
          connectRom(new EspConnection(port.connection), {
            before: "default_reset",
            connectAttempts: 2,
            usbJtagSerial: false,
            timeouts: defaultTimeouts
          })
        )
      )
      yield* TestClock.adjust("10 seconds")
      expect((yield* Fiber.join(fiber))._tag).toBe("SyncFailed")
      // Two attempts: tight (short delay) then tight (long delay), 6 line changes each.
      const events = port.events()
      expect(events.length).toBe(12)
      expect(events[10]!.atMillis - events[9]!.atMillis).toBe(550)
      expect(events[4]!.atMillis - events[3]!.atMillis).toBe(50)
    })
  )
})
