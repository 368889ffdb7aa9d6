import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, TestClock } from "effect"
import { makeAvrFlasher, avrResetSequence } from "../../../src/flash/avr/AvrFlasher.js"
import type { FlashProgress, SessionOptions } from "../../../src/flash/Flasher.js"
import { md5Hex } from "../../../src/flash/formats/md5.js"
import { makeRecordingConnection, recordingSerialPortsLayer } from "../../../src/serial/recording.js"
import { SerialPorts, SerialPortsLive } from "../../../src/serial/index.js"
import { type AvrBoard, startAvrBoard } from "../../../sim/avr/emulator.js"

const board = (options: Parameters<typeof startAvrBoard>[0]) =>
  Effect.acquireRelease(
    Effect.promise(() => startAvrBoard({ pace: false, ...options })),
    (b: AvrBoard) => Effect.promise(() => b.stop())
  )

const session: SessionOptions = { baudRate: 115200, before: "no_reset", connectAttempts: 1, mcu: { expectedChip: "atmega328p" } }
const image = (n: number, seed = 3) => Uint8Array.from({ length: n }, (_, i) => (i * seed + (i >> 8)) & 0xff)

/** Each test runs against the real serialport layer. */
const live = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, SerialPortsLive)

const failureOf = <A, E>(exit: Exit.Exit<A, E>) => (Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined)

describe(
  "AVR flasher (optiboot STK500v1) through serialport on a pty",
  () => {
    it.scopedLive("syncs, reads the signature, writes pages, verifies, leaves into the app", () =>
      live(
        Effect.gen(function* () {
          const avr = yield* board({})
          const flasher = yield* makeAvrFlasher()
          const s = yield* flasher.connect(avr.hostPath, "avr", session)
          expect(s.board.chip).toBe("ATmega328P")
          expect(s.board.details["signature"]).toBe("1e950f")
          expect(s.board.details["bootloader"]).toBe("optiboot 4.4")
          expect(s.board.identity.kind).toBe("serial")
          expect(s.board.identity.value).toMatch(/^[0-9a-f]{12}$/)

          // 1000 bytes at 0 (partial last page) and 100 bytes at 0x1040 (partial first page): padded with 0xFF.
          const data = image(1000)
          data.set(Buffer.from("FWVER=1.2.3;"), 500)
          const extra = image(100, 7)
          const progress: Array<FlashProgress> = []
          const report = yield* s.write(
            [
              { name: "firmware", offset: 0, data },
              { name: "table", offset: 0x1040, data: extra }
            ],
            (p) => Effect.sync(() => void progress.push(p))
          )
          expect(report.regions).toEqual([
            { name: "firmware", offset: 0, size: 1000, digest: md5Hex(data), verifiedBy: "readback" },
            { name: "table", offset: 0x1040, size: 100, digest: md5Hex(extra), verifiedBy: "readback" }
          ])
          expect(Buffer.from(avr.emulator.flash.subarray(0, 1000)).equals(Buffer.from(data))).toBe(true)
          expect(Buffer.from(avr.emulator.flash.subarray(0x1040, 0x1040 + 100)).equals(Buffer.from(extra))).toBe(true)
          expect(avr.emulator.flash.subarray(1000, 1024).every((b) => b === 0xff)).toBe(true)
          expect(avr.emulator.flash.subarray(0x1000, 0x1040).every((b) => b === 0xff)).toBe(true)
          expect(progress.filter((p) => p.region === "firmware").at(-1)).toMatchObject({ written: 1000, total: 1000 })
          expect(progress.length).toBe(10) // 8 pages + 2 (0x1040..0x10a4 straddles 0x1080)
          // per page: LOAD_ADDRESS 4+2, PROG_PAGE 133+2; read back in 256-byte READ_PAGEs (pages 0–7: 4, 0x1000–0x10ff: 1),
          // each LOAD_ADDRESS 4+2, READ_PAGE 5+258
          expect(report.wireBytes).toBe(10 * 141 + 5 * 269)
          expect(avr.emulator.stats.commands["PROG_PAGE"]).toBe(10)
          expect(avr.emulator.stats.commands["READ_PAGE"]).toBe(5)

          yield* s.resetToApp
          yield* Effect.promise(() => avr.emulator.waitFor("factory-test ready", 3000))
          expect(avr.emulator.console()).toContain("version 1.2.3")
        })
      )
    )

    it.scopedLive("the app answers the factory self-test commands after LEAVE_PROGMODE", () =>
      live(
        Effect.gen(function* () {
          const avr = yield* board({ faults: ["selftest_fail:sensor"] })
          const flasher = yield* makeAvrFlasher()
          yield* Effect.scoped(
            Effect.gen(function* () {
              const s = yield* flasher.connect(avr.hostPath, "avr", session)
              yield* s.write([{ name: "firmware", offset: 0, data: image(300) }], () => Effect.void)
              yield* s.resetToApp
            })
          )
          yield* Effect.promise(() => avr.emulator.waitFor("factory-test ready"))
          const ports = yield* SerialPorts
          const app = yield* ports.open(avr.hostPath, { baudRate: 115200 })
          yield* app.write(Buffer.from("info\nsensor\n"))
          let text = ""
          for (let i = 0; i < 20 && !text.includes("FAIL"); i++) text += Buffer.from(yield* app.read("250 millis")).toString()
          expect(text).toContain("OK chip=ATmega328P")
          expect(text).toContain("FAIL sensor")
        })
      )
    )

    it.scopedLive("a board that never syncs is SyncFailed after every try", () =>
      live(
        Effect.gen(function* () {
          const avr = yield* board({ faults: ["no_sync"] })
          const flasher = yield* makeAvrFlasher({ syncTries: 3, syncTimeout: "50 millis" })
          const error = failureOf(yield* Effect.exit(flasher.connect(avr.hostPath, "avr", { ...session, connectAttempts: 2 })))
          expect(error?._tag).toBe("SyncFailed")
          expect(error && "attempts" in error ? error.attempts : 0).toBe(2)
          // 3 GET_SYNC frames of 2 bytes per reset: the second reset's reached the board too, and no
          // more than 2 × 3 went out. (Not an exact count: the last frame may still be in the pty when we look.)
          expect(avr.emulator.stats.bytesIn).toBeGreaterThan(3 * 2)
          expect(avr.emulator.stats.bytesIn).toBeLessThanOrEqual(2 * 3 * 2)
        })
      )
    )

    it.scopedLive("another part on the port is ChipMismatch naming both signatures; nothing is written", () =>
      live(
        Effect.gen(function* () {
          const avr = yield* board({ faults: ["signature:1e9406"] })
          const flasher = yield* makeAvrFlasher()
          const error = failureOf(yield* Effect.exit(flasher.connect(avr.hostPath, "avr", session)))
          expect(error?._tag).toBe("ChipMismatch")
          expect(error?.message).toContain("ATmega168 (signature 1e9406)")
          expect(error?.message).toContain("ATmega328P (signature 1e950f)")
          expect(avr.emulator.stats.pagesWritten).toBe(0)
        })
      )
    )

    it.scopedLive("a page the chip did not program, or programmed wrong, is VerifyFailed with page and address", () =>
      live(
        Effect.gen(function* () {
          for (const fault of ["write_error:3", "verify_error:2"]) {
            const avr = yield* board({ faults: [fault] })
            const flasher = yield* makeAvrFlasher()
            const s = yield* flasher.connect(avr.hostPath, "avr", session)
            const error = failureOf(yield* Effect.exit(s.write([{ name: "firmware", offset: 0, data: image(1024) }], () => Effect.void)))
            expect(error?._tag).toBe("VerifyFailed")
            const page = Number(fault.split(":")[1])
            expect(error && "offset" in error ? error.offset : -1).toBe(page * 128)
            expect(error?.message).toContain(`firmware page ${page}`)
            // One-shot fault: a second write of the same session succeeds.
            const report = yield* s.write([{ name: "firmware", offset: 0, data: image(1024) }], () => Effect.void)
            expect(report.regions[0]!.verifiedBy).toBe("readback")
          }
        })
      )
    )

    it.scopedLive("0xFF pages are not written on an erased chip; over old content they are erased by a write", () =>
      live(
        Effect.gen(function* () {
          const data = image(1024)
          data.fill(0xff, 128, 384) // pages 1 and 2 blank
          const avr = yield* board({})
          avr.emulator.flash.fill(0x5a, 256, 384) // page 2 holds an old program
          const flasher = yield* makeAvrFlasher()
          const s = yield* flasher.connect(avr.hostPath, "avr", session)
          const progress: Array<FlashProgress> = []
          const report = yield* s.write([{ name: "firmware", offset: 0, data }], (p) => Effect.sync(() => void progress.push(p)))
          expect(report.regions[0]!.verifiedBy).toBe("readback")
          expect(Buffer.from(avr.emulator.flash.subarray(0, 1024)).equals(Buffer.from(data))).toBe(true)
          // 6 pages written, then the read-back finds page 2 not erased: written with 0xFF and read again
          expect(avr.emulator.stats.commands["PROG_PAGE"]).toBe(7)
          expect(avr.emulator.stats.commands["READ_PAGE"]).toBe(4 + 1)
          expect(progress.length).toBe(8)
        })
      )
    )

    it.scopedLive("paced with datasheet timing: OK comes 4.5 ms after each page, 9 ms in the NRWW section (erase not overlapped)", () =>
      live(
        Effect.gen(function* () {
          const avr = yield* board({ pace: true })
          const flasher = yield* makeAvrFlasher()
          const s = yield* flasher.connect(avr.hostPath, "avr", session)
          yield* s.write(
            [
              { name: "firmware", offset: 0, data: image(256) },
              { name: "top", offset: 0x7000, data: image(128, 9) }
            ],
            () => Effect.void
          )
          expect(avr.emulator.stats.busyMs).toBeCloseTo(2 * 4.5 + 9, 6)
          expect(Buffer.from(avr.emulator.flash.subarray(0x7000, 0x7080)).equals(Buffer.from(image(128, 9)))).toBe(true)
          // one round trip per PROG_PAGE and per READ_PAGE, after connect's 4 (the first GET_SYNC follows no answer)
          expect(avr.emulator.line.turnarounds).toBe(4 + 3 + 2)
        })
      )
    )

    it.scopedLive("an image that reaches into the optiboot section is ImageInvalid before any page is written", () =>
      live(
        Effect.gen(function* () {
          const avr = yield* board({})
          const flasher = yield* makeAvrFlasher()
          const s = yield* flasher.connect(avr.hostPath, "avr", session)
          const error = failureOf(
            yield* Effect.exit(s.write([{ name: "firmware", offset: 0, data: image(32768 - 256) }], () => Effect.void))
          )
          expect(error?._tag).toBe("ImageInvalid")
          expect(error?.message).toContain("32256 bytes")
          expect(avr.emulator.stats.pagesWritten).toBe(0)
        })
      )
    )
  },
  { timeout: 20_000 }
)

describe("AVR reset", () => {
  // TestClock time (the recording takes its times from Clock): exact durations, whatever the machine's load.
  it.scoped("default_reset pulses DTR and RTS low for 250 ms, then waits 50 ms before GET_SYNC", () =>
    Effect.gen(function* () {
      expect(avrResetSequence).toEqual([
        { _tag: "Lines", dtr: false, rts: false },
        { _tag: "Sleep", duration: Duration.millis(250) },
        { _tag: "Lines", dtr: true, rts: true },
        { _tag: "Sleep", duration: Duration.millis(50) }
      ])
      const writes: Array<number> = []
      const recording = makeRecordingConnection({
        base: {
          write: () => Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.sync(() => void writes.push(at))),
          readExactly: () => Effect.never
        }
      })
      const flasher = yield* makeAvrFlasher({ syncTries: 1, syncTimeout: "10 millis" }).pipe(
        Effect.provide(recordingSerialPortsLayer(recording))
      )
      const start = yield* Clock.currentTimeMillis
      const fiber = yield* Effect.fork(
        Effect.exit(Effect.scoped(flasher.connect("/dev/ttyACM0", "avr", { ...session, before: "default_reset" })))
      )
      yield* TestClock.adjust("2 seconds")
      const exit = yield* Fiber.join(fiber)
      expect(failureOf(exit)?._tag).toBe("SyncFailed")
      const events = recording.events()
      // [time, dtr, rts] per change: both lines dropped at once, raised together 250 ms later.
      expect(events.map((e) => [e.atMillis - start, e.dtr, e.rts])).toEqual([
        [0, false, false],
        [250, true, true]
      ])
      // The one GET_SYNC goes out only after optiboot's 50 ms start-up.
      expect(writes.map((at) => at - start)).toEqual([300])
    })
  )
})
