import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, TestClock } from "effect"
import type { FlashProgress, SessionOptions } from "../../../src/flash/Flasher.js"
import { address, CMD, command, concatBytes, pipelineSafe } from "../../../src/flash/stm32/an3155.js"
import { md5Hex } from "../../../src/flash/formats/md5.js"
import { makeStm32Flasher, stm32BootloaderEntry } from "../../../src/flash/stm32/Stm32Flasher.js"
import { makeRecordingConnection, recordingSerialPortsLayer } from "../../../src/serial/recording.js"
import { SerialPorts, SerialPortsLive } from "../../../src/serial/index.js"
import { type Stm32Board, startStm32Board } from "../../../sim/stm32/emulator.js"

const board = (options: Parameters<typeof startStm32Board>[0]) =>
  Effect.acquireRelease(
    Effect.promise(() => startStm32Board({ pace: false, ...options })),
    (b: Stm32Board) => Effect.promise(() => b.stop())
  )
const live = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, SerialPortsLive)
const session: SessionOptions = { baudRate: 115200, before: "no_reset", connectAttempts: 1, mcu: { expectedChip: "0x410" } }
const image = (n: number, seed = 5) => Uint8Array.from({ length: n }, (_, i) => (i * seed + (i >> 8)) & 0xff)
const failureOf = <A, E>(exit: Exit.Exit<A, E>) => (Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined)
const UID = "0123456789abcdef01234567"

describe(
  "STM32 flasher (AN3155) through serialport on a pty",
  () => {
    for (const erase of ["standard", "extended"] as const) {
      it.scopedLive(`syncs, identifies, ${erase}-erases, writes, verifies, GOes into the app`, () =>
        live(
          Effect.gen(function* () {
            const stm = yield* board({ uid: UID, flashKiB: 64, erase })
            stm.emulator.flash.fill(0x00, 0x8000, 0x8100) // stale content: must be erased before the write
            const flasher = yield* makeStm32Flasher()
            const s = yield* flasher.connect(stm.hostPath, "stm32", session)
            expect(s.board.chip).toBe("STM32F10x medium-density")
            expect(s.board.identity).toEqual({ kind: "uid", value: UID })
            expect(s.board.flashSizeBytes).toBe(64 * 1024)
            expect(s.board.details["erase"]).toBe(erase === "extended" ? "extended (0x44)" : "standard (0x43)")

            const data = image(0x8000 + 1001) // 132 blocks, the last (233 bytes) padded to 236
            data.set(Buffer.from("FWVER=2.0.1;"), 64)
            const progress: Array<FlashProgress> = []
            const report = yield* s.write([{ name: "firmware", offset: 0, data }], (p) => Effect.sync(() => void progress.push(p)))
            expect(report.regions).toEqual([
              { name: "firmware", offset: 0, size: data.length, digest: md5Hex(data), verifiedBy: "readback" }
            ])
            expect(Buffer.from(stm.emulator.flash.subarray(0, data.length)).equals(Buffer.from(data))).toBe(true)
            expect(stm.emulator.stats.erases).toBe(1)
            expect(stm.emulator.stats.blocksWritten).toBe(132)
            expect(progress.length).toBe(132)
            expect(progress.at(-1)).toMatchObject({ written: data.length, total: data.length })
            yield* s.resetToApp
            yield* Effect.promise(() => stm.emulator.waitFor("factory-test ready", 3000))
            expect(stm.emulator.console()).toContain("version 2.0.1")
          })
        )
      )
    }

    it.scopedLive("the app answers `id` with the UID the flasher read (the device identity)", () =>
      live(
        Effect.gen(function* () {
          const stm = yield* board({ uid: UID })
          const flasher = yield* makeStm32Flasher()
          const identity = yield* Effect.scoped(
            Effect.gen(function* () {
              const s = yield* flasher.connect(stm.hostPath, "stm32", session)
              yield* s.write([{ name: "firmware", offset: 0, data: image(512) }], () => Effect.void)
              yield* s.resetToApp
              return s.board.identity.value
            })
          )
          yield* Effect.promise(() => stm.emulator.waitFor("factory-test ready"))
          const app = yield* (yield* SerialPorts).open(stm.hostPath, { baudRate: 115200 })
          yield* app.write(Buffer.from("id\n"))
          let text = ""
          // The boot banner may still be in flight when the port opens: look for the answer line.
          for (let i = 0; i < 20 && !/OK id=\w+\r?\n/.test(text); i++) text += Buffer.from(yield* app.read("250 millis")).toString()
          expect(text).toContain(`OK id=${identity}\r\n`)
        })
      )
    )

    it.scopedLive("no answer to 0x7F is SyncFailed; a wrong part is ChipMismatch naming both PIDs", () =>
      live(
        Effect.gen(function* () {
          const silent = yield* board({ faults: ["no_sync"] })
          const flasher = yield* makeStm32Flasher({ syncTimeout: "50 millis" })
          const sync = failureOf(yield* Effect.exit(flasher.connect(silent.hostPath, "stm32", { ...session, connectAttempts: 3 })))
          expect(sync?._tag).toBe("SyncFailed")
          expect(silent.emulator.stats.bytesIn).toBe(3)

          const other = yield* board({ faults: ["pid:0x414"] })
          const mismatch = failureOf(yield* Effect.exit(flasher.connect(other.hostPath, "stm32", session)))
          expect(mismatch?._tag).toBe("ChipMismatch")
          expect(mismatch?.message).toContain("STM32F10x high-density (PID 0x414)")
          expect(mismatch?.message).toContain("(PID 0x410)")
          expect(other.emulator.stats.erases).toBe(0)
        })
      )
    )

    it.scopedLive("a NACKed block is BootloaderNack naming the address; a corrupted block is VerifyFailed", () =>
      live(
        Effect.gen(function* () {
          const nack = yield* board({ faults: ["write_nack:2"] })
          const flasher = yield* makeStm32Flasher()
          const s1 = yield* flasher.connect(nack.hostPath, "stm32", session)
          const e1 = failureOf(yield* Effect.exit(s1.write([{ name: "firmware", offset: 0, data: image(2048) }], () => Effect.void)))
          expect(e1?._tag).toBe("BootloaderNack")
          expect(e1?.message).toContain("WRITE_MEMORY 0x8000200 (data)")

          const bad = yield* board({ faults: ["verify_error:5"] })
          const s2 = yield* flasher.connect(bad.hostPath, "stm32", session)
          const e2 = failureOf(yield* Effect.exit(s2.write([{ name: "firmware", offset: 0, data: image(2048) }], () => Effect.void)))
          expect(e2?._tag).toBe("VerifyFailed")
          expect(e2 && "offset" in e2 ? e2.offset : 0).toBe(0x08000500)
          // One-shot: the same session rewrites (after a new mass erase) and verifies.
          const ok = yield* s2.write([{ name: "firmware", offset: 0, data: image(2048) }], () => Effect.void)
          expect(ok.regions[0]!.verifiedBy).toBe("readback")
        })
      )
    )

    for (const erase of ["standard", "extended"] as const) {
      it.scopedLive(`erase: pages (${erase} command) erases only the pages the image touches; blank blocks are not written`, () =>
        live(
          Effect.gen(function* () {
            const stm = yield* board({ flashKiB: 64, erase, pace: true })
            stm.emulator.flash.fill(0x00, 0, 4096) // an old program
            stm.emulator.flash.fill(0x42, 0xfc00, 0x10000) // data in the last page that must survive
            const flasher = yield* makeStm32Flasher({ erase: "pages" })
            const s = yield* flasher.connect(stm.hostPath, "stm32", session)
            const data = image(2048 + 100) // pages 0–2
            data.fill(0xff, 256, 768) // blocks 1 and 2 blank
            const report = yield* s.write([{ name: "firmware", offset: 0, data }], () => Effect.void)
            expect(report.regions[0]!.verifiedBy).toBe("readback")
            const padded = new Uint8Array(2148).fill(0xff)
            padded.set(data)
            expect(Buffer.from(stm.emulator.flash.subarray(0, 2148)).equals(Buffer.from(padded))).toBe(true)
            expect(stm.emulator.flash.subarray(2148, 3072).every((b) => b === 0xff)).toBe(true)
            expect(stm.emulator.flash.subarray(3072, 4096).every((b) => b === 0x00)).toBe(true) // page 3: not the image's
            expect(stm.emulator.flash.subarray(0xfc00).every((b) => b === 0x42)).toBe(true)
            expect(stm.emulator.stats.blocksWritten).toBe(9 - 2)
            expect(stm.emulator.stats.commands["READ_MEMORY"]).toBe(2 + 9) // uid + flash size, then every block
            // datasheet timing: 3 page erases at 20 ms; 6 full blocks + the 100-byte last one, 16-bit writes at 52.5 µs
            expect(stm.emulator.stats.busyMs).toBeCloseTo(3 * 20 + ((6 * 256 + 100) / 2) * 0.0525, 6)
          })
        )
      )
    }

    it.scopedLive(
      "verify sends READ_MEMORY's three stages in one write (one round trip a block); pipelineReads: false waits for each ACK",
      () =>
        live(
          Effect.gen(function* () {
            const turnarounds = (pipelineReads: boolean) =>
              Effect.gen(function* () {
                const stm = yield* board({ flashKiB: 64 })
                const flasher = yield* makeStm32Flasher({ pipelineReads })
                const s = yield* flasher.connect(stm.hostPath, "stm32", session)
                const before = stm.emulator.line.turnarounds
                const data = image(4 * 256)
                yield* s.write([{ name: "firmware", offset: 0, data }], () => Effect.void)
                expect(Buffer.from(stm.emulator.flash.subarray(0, data.length)).equals(Buffer.from(data))).toBe(true)
                expect(stm.emulator.stats.commands["READ_MEMORY"]).toBe(2 + 4)
                return stm.emulator.line.turnarounds - before
              })
            // erase 2 + 4 blocks × 3 write stages, then 4 reads: 1 or 3 round trips each
            expect(yield* turnarounds(true)).toBe(2 + 12 + 4)
            expect(yield* turnarounds(false)).toBe(2 + 12 + 12)
          })
        )
    )

    it.scopedLive("an image larger than the reported flash is ImageInvalid before the erase", () =>
      live(
        Effect.gen(function* () {
          const stm = yield* board({ flashKiB: 64 })
          const flasher = yield* makeStm32Flasher()
          const s = yield* flasher.connect(stm.hostPath, "stm32", session)
          const error = failureOf(yield* Effect.exit(s.write([{ name: "firmware", offset: 0, data: image(65 * 1024) }], () => Effect.void)))
          expect(error?._tag).toBe("ImageInvalid")
          expect(error?.message).toContain("64 KB")
          expect(stm.emulator.stats.erases).toBe(0)
        })
      )
    )
  },
  { timeout: 20_000 }
)

describe("AN3155 READ_MEMORY pipelining guard", () => {
  it("refuses stages that would parse as a writing command after a NACK", () => {
    const stages = (at: number, length: number) =>
      concatBytes(command(CMD.READ_MEMORY), address(at), Uint8Array.of(length - 1, (length - 1) ^ 0xff))
    expect(pipelineSafe(stages(0x08000100, 256))).toBe(true)
    expect(pipelineSafe(stages(0x08000100, 1))).toBe(true) // N = 0x00: GET, read-only
    expect(pipelineSafe(stages(0x08000100, 0x82 + 1))).toBe(false) // N = 0x82: READOUT_PROTECT
    expect(pipelineSafe(stages(0x0800738c, 256))).toBe(false) // address bytes 0x73 0x8c: WRITE_UNPROTECT
  })
})

describe("STM32 reset mapping", () => {
  // TestClock time (the recording takes its times from Clock): exact durations, whatever the machine's load.
  it.scoped("default mapping: RTS (BOOT0) and DTR (NRST) asserted, NRST released after 50 ms, sync 100 ms later", () =>
    Effect.gen(function* () {
      expect(stm32BootloaderEntry("dtr_boot0_rts_nrst")[2]).toEqual({ _tag: "Lines", rts: false })
      const writes: Array<number> = []
      const recording = makeRecordingConnection({
        base: {
          write: () => Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.sync(() => void writes.push(at))),
          readExactly: () => Effect.never
        }
      })
      const flasher = yield* makeStm32Flasher({ syncTimeout: "10 millis" }).pipe(Effect.provide(recordingSerialPortsLayer(recording)))
      const start = yield* Clock.currentTimeMillis
      const fiber = yield* Effect.fork(
        Effect.exit(Effect.scoped(flasher.connect("/dev/ttyUSB0", "stm32", { ...session, before: "default_reset" })))
      )
      yield* TestClock.adjust("2 seconds")
      const exit = yield* Fiber.join(fiber)
      expect(failureOf(exit)?._tag).toBe("SyncFailed")
      const events = recording.events()
      // [time, dtr, rts] after each change: both asserted (BOOT0 high, NRST low), then NRST released 50 ms later.
      expect(events.map((e) => [e.atMillis - start, e.dtr, e.rts])).toEqual([
        [0, true, true],
        [50, false, true]
      ])
      // The 0x7F sync byte goes out 100 ms after the release, once the bootloader runs.
      expect(writes.map((at) => at - start)).toEqual([150])
    })
  )
})
