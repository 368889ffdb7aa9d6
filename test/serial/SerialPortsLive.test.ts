import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit } from "effect"
import { SerialPorts, SerialPortsLive, classifyOpenError } from "../../src/serial/index.js"
import { ptyPair } from "../support/pty.js"

const bytes = (...values: Array<number>) => Uint8Array.from(values)

describe("SerialPortsLive on a socat pty", () => {
  it.scopedLive("moves bytes both ways, reads with timeouts, discards input", () =>
    Effect.gen(function* () {
      const pair = yield* ptyPair
      const ports = yield* SerialPorts
      const host = yield* ports.open(pair.hostPath, { baudRate: 115200 })
      const device = yield* ports.open(pair.devicePath, { baudRate: 115200 })

      yield* host.write(bytes(1, 2, 3, 0xc0, 0xdb))
      expect([...(yield* device.readExactly(5, "2 seconds"))]).toEqual([1, 2, 3, 0xc0, 0xdb])

      // Nothing buffered: read returns empty after maxWait instead of hanging.
      expect((yield* device.read("30 millis")).length).toBe(0)

      // readExactly splits a larger arrival and leaves the rest buffered.
      yield* device.write(bytes(9, 8, 7, 6))
      expect([...(yield* host.readExactly(3, "2 seconds"))]).toEqual([9, 8, 7])
      expect([...(yield* host.readExactly(1, "2 seconds"))]).toEqual([6])

      // discardInput drops what arrived before it.
      yield* device.write(bytes(0x55, 0x55))
      yield* host.readExactly(0, "1 second")
      yield* Effect.sleep("100 millis")
      yield* host.discardInput
      yield* device.write(bytes(0x42))
      expect([...(yield* host.readExactly(1, "2 seconds"))]).toEqual([0x42])

      // A timed-out readExactly is a SerialIoError naming the port.
      const short = yield* Effect.either(host.readExactly(4, "50 millis"))
      expect(Either.isLeft(short) && short.left._tag).toBe("SerialIoError")
      expect(Either.isLeft(short) && short.left.message).toContain(pair.hostPath)

      yield* host.setBaudRate(921600)
      yield* device.setBaudRate(921600)
      yield* host.write(new Uint8Array(4096).fill(0xa5))
      yield* host.drain
      const big = yield* device.readExactly(4096, "3 seconds")
      expect(big.every((b) => b === 0xa5)).toBe(true)
    }).pipe(Effect.provide(SerialPortsLive))
  )

  it.scopedLive("setting DTR/RTS on a pty is SignalsUnsupported, not a crash", () =>
    Effect.gen(function* () {
      const pair = yield* ptyPair
      const host = yield* (yield* SerialPorts).open(pair.hostPath, { baudRate: 115200 })
      const result = yield* Effect.either(host.setSignals({ dtr: false, rts: true }))
      expect(Either.isLeft(result) && result.left._tag).toBe("SignalsUnsupported")
      expect(Either.isLeft(result) && result.left.hint).toContain("no_reset")
    }).pipe(Effect.provide(SerialPortsLive))
  )

  it.scopedLive("a missing port is PortUnavailable(not_found) naming the port and the likely cause", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit((yield* SerialPorts).open("/dev/ttyUSB_fp_missing_77", { baudRate: 115200 }))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip((yield* SerialPorts).open("/dev/ttyUSB_fp_missing_77", { baudRate: 115200 }))
      expect(error._tag).toBe("PortUnavailable")
      expect(error.reason).toBe("not_found")
      expect(error.message).toContain("/dev/ttyUSB_fp_missing_77")
      expect(error.hint).toMatch(/plugged|charge-only/)
    }).pipe(Effect.provide(SerialPortsLive))
  )

  it.scopedLive("a port held open elsewhere is PortUnavailable(busy); it opens again once released", () =>
    Effect.gen(function* () {
      const pair = yield* ptyPair
      const ports = yield* SerialPorts
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* ports.open(pair.hostPath, { baudRate: 115200 })
          const error = yield* Effect.flip(ports.open(pair.hostPath, { baudRate: 115200 }))
          expect(error.reason).toBe("busy")
          expect(error.hint).toContain("in use")
        })
      )
      // The scope closed the first handle: the lock is gone.
      yield* ports.open(pair.hostPath, { baudRate: 115200 })
    }).pipe(Effect.provide(SerialPortsLive))
  )

  it.scopedLive("a port that vanishes mid-session fails the next read and write quickly (no hang)", () =>
    Effect.gen(function* () {
      const pair = yield* ptyPair
      const host = yield* (yield* SerialPorts).open(pair.hostPath, { baudRate: 115200 })
      // A read already waiting when the cable is pulled must wake up with an error.
      const pending = yield* Effect.fork(host.read("20 seconds"))
      yield* Effect.sleep("50 millis")
      yield* Effect.promise(() => pair.unplug())
      const readExit = yield* pending.await.pipe(Effect.timeout("5 seconds"))
      expect(Exit.isFailure(readExit)).toBe(true)
      const writeError = yield* Effect.flip(host.write(bytes(1)).pipe(Effect.timeout("5 seconds")))
      expect(writeError._tag).toBe("SerialIoError")
      const readError = yield* Effect.flip(host.readExactly(1, "20 seconds").pipe(Effect.timeout("5 seconds")))
      expect(readError._tag).toBe("SerialIoError")
    }).pipe(Effect.provide(SerialPortsLive))
  )
})

describe("classifyOpenError", () => {
  it("tells missing, permission and busy apart", () => {
    expect(classifyOpenError("Error: No such file or directory, cannot open /dev/ttyUSB0")).toBe("not_found")
    expect(classifyOpenError("Error: Permission denied, cannot open /dev/ttyUSB0")).toBe("permission")
    expect(classifyOpenError("Error Resource temporarily unavailable Cannot lock port")).toBe("busy")
    expect(classifyOpenError("Error: Device or resource busy, cannot open /dev/ttyACM0")).toBe("busy")
    expect(classifyOpenError("Error: Input/output error")).toBe("other")
  })
})
