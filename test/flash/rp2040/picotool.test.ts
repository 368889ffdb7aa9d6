import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { SessionOptions } from "../../../src/flash/Flasher.js"
import { makeRp2040Flasher } from "../../../src/flash/rp2040/Rp2040Flasher.js"
import { SerialPortsLive } from "../../../src/serial/index.js"
import { type PicoHandle, startPicoBoard } from "../../../sim/rp2040/emulator.js"
import { installFakePicotool } from "../../support/fake-picotool/fakePicotool.js"

const env = Layer.merge(SerialPortsLive, NodeContext.layer)
const live = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, env)
const failureOf = <A, E>(exit: Exit.Exit<A, E>) => (Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined)
const image = (n: number, seed = 0) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed + (i >> 8)) & 0xff)

/** A temp root with an emulated /dev and /sys, and the fake picotool on PATH pointed at it. */
const bench = Effect.acquireRelease(
  Effect.sync(() => {
    const root = mkdtempSync(join(tmpdir(), "fp-picotool-"))
    mkdirSync(join(root, "dev"), { recursive: true })
    mkdirSync(join(root, "media"), { recursive: true })
    return { root, devRoot: join(root, "dev"), fake: installFakePicotool(root) }
  }),
  ({ root, fake }) => Effect.sync(() => (fake.dispose(), rmSync(root, { recursive: true, force: true })))
)
const pico = (options: Parameters<typeof startPicoBoard>[0]) =>
  Effect.acquireRelease(
    Effect.promise(() => startPicoBoard(options)),
    (p: PicoHandle) => Effect.promise(() => p.stop())
  )
const picoAt = (b: { root: string; devRoot: string }, hubPort: number, extra: Partial<Parameters<typeof startPicoBoard>[0]> = {}) =>
  pico({
    mountRoot: join(b.root, "media", `m${hubPort}`),
    cdcPath: join(b.devRoot, `ttyACM${hubPort}`),
    usb: { devRoot: b.devRoot, hubPort },
    ...extra
  })

const options = (overrides: Partial<SessionOptions> = {}): SessionOptions => ({
  baudRate: 115200,
  before: "no_reset",
  connectAttempts: 1,
  mcu: { rp2040Method: "picotool", bootWaitSeconds: 3 },
  ...overrides
})

describe("RP2040 flasher through picotool (fake picotool on PATH driving the emulated Pico over its USB stand-in)", () => {
  it.scopedLive(
    "BOOTSEL board: info -d gives the flash id before writing, load -v -x writes, verifies and starts the app; a running app is rebooted with reboot -f -u",
    () =>
      live(
        Effect.gen(function* () {
          const b = yield* bench
          const board = yield* picoAt(b, 3, { uniqueId: "E6614103E73D5F2F" })
          const flasher = yield* makeRp2040Flasher()
          const data = image(9000)
          data.set(Buffer.from("FWVER=2.0.1;"), 300)
          const first = yield* Effect.scoped(
            Effect.gen(function* () {
              const s = yield* flasher.connect(board.portPath, "rp2040", options())
              // The identity is known before anything is written.
              expect(s.board.identity).toEqual({ kind: "uid", value: "e6614103e73d5f2f" })
              expect(s.board.flashSizeBytes).toBe(2 * 1024 * 1024)
              expect(s.board.details).toMatchObject({ method: "picotool", usbLocation: "platform-fp-hcd.0-usb-0:1.3" })
              const report = yield* s.write([{ name: "firmware", offset: 0, data }], () => Effect.void)
              expect(report.regions[0]).toMatchObject({ size: 9000, verifiedBy: "readback" })
              yield* s.resetToApp
              return s.board
            })
          )
          expect(first.details["usbSerial"]).toBe("E6614103E73D5F2F")
          expect(board.state).toBe("app")
          expect(board.stats.uf2Accepted).toBe(0) // nothing went through the volume
          expect(board.stats.picobootWrites).toBeGreaterThan(0)
          expect(Buffer.from(board.flash().subarray(0, data.length)).equals(Buffer.from(data))).toBe(true)
          const calls = b.fake.calls()
          expect(calls[0]).toEqual(["info", "-d", "--bus", "1", "--address", expect.stringMatching(/^\d+$/)])
          expect(calls[1]!.slice(0, 3)).toEqual(["load", "-v", "-x"])
          expect(calls[1]![3]).toMatch(/firmware\.uf2$/)
          expect(calls[1]!.slice(4, 6)).toEqual(["--bus", "1"])

          // Now the app runs: default_reset asks it (by its own bus address) to reboot into BOOTSEL, then loads again.
          const next = image(4000, 7)
          yield* Effect.scoped(
            Effect.gen(function* () {
              const s = yield* flasher.connect(board.portPath, "rp2040", options({ before: "default_reset" }))
              yield* s.write([{ name: "firmware", offset: 0, data: next }], () => Effect.void)
              yield* s.resetToApp
            })
          )
          const reboot = b.fake.calls()[2]!
          expect(reboot.slice(0, 5)).toEqual(["reboot", "-f", "-u", "--bus", "1"])
          // A new enumeration takes a new address: the info that found the rebooted board (the last
          // one; under load a first look may still meet the old enumeration and be asked again) names another one.
          const afterReboot = b.fake.calls().slice(3)
          const found = afterReboot.filter((call) => call[0] === "info").at(-1)
          expect(found?.[5]).toBeDefined()
          expect(found![5]).not.toBe(reboot[6])
          expect(afterReboot.at(-1)![0]).toBe("load")
          expect(Buffer.from(board.flash().subarray(0, next.length)).equals(Buffer.from(next))).toBe(true)
        })
      )
  )

  it.scopedLive("two Picos at once: each session's picotool calls name its own board's bus address; each gets its own flash id", () =>
    live(
      Effect.gen(function* () {
        const b = yield* bench
        const boards = [yield* picoAt(b, 1, { uniqueId: "E661410300000001" }), yield* picoAt(b, 2, { uniqueId: "E661410300000002" })]
        const flasher = yield* makeRp2040Flasher()
        const ids = yield* Effect.forEach(
          boards,
          (board, i) =>
            Effect.scoped(
              Effect.gen(function* () {
                const s = yield* flasher.connect(board.portPath, "rp2040", options())
                yield* s.write([{ name: "firmware", offset: 0, data: image(3000, i + 1) }], () => Effect.void)
                yield* s.resetToApp
                return s.board.identity.value
              })
            ),
          { concurrency: 2 }
        )
        expect(ids).toEqual(["e661410300000001", "e661410300000002"])
        for (const [i, board] of boards.entries())
          expect(Buffer.from(board.flash().subarray(0, 3000)).equals(Buffer.from(image(3000, i + 1)))).toBe(true)
      })
    )
  )

  it.scopedLive("failures: no board in BOOTSEL, permissions (udev rules), verify mismatch, picotool forced but missing", () =>
    live(
      Effect.gen(function* () {
        const b = yield* bench
        const flasher = yield* makeRp2040Flasher({ pollInterval: "20 millis" })
        const attempt = (port: string, o: SessionOptions = options({ mcu: { rp2040Method: "picotool", bootWaitSeconds: 0.5 } })) =>
          Effect.exit(
            Effect.scoped(
              Effect.gen(function* () {
                const s = yield* flasher.connect(port, "rp2040", o)
                yield* s.write([{ name: "firmware", offset: 0, data: image(2000) }], () => Effect.void)
                yield* s.resetToApp
              })
            )
          )

        const none = failureOf(yield* attempt(join(b.devRoot, "serial/by-path/platform-fp-hcd.0-usb-0:1.9:1.0")))
        expect(none).toMatchObject({ _tag: "NoBootselDevice", code: "no_bootsel_device" })
        expect(none?.message).toContain("usb-0:1.9")

        const denied = yield* picoAt(b, 4, { faults: ["usb_denied"] })
        const permission = failureOf(yield* attempt(denied.portPath))
        expect(permission).toMatchObject({ _tag: "PicotoolPermissionDenied" })
        expect(permission?.message).toContain("Maybe try 'sudo'")
        expect(permission?.hint).toContain("udev rules")

        const corrupt = yield* picoAt(b, 5, { faults: ["corrupt_write"] })
        const verify = failureOf(yield* attempt(corrupt.portPath))
        expect(verify).toMatchObject({ _tag: "VerifyFailed", code: "verify_failed" })
        expect(verify?.message).toContain("did not match the file")
        expect(corrupt.state).toBe("bootsel") // -x is not reached after a failed verify

        b.fake.dispose()
        const missing = failureOf(yield* attempt(corrupt.portPath))
        expect(missing).toMatchObject({ _tag: "PicotoolMissing", code: "picotool_missing" })
        expect(missing?.hint).toContain("rp2040_method")
      })
    )
  )
}, 30_000)
