import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Layer } from "effect"
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { FlashProgress, SessionOptions } from "../../../src/flash/Flasher.js"
import { binToUf2, parseUf2 } from "../../../src/flash/formats/uf2.js"
import { makeRp2040Flasher, PENDING_IDENTITY, toUf2 } from "../../../src/flash/rp2040/Rp2040Flasher.js"
import { findBootVolumes } from "../../../src/flash/rp2040/volume.js"
import { SerialPorts, SerialPortsLive } from "../../../src/serial/index.js"
import { type PicoHandle, startPicoBoard } from "../../../sim/rp2040/emulator.js"

const env = Layer.merge(SerialPortsLive, NodeContext.layer)
const live = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, env)
const failureOf = <A, E>(exit: Exit.Exit<A, E>) => (Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined)

/** A temp "station": media root for the volume, a path where the CDC port appears. */
const station = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = mkdtempSync(join(tmpdir(), "fp-pico-test-"))
    mkdirSync(join(dir, "media", "operator"), { recursive: true })
    return { dir, mediaRoot: join(dir, "media"), userMedia: join(dir, "media", "operator"), cdcPath: join(dir, "ttyACM0") }
  }),
  ({ dir }) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)
const pico = (options: Parameters<typeof startPicoBoard>[0]) =>
  Effect.acquireRelease(
    Effect.promise(() => startPicoBoard(options)),
    (p: PicoHandle) => Effect.promise(() => p.stop())
  )
const image = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 11 + (i >> 9)) & 0xff)

describe(
  "RP2040 flasher: UF2 onto the emulated BOOTSEL volume, back as a CDC port",
  () => {
    it.scopedLive("finds the volume, converts .bin to UF2, copies, waits for the reboot, reads the unique id", () =>
      live(
        Effect.gen(function* () {
          const st = yield* station
          const board = yield* pico({ mountRoot: st.userMedia, cdcPath: st.cdcPath, uniqueId: "E6614103E73D5F2F" })
          const options: SessionOptions = {
            baudRate: 115200,
            before: "no_reset",
            connectAttempts: 1,
            mcu: { volumeRoots: [join(st.mediaRoot, "*")], bootWaitSeconds: 5 }
          }
          const flasher = yield* makeRp2040Flasher()
          const data = image(70_000)
          data.set(Buffer.from("FWVER=3.1.4;"), 1000)
          const progress: Array<FlashProgress> = []
          const identity = yield* Effect.scoped(
            Effect.gen(function* () {
              const s = yield* flasher.connect(st.cdcPath, "rp2040", options)
              expect(s.board.chip).toBe("RP2040")
              expect(s.board.details["volume"]).toBe(board.volumePath)
              expect(s.board.identity.value).toBe(PENDING_IDENTITY)
              const report = yield* s.write([{ name: "firmware", offset: 0, data }], (p) => Effect.sync(() => void progress.push(p)))
              expect(report.regions[0]).toMatchObject({ name: "firmware", size: 70_000, verifiedBy: "none" })
              expect(report.wireBytes).toBe(Math.ceil(70_000 / 256) * 512)
              expect(existsSync(board.volumePath)).toBe(false)
              yield* s.resetToApp
              return s.board.identity
            })
          )
          expect(identity).toEqual({ kind: "uid", value: "e6614103e73d5f2f" })
          expect(Buffer.from(board.flash().subarray(0, data.length)).equals(Buffer.from(data))).toBe(true)
          expect(progress.at(-1)).toMatchObject({ written: 70_000, total: 70_000 })
          // The app on the CDC port runs the factory tests.
          const app = yield* (yield* SerialPorts).open(st.cdcPath, { baudRate: 115200 })
          yield* app.write(Buffer.from("info\n"))
          let text = ""
          for (let i = 0; i < 20 && !/OK chip=[^\n]*\n/.test(text); i++) text += Buffer.from(yield* app.read("250 millis")).toString()
          expect(text).toContain("OK chip=RP2040 id=e6614103e73d5f2f fw=3.1.4")
        })
      )
    )

    it.scopedLive("a .uf2 firmware is copied as it is", () =>
      live(
        Effect.gen(function* () {
          const st = yield* station
          const board = yield* pico({ mountRoot: st.userMedia, cdcPath: st.cdcPath })
          const uf2 = binToUf2(image(1000))
          const flasher = yield* makeRp2040Flasher()
          yield* Effect.scoped(
            Effect.gen(function* () {
              const s = yield* flasher.connect(st.cdcPath, "rp2040", {
                baudRate: 115200,
                before: "no_reset",
                connectAttempts: 1,
                mcu: { volumeRoots: [st.userMedia] }
              })
              yield* s.write([{ name: "app", offset: 0, data: uf2 }], () => Effect.void)
              yield* s.resetToApp
              expect(s.board.identity.value).toBe(board.uniqueId)
            })
          )
          expect(board.stats.uf2Accepted).toBe(1)
        })
      )
    )

    it.scopedLive(
      "no volume is BootVolumeNotFound naming the roots; a UF2 the ROM ignores is FlashTimeout; a board without app is FlashTimeout",
      () =>
        live(
          Effect.gen(function* () {
            const st = yield* station
            const flasher = yield* makeRp2040Flasher({ pollInterval: "20 millis" })
            const base: SessionOptions = {
              baudRate: 115200,
              before: "no_reset",
              connectAttempts: 1,
              mcu: { volumeRoots: [st.userMedia], bootWaitSeconds: 0.3 }
            }
            const none = failureOf(yield* Effect.exit(Effect.scoped(flasher.connect(st.cdcPath, "rp2040", base))))
            expect(none?._tag).toBe("BootVolumeNotFound")
            expect(none?.message).toContain(st.userMedia)

            const stuck = yield* pico({ mountRoot: st.userMedia, cdcPath: st.cdcPath, faults: ["no_reboot"] })
            const e1 = failureOf(
              yield* Effect.exit(
                Effect.scoped(
                  Effect.flatMap(flasher.connect(st.cdcPath, "rp2040", base), (s) =>
                    s.write([{ name: "fw", offset: 0, data: image(600) }], () => Effect.void)
                  )
                )
              )
            )
            expect(e1?._tag).toBe("FlashTimeout")
            expect(e1?.message).toContain("volume stayed mounted")
            yield* Effect.promise(() => stuck.stop())

            // The claim on the first volume ended with its session: the next board's volume is found.
            yield* pico({ mountRoot: st.userMedia, cdcPath: st.cdcPath, faults: ["no_app"] })
            const e2 = failureOf(
              yield* Effect.exit(
                Effect.scoped(
                  Effect.gen(function* () {
                    const s = yield* flasher.connect(st.cdcPath, "rp2040", base)
                    yield* s.write([{ name: "fw", offset: 0, data: image(600) }], () => Effect.void)
                    yield* s.resetToApp
                  })
                )
              )
            )
            expect(e2?._tag).toBe("FlashTimeout")
            expect(e2?.message).toContain("USB serial port")
          })
        )
    )

    it.scopedLive("a UF2 for another family is ImageInvalid before anything is copied", () =>
      live(
        Effect.gen(function* () {
          const other = binToUf2(image(512), { familyId: 0x68ed2b88 })
          const result = toUf2([{ name: "fw", offset: 0, data: other }])
          expect(Either.isLeft(result) && result.left.message).toContain("RP2040 family")
          // Two raw regions become one file with blocks numbered across it.
          const joined = toUf2([
            { name: "a", offset: 0, data: image(300) },
            { name: "b", offset: 0x10000, data: image(10) }
          ])
          const blocks = Either.getOrThrow(parseUf2(Either.getOrThrow(joined)))
          expect(blocks.map((b) => [b.blockNo, b.numBlocks, b.targetAddr])).toEqual([
            [0, 3, 0x10000000],
            [1, 3, 0x10000100],
            [2, 3, 0x10010000]
          ])
        })
      )
    )

    it.scopedLive("volume discovery: `*` levels, INFO_UF2.TXT must name RPI-RP2", () =>
      live(
        Effect.gen(function* () {
          const st = yield* station
          const good = join(st.mediaRoot, "alice", "RPI-RP2")
          const wrong = join(st.mediaRoot, "bob", "USBSTICK")
          mkdirSync(good, { recursive: true })
          mkdirSync(wrong, { recursive: true })
          writeFileSync(join(good, "INFO_UF2.TXT"), "UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: RPI-RP2\n")
          writeFileSync(join(wrong, "INFO_UF2.TXT"), "UF2 Bootloader\nBoard-ID: SAMD21-XYZ\n")
          expect(yield* findBootVolumes([join(st.mediaRoot, "*", "*"), join(st.dir, "missing", "*")])).toEqual([good])
          expect(yield* findBootVolumes([join(st.mediaRoot, "alice")])).toEqual([good])
        })
      )
    )
  },
  { timeout: 20_000 }
)
