import { FileSystem, Path } from "@effect/platform"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { Context, Duration, Effect, Either, Layer, Option, Schedule } from "effect"
import { BootVolumeNotFound, BootVolumeWriteFailed, FlashTimeout, type FlashFailure, ImageInvalid, ProtocolError, UnsupportedPlatform } from "../../domain/errors/flash.js"
import { SerialPorts } from "../../serial/SerialPorts.js"
import type { DetectedBoard, FlasherService, FlashRegion, FlashSession, Platform, SessionOptions, WriteReport } from "../Flasher.js"
import { md5Hex } from "../formats/md5.js"
import { binToUf2, isUf2, parseUf2, RP2040_FAMILY_ID, RP2040_FLASH_BASE, UF2_BLOCK_SIZE } from "../formats/uf2.js"
import { DEFAULT_VOLUME_ROOTS, findBootVolumes } from "./volume.js"

/**
 * Raspberry Pi Pico (RP2040) through its boot ROM's UF2 drive:
 * find the RPI-RP2 volume (by INFO_UF2.TXT) → convert .bin to UF2 if needed →
 * copy → the ROM reboots (the volume disappears) → the app's USB CDC port
 * (`port`: a path such as /dev/serial/by-id/usb-Raspberry_Pi_Pico_…, or
 * /dev/ttyACM0) comes up → `id` asked there gives the flash unique id.
 *
 * - `default_reset`: when no volume is mounted, the Pico SDK's "1200 baud
 *   touch" on `port` (open at 1200 baud, close) reboots a running app into BOOTSEL.
 * - Several Picos in BOOTSEL at once show several RPI-RP2 volumes that cannot be
 *   told apart by port; each session claims a different one. All boards of a
 *   station get the same image, so which one a session copies to does not matter;
 *   the identity is asked of the board that answers on the session's own port.
 * - A UF2 copy has no read-back: a region counts as written (`verifiedBy: "none"`)
 *   once the ROM took it (volume gone); the board answering on its CDC port is the
 *   confirmation. `picotool` is detected on PATH and reported in `details` only.
 * - `board.identity` is the flash unique id once `resetToApp` has asked the app
 *   (`pending` before): read it after `resetToApp`.
 */

export interface Rp2040FlasherConfig {
  readonly pollInterval: Duration.DurationInput
  /** Default for `mcu.bootWaitSeconds`. */
  readonly bootWait: Duration.DurationInput
  readonly copyChunkBytes: number
}

export const defaultRp2040FlasherConfig: Rp2040FlasherConfig = {
  pollInterval: Duration.millis(100),
  bootWait: Duration.seconds(10),
  copyChunkBytes: 64 * 1024
}

const RP2040_PLATFORMS: ReadonlyArray<Platform> = ["rp2040"]
export const PENDING_IDENTITY = "pending"

/** Polls `check` until it yields a value or `timeout` passes (then `onTimeout`). */
const pollUntil = <A, E, R, E2>(check: Effect.Effect<Option.Option<A>, E, R>, interval: Duration.DurationInput, timeout: Duration.DurationInput, onTimeout: () => E2) =>
  check.pipe(
    Effect.flatMap((found) => (Option.isSome(found) ? Effect.succeed(found.value) : Effect.fail("again" as const))),
    Effect.retry({ schedule: Schedule.spaced(interval), while: (e) => e === "again" }),
    Effect.timeoutFail({ duration: timeout, onTimeout }),
    Effect.catchIf((e): e is "again" => e === "again", () => Effect.fail(onTimeout()))
  )

export const findOnPath = (program: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    for (const dir of (process.env["PATH"] ?? "").split(":").filter((d) => d !== "")) {
      const candidate = path.join(dir, program)
      if (yield* fs.exists(candidate).pipe(Effect.orElseSucceed(() => false))) return Option.some(candidate)
    }
    return Option.none<string>()
  })

/** UF2 bytes for the regions: UF2 files pass through (checked), raw images are wrapped at 0x10000000 + offset. */
export const toUf2 = (regions: ReadonlyArray<FlashRegion>): Either.Either<Uint8Array, ImageInvalid> => {
  const parts: Array<Uint8Array> = []
  for (const region of regions) {
    if (region.data.length === 0) return Either.left(new ImageInvalid({ region: region.name, detail: "the image is empty" }))
    if (isUf2(region.data)) {
      const parsed = parseUf2(region.data, region.name)
      if (Either.isLeft(parsed)) return Either.left(parsed.left)
      if (!parsed.right.some((b) => b.familyId === RP2040_FAMILY_ID)) {
        return Either.left(new ImageInvalid({ region: region.name, detail: "the UF2 holds no block for the RP2040 family (0xe48bff56): built for another board?" }))
      }
      if (regions.length > 1) return Either.left(new ImageInvalid({ region: region.name, detail: "a UF2 file must be the only region (it carries its own addresses)" }))
      return Either.right(region.data)
    }
    const base = region.offset >= RP2040_FLASH_BASE ? region.offset : RP2040_FLASH_BASE + region.offset
    parts.push(binToUf2(region.data, { baseAddress: base }))
  }
  // Several raw regions form one file: renumber the blocks across it.
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  const view = new DataView(out.buffer)
  const total = out.length / UF2_BLOCK_SIZE
  for (let i = 0; i < total; i++) {
    view.setUint32(i * UF2_BLOCK_SIZE + 20, i, true)
    view.setUint32(i * UF2_BLOCK_SIZE + 24, total, true)
  }
  return Either.right(out)
}

export const makeRp2040Flasher = (config: Partial<Rp2040FlasherConfig> = {}) =>
  Effect.gen(function* () {
    const settings = { ...defaultRp2040FlasherConfig, ...config }
    const ports = yield* SerialPorts
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    // Only these two: the whole ambient context would also carry the constructor's Scope.
    const env = Context.make(FileSystem.FileSystem, fs).pipe(Context.add(Path.Path, path))
    const claimed = new Set<string>()

    const connect = (port: string, platform: Platform, options: SessionOptions) =>
      Effect.gen(function* () {
        if (!RP2040_PLATFORMS.includes(platform)) return yield* new UnsupportedPlatform({ platform, supported: RP2040_PLATFORMS })
        const roots = options.mcu?.volumeRoots ?? DEFAULT_VOLUME_ROOTS
        const wait = options.mcu?.bootWaitSeconds === undefined ? settings.bootWait : Duration.seconds(options.mcu.bootWaitSeconds)
        const free = Effect.map(findBootVolumes(roots), (all) => Option.fromNullable(all.find((v) => !claimed.has(v))))

        const first = yield* free
        if (Option.isNone(first) && options.before !== "no_reset") {
          // 1200-baud touch: the Pico SDK's USB stdio reboots into BOOTSEL when the host opens it at 1200.
          yield* Effect.scoped(ports.open(port, { baudRate: 1200 })).pipe(Effect.ignore)
        }
        const volume = yield* pollUntil(free, settings.pollInterval, wait, () => new BootVolumeNotFound({ roots, waitedMs: Duration.toMillis(wait) }))
        yield* Effect.acquireRelease(
          Effect.sync(() => claimed.add(volume)),
          () => Effect.sync(() => claimed.delete(volume))
        )
        const picotool = yield* findOnPath("picotool")
        let board: DetectedBoard = {
          port,
          platform,
          chip: "RP2040",
          identity: { kind: "uid", value: PENDING_IDENTITY },
          details: {
            volume,
            picotool: Option.getOrElse(picotool, () => "not installed"),
            verify: "none (UF2 copy has no read-back; the app answering on its port confirms the boot)"
          }
        }

        const volumeGone = Effect.map(fs.exists(path.join(volume, "INFO_UF2.TXT")).pipe(Effect.orElseSucceed(() => false)), (present) =>
          present ? Option.none() : Option.some(true)
        )

        const write: FlashSession["write"] = (regions, onProgress) =>
          Effect.gen(function* () {
            const uf2 = yield* toUf2(regions)
            const name = regions.length === 1 ? regions[0]!.name : "firmware"
            const target = path.join(volume, `${name.replace(/[^A-Za-z0-9_-]/g, "_")}.uf2`)
            const total = regions.reduce((n, r) => n + r.data.length, 0)
            yield* Effect.scoped(
              Effect.gen(function* () {
                const file = yield* fs.open(target, { flag: "w" })
                for (let at = 0; at < uf2.length; at += settings.copyChunkBytes) {
                  const chunk = uf2.subarray(at, at + settings.copyChunkBytes)
                  yield* file.writeAll(chunk)
                  const done = at + chunk.length
                  yield* onProgress({ region: name, written: Math.round((done / uf2.length) * total), total, wireBytes: done })
                }
                yield* file.sync
              })
            ).pipe(Effect.mapError((e) => new BootVolumeWriteFailed({ volume, detail: e.message })))
            yield* pollUntil(volumeGone, settings.pollInterval, wait, () =>
              new FlashTimeout({ port, step: `RP2040 reboot after copying ${target} (the volume stayed mounted: the UF2 was not taken — wrong family or incomplete)`, timeoutMs: Duration.toMillis(wait) })
            )
            const report: WriteReport = {
              regions: regions.map((r) => ({ name: r.name, offset: r.offset, size: r.data.length, digest: md5Hex(r.data), verifiedBy: "none" as const })),
              wireBytes: uf2.length,
              retries: 0
            }
            return report
          })

        const askId = Effect.scoped(
          Effect.gen(function* () {
            const serial = yield* ports.open(port, { baudRate: options.mcu?.appBaudRate ?? options.baudRate })
            let text = ""
            const ask = Effect.gen(function* () {
              yield* serial.write(new TextEncoder().encode("id\r\n"))
              const chunk = yield* serial.read(Duration.millis(300))
              text += new TextDecoder().decode(chunk)
              const match = /OK id=([0-9A-Fa-f]{8,32})/.exec(text)
              return match ? Option.some(match[1]!.toLowerCase()) : Option.none()
            })
            return yield* pollUntil(ask, Duration.millis(50), wait, () =>
              new ProtocolError({ port, command: "id", detail: `the application did not answer "id" with "OK id=<hex>" (got ${JSON.stringify(text.slice(-80))})` })
            )
          })
        )

        const resetToApp: Effect.Effect<void, FlashFailure> = Effect.gen(function* () {
          const portExists = Effect.map(fs.exists(port).pipe(Effect.orElseSucceed(() => false)), (present) => (present ? Option.some(true) : Option.none()))
          yield* pollUntil(portExists, settings.pollInterval, wait, () =>
            new FlashTimeout({ port, step: "wait for the Pico's USB serial port after the UF2 reboot (is the app built with USB stdio?)", timeoutMs: Duration.toMillis(wait) })
          )
          // The link can appear a moment before the port opens: retry the open briefly.
          const id = yield* askId.pipe(Effect.retry({ schedule: Schedule.spaced(Duration.millis(100)).pipe(Schedule.intersect(Schedule.recurs(10))), while: (e) => e._tag === "PortUnavailable" }))
          board = { ...board, identity: { kind: "uid", value: id }, details: { ...board.details, uniqueId: id } }
        })

        const session: FlashSession = {
          get board() {
            return board
          },
          write,
          resetToApp
        }
        return session
      })

    const service: FlasherService = { platform: RP2040_PLATFORMS, connect: (port, platform, options) => Effect.provide(connect(port, platform, options), env) }
    return service
  })

/** The flasher with Node's FileSystem and Path built in (what FlasherLive registers). */
export const makeRp2040FlasherNode = (config: Partial<Rp2040FlasherConfig> = {}) =>
  makeRp2040Flasher(config).pipe(Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)))
