import { Command, CommandExecutor, FileSystem, Path } from "@effect/platform"
import { NodeCommandExecutor, NodeFileSystem, NodePath } from "@effect/platform-node"
import { Context, Duration, Effect, Either, Layer, Option, Schedule, Stream } from "effect"
import { concatBytes } from "../../domain/bytes.js"
import {
  BootVolumeNotFound,
  BootVolumeWriteFailed,
  FlashTimeout,
  type FlashFailure,
  ImageInvalid,
  ProtocolError,
  UnsupportedPlatform,
  VerifyFailed
} from "../../domain/errors/flash.js"
import { BoardSwapped, NoBootselDevice, PicotoolFailed, PicotoolMissing, PicotoolPermissionDenied } from "../../domain/errors/rp2040.js"
import { SerialPorts } from "../../serial/SerialPorts.js"
import type { DetectedBoard, FlasherService, FlashRegion, FlashSession, Platform, SessionOptions, WriteReport } from "../Flasher.js"
import { writtenRegion } from "../Flasher.js"
import { md5Hex } from "../formats/md5.js"
import { binToUf2, isUf2, parseUf2, RP2040_FAMILY_ID, RP2040_FLASH_BASE, UF2_BLOCK_SIZE } from "../formats/uf2.js"
import { PICO_BOOTSEL_PID, PICO_STDIO_PID, portLocation, type UsbLocation, usbDeviceAt, usbSerialOf, volumeLocation } from "./usb.js"
import { DEFAULT_VOLUME_ROOTS, findBootVolumes } from "./volume.js"
import { rp2040Family } from "./family.js"

/**
 * Raspberry Pi Pico (RP2040) through its boot ROM's UF2 drive:
 * find the RPI-RP2 volume (by INFO_UF2.TXT) → convert .bin to UF2 if needed →
 * copy → the ROM reboots (the volume disappears) → the app's USB CDC port
 * (`port`: a path such as /dev/serial/by-id/usb-Raspberry_Pi_Pico_…, or
 * /dev/ttyACM0) comes up → `id` asked there gives the flash unique id.
 *
 * - `default_reset`: when no volume is mounted, the Pico SDK's "1200 baud
 *   touch" on `port` (open at 1200 baud, close) reboots a running app into BOOTSEL.
 * - Several Picos at once: when the port is a udev by-path link (or has one), the
 *   session takes only the RPI-RP2 volume whose disk sits on the same USB hub port
 *   (./usb.ts); so two Picos rebooting together cannot be confused. Without a hub
 *   port (a plain /dev/ttyACMn, a pty) each session claims any free volume.
 * - A UF2 copy has no read-back: a region counts as written (`verifiedBy: "none"`)
 *   once the ROM took it (volume gone); the board answering on its CDC port is the
 *   confirmation.
 * - `picotool` (`rp2040_method: auto` when on PATH, or `picotool`): `reboot -f -u`
 *   brings a running app into BOOTSEL, `info -d` reads the flash id (the identity is
 *   known before writing), `load -v -x` writes, reads back (`verifiedBy: "readback"`)
 *   and starts the app; every call names the board by `--bus/--address` of the USB
 *   device on the port's hub port (addresses change at each re-enumeration, so they
 *   are looked up again before each call).
 * - After the reboot the app's id must match the USB serial of its CDC port and,
 *   with picotool, the flash id read before writing (`BoardSwapped` otherwise).
 * - UF2 copy: `board.identity` is the flash unique id once `resetToApp` has asked
 *   the app (`pending` before): read it after `resetToApp`.
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

/** The family's platforms, as the registry (./family.ts) declares them. */
const RP2040_PLATFORMS: ReadonlyArray<Platform> = rp2040Family.platforms
export const PENDING_IDENTITY = "pending"

/** Polls `check` until it yields a value or `timeout` passes (then `onTimeout`). */
const pollUntil = <A, E, R, E2>(
  check: Effect.Effect<Option.Option<A>, E, R>,
  interval: Duration.DurationInput,
  timeout: Duration.DurationInput,
  onTimeout: () => E2
) =>
  check.pipe(
    Effect.flatMap((found) => (Option.isSome(found) ? Effect.succeed(found.value) : Effect.fail("again" as const))),
    Effect.retry({ schedule: Schedule.spaced(interval), while: (e) => e === "again" }),
    Effect.timeoutFail({ duration: timeout, onTimeout }),
    Effect.catchIf(
      (e): e is "again" => e === "again",
      () => Effect.fail(onTimeout())
    )
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
        return Either.left(
          new ImageInvalid({
            region: region.name,
            detail: "the UF2 holds no block for the RP2040 family (0xe48bff56): built for another board?"
          })
        )
      }
      if (regions.length > 1)
        return Either.left(
          new ImageInvalid({ region: region.name, detail: "a UF2 file must be the only region (it carries its own addresses)" })
        )
      return Either.right(region.data)
    }
    const base = region.offset >= RP2040_FLASH_BASE ? region.offset : RP2040_FLASH_BASE + region.offset
    parts.push(binToUf2(region.data, { baseAddress: base }))
  }
  // Several raw regions form one file: renumber the blocks across it.
  const out = concatBytes(...parts)
  const view = new DataView(out.buffer)
  const total = out.length / UF2_BLOCK_SIZE
  for (let i = 0; i < total; i++) {
    view.setUint32(i * UF2_BLOCK_SIZE + 20, i, true)
    view.setUint32(i * UF2_BLOCK_SIZE + 24, total, true)
  }
  return Either.right(out)
}

/** What a picotool run printed. */
interface PicotoolRun {
  readonly stdout: string
  readonly stderr: string
  readonly exitCode: number
}

const collectText = <E>(stream: Stream.Stream<Uint8Array, E>) => stream.pipe(Stream.decodeText(), Stream.mkString)

/** picotool's messages (stdout + stderr) → our errors. */
const classifyPicotool = (port: string, args: ReadonlyArray<string>, run: PicotoolRun, location: string, digest: string) => {
  const text = `${run.stdout}\n${run.stderr}`.trim()
  const commandLine = `picotool ${args.join(" ")}`
  if (/Maybe try 'sudo'|check your permissions|Unable to access device/i.test(text)) {
    return new PicotoolPermissionDenied({
      port,
      detail: text
        .split("\n")
        .filter((l) => /sudo|permission|access/i.test(l))
        .join(" ")
    })
  }
  if (/No accessible RP[-\w]* devices in BOOTSEL mode/i.test(text))
    return new NoBootselDevice({ port, location, detail: `picotool: ${text.split("\n")[0]}` })
  if (/did not match the file/i.test(text)) {
    return new VerifyFailed({
      port,
      region: "firmware (picotool load -v)",
      offset: 0,
      expected: digest,
      received: "different flash content (picotool: The device contents did not match the file)"
    })
  }
  return new PicotoolFailed({ port, command: commandLine, exitCode: run.exitCode, output: text.slice(-400) })
}

export const makeRp2040Flasher = (config: Partial<Rp2040FlasherConfig> = {}) =>
  Effect.gen(function* () {
    const settings = { ...defaultRp2040FlasherConfig, ...config }
    const ports = yield* SerialPorts
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const executor = yield* CommandExecutor.CommandExecutor
    // Only these: the whole ambient context would also carry the constructor's Scope.
    const env = Context.make(FileSystem.FileSystem, fs).pipe(
      Context.add(Path.Path, path),
      Context.add(CommandExecutor.CommandExecutor, executor)
    )
    const claimed = new Set<string>()

    const exists = (file: string) =>
      Effect.map(fs.exists(file).pipe(Effect.orElseSucceed(() => false)), (present) => (present ? Option.some(true) : Option.none()))

    /** Asks the app on its CDC port for `id` until it answers `OK id=<hex>`. */
    const askId = (port: string, options: SessionOptions, wait: Duration.Duration) =>
      Effect.scoped(
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
          return yield* pollUntil(
            ask,
            Duration.millis(50),
            wait,
            () =>
              new ProtocolError({
                port,
                command: "id",
                detail: `the application did not answer "id" with "OK id=<hex>" (got ${JSON.stringify(text.slice(-80))})`
              })
          )
        })
      )

    /** Waits for the app's CDC port, reads its id, and checks it against the port's USB serial (and `expected`). */
    const awaitApp = (port: string, options: SessionOptions, wait: Duration.Duration, expected: string | undefined) =>
      Effect.gen(function* () {
        yield* pollUntil(
          exists(port),
          settings.pollInterval,
          wait,
          () =>
            new FlashTimeout({
              port,
              step: "wait for the Pico's USB serial port after the reboot (is the app built with USB stdio?)",
              timeoutMs: Duration.toMillis(wait)
            })
        )
        // The link can appear a moment before the port opens: retry the open briefly.
        const id = yield* askId(port, options, wait).pipe(
          Effect.retry({
            schedule: Schedule.spaced(Duration.millis(100)).pipe(Schedule.intersect(Schedule.recurs(10))),
            while: (e) => e._tag === "PortUnavailable"
          })
        )
        const usbSerial = yield* usbSerialOf(port)
        if (Option.isSome(usbSerial) && usbSerial.value.toLowerCase() !== id) {
          return yield* new BoardSwapped({ port, flashed: id, found: `a USB device with serial ${usbSerial.value}` })
        }
        if (expected !== undefined && expected !== id)
          return yield* new BoardSwapped({ port, flashed: expected, found: `the app with id ${id}` })
        return { id, usbSerial: Option.getOrUndefined(usbSerial) }
      })

    const regionsReport = (regions: ReadonlyArray<FlashRegion>, verifiedBy: "none" | "readback", wireBytes: number): WriteReport => ({
      regions: regions.map((r) => writtenRegion(r, verifiedBy)),
      wireBytes,
      retries: 0
    })

    const copySession = (
      port: string,
      platform: Platform,
      options: SessionOptions,
      location: Option.Option<UsbLocation>,
      wait: Duration.Duration
    ) =>
      Effect.gen(function* () {
        const roots = options.mcu?.volumeRoots ?? DEFAULT_VOLUME_ROOTS
        const free = Effect.gen(function* () {
          const candidates = (yield* findBootVolumes(roots)).filter((v) => !claimed.has(v))
          if (Option.isNone(location)) return Option.fromNullable(candidates[0])
          for (const volume of candidates) {
            const at = yield* volumeLocation(volume, location.value.devRoot)
            if (Option.isSome(at) && at.value.key === location.value.key) return Option.some(volume)
          }
          return Option.none<string>()
        })

        const first = yield* free
        if (Option.isNone(first) && options.before !== "no_reset") {
          // 1200-baud touch: the Pico SDK's USB stdio reboots into BOOTSEL when the host opens it at 1200.
          yield* Effect.scoped(ports.open(port, { baudRate: 1200 })).pipe(Effect.ignore)
        }
        const volume = yield* pollUntil(
          free,
          settings.pollInterval,
          wait,
          () => new BootVolumeNotFound({ roots, waitedMs: Duration.toMillis(wait) })
        )
        yield* Effect.acquireRelease(
          Effect.sync(() => claimed.add(volume)),
          () => Effect.sync(() => claimed.delete(volume))
        )
        let board: DetectedBoard = {
          port,
          platform,
          chip: "RP2040",
          identity: { kind: "uid", value: PENDING_IDENTITY },
          details: {
            method: "uf2_copy",
            volume,
            usbLocation: Option.match(location, { onNone: () => "unknown (any free volume)", onSome: (l) => l.key }),
            verify: "none (UF2 copy has no read-back; the app answering on its port confirms the boot)"
          }
        }
        const volumeGone = Effect.map(exists(path.join(volume, "INFO_UF2.TXT")), (present) =>
          Option.isSome(present) ? Option.none() : Option.some(true)
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
            yield* pollUntil(
              volumeGone,
              settings.pollInterval,
              wait,
              () =>
                new FlashTimeout({
                  port,
                  step: `RP2040 reboot after copying ${target} (the volume stayed mounted: the UF2 was not taken — wrong family or incomplete)`,
                  timeoutMs: Duration.toMillis(wait)
                })
            )
            return regionsReport(regions, "none", uf2.length)
          })

        const resetToApp: Effect.Effect<void, FlashFailure> = Effect.gen(function* () {
          const app = yield* awaitApp(port, options, wait, undefined)
          board = {
            ...board,
            identity: { kind: "uid", value: app.id },
            details: { ...board.details, uniqueId: app.id, ...(app.usbSerial ? { usbSerial: app.usbSerial } : {}) }
          }
        }).pipe(Effect.provide(env))

        const session: FlashSession = {
          get board() {
            return board
          },
          write,
          resetToApp
        }
        return session
      })

    const picotoolSession = (
      port: string,
      platform: Platform,
      options: SessionOptions,
      location: Option.Option<UsbLocation>,
      wait: Duration.Duration,
      picotool: string
    ) =>
      Effect.gen(function* () {
        const where = Option.match(location, { onNone: () => "any", onSome: (l) => l.key })
        const run = (args: ReadonlyArray<string>, digest = "") =>
          Effect.scoped(
            Effect.gen(function* () {
              const process = yield* Command.start(Command.make(picotool, ...args))
              const [stdout, stderr, exitCode] = yield* Effect.all(
                [collectText(process.stdout), collectText(process.stderr), process.exitCode],
                { concurrency: 3 }
              )
              return { stdout, stderr, exitCode: Number(exitCode) }
            })
          ).pipe(
            Effect.mapError((e) => new PicotoolFailed({ port, command: `picotool ${args.join(" ")}`, exitCode: -1, output: e.message })),
            Effect.timeoutFail({
              duration: Duration.sum(wait, Duration.seconds(30)),
              onTimeout: () =>
                new FlashTimeout({
                  port,
                  step: `picotool ${args[0]}`,
                  timeoutMs: Duration.toMillis(Duration.sum(wait, Duration.seconds(30)))
                })
            }),
            Effect.flatMap((result) =>
              result.exitCode === 0 ? Effect.succeed(result) : Effect.fail(classifyPicotool(port, args, result, where, digest))
            )
          )
        /** `--bus/--address` of the USB device on the port's hub port in the given mode (none: no such device now). */
        const selection = (pid: string) =>
          Option.isNone(location)
            ? Effect.succeed(Option.some<ReadonlyArray<string>>([]))
            : Effect.map(usbDeviceAt(location.value), (device) =>
                Option.flatMap(device, (d) =>
                  d.idProduct === pid
                    ? Option.some<ReadonlyArray<string>>(["--bus", String(d.busnum), "--address", String(d.devnum)])
                    : Option.none()
                )
              )

        if (options.before !== "no_reset" && Option.isSome(location)) {
          const running = yield* selection(PICO_STDIO_PID)
          if (Option.isSome(running)) yield* run(["reboot", "-f", "-u", ...running.value])
        }
        const findBootsel = pollUntil(
          selection(PICO_BOOTSEL_PID),
          settings.pollInterval,
          wait,
          () =>
            new NoBootselDevice({
              port,
              location: where,
              detail: `no USB device 2e8a:0003 on that hub port within ${Duration.toMillis(wait)} ms`
            })
        )
        // A board that has just enumerated can be listed before picotool may
        // open it (udev still applying its rules, or the address moving once
        // more): "no accessible device" looks the board up again and asks
        // again, within the same wait.
        const { info } = yield* findBootsel.pipe(
          Effect.flatMap((found) => Effect.map(run(["info", "-d", ...found]), (answer) => ({ bootsel: found, info: answer }))),
          Effect.retry({
            while: (error) => error._tag === "NoBootselDevice",
            schedule: Schedule.spaced(settings.pollInterval).pipe(Schedule.upTo(wait))
          })
        )
        const flashId = /flash id:\s*0x([0-9A-Fa-f]{8,32})/.exec(info.stdout)?.[1]?.toLowerCase()
        if (flashId === undefined) {
          return yield* new ProtocolError({
            port,
            command: "picotool info -d",
            detail: `no "flash id:" line in picotool's output: ${JSON.stringify(info.stdout.slice(0, 200))}`
          })
        }
        const type = /type:\s*(\S+)/.exec(info.stdout)?.[1] ?? "RP2040"
        const flashSize = /flash size:\s*(\d+)K/.exec(info.stdout)?.[1]
        let board: DetectedBoard = {
          port,
          platform,
          chip: type,
          identity: { kind: "uid", value: flashId },
          flashSizeBytes: flashSize === undefined ? undefined : Number(flashSize) * 1024,
          details: { method: "picotool", picotool, usbLocation: where, uniqueId: flashId, verify: "readback (picotool load -v)" }
        }

        const write: FlashSession["write"] = (regions, onProgress) =>
          Effect.scoped(
            Effect.gen(function* () {
              const uf2 = yield* toUf2(regions)
              const name = regions.length === 1 ? regions[0]!.name : "firmware"
              const total = regions.reduce((n, r) => n + r.data.length, 0)
              const dir = yield* fs
                .makeTempDirectoryScoped({ prefix: "fp-picotool-" })
                .pipe(Effect.mapError((e) => new ImageInvalid({ region: name, detail: `cannot stage the UF2 for picotool: ${e.message}` })))
              const file = path.join(dir, `${name.replace(/[^A-Za-z0-9_-]/g, "_")}.uf2`)
              yield* fs
                .writeFile(file, uf2)
                .pipe(Effect.mapError((e) => new ImageInvalid({ region: name, detail: `cannot stage the UF2 for picotool: ${e.message}` })))
              const target = yield* pollUntil(
                selection(PICO_BOOTSEL_PID),
                settings.pollInterval,
                wait,
                () => new NoBootselDevice({ port, location: where, detail: "the Pico left BOOTSEL mode before the load" })
              )
              const loaded = yield* run(["load", "-v", "-x", file, ...target], md5Hex(uf2))
              if (!/^\s*OK\s*$/m.test(loaded.stdout)) {
                return yield* new ProtocolError({
                  port,
                  command: "picotool load -v",
                  detail: `no verify result in picotool's output: ${JSON.stringify(loaded.stdout.slice(-200))}`
                })
              }
              yield* onProgress({ region: name, written: total, total, wireBytes: uf2.length })
              return regionsReport(regions, "readback", uf2.length)
            })
          ).pipe(Effect.provide(env))

        const resetToApp: Effect.Effect<void, FlashFailure> = Effect.gen(function* () {
          // `load -x` already started the app.
          const app = yield* awaitApp(port, options, wait, flashId)
          board = { ...board, details: { ...board.details, ...(app.usbSerial ? { usbSerial: app.usbSerial } : {}) } }
        }).pipe(Effect.provide(env))

        const session: FlashSession = {
          get board() {
            return board
          },
          write,
          resetToApp
        }
        return session
      })

    const connect = (port: string, platform: Platform, options: SessionOptions) =>
      Effect.gen(function* () {
        if (!RP2040_PLATFORMS.includes(platform)) return yield* new UnsupportedPlatform({ platform, supported: RP2040_PLATFORMS })
        const wait =
          options.mcu?.bootWaitSeconds === undefined ? Duration.decode(settings.bootWait) : Duration.seconds(options.mcu.bootWaitSeconds)
        const method = options.mcu?.rp2040Method ?? "auto"
        const picotool = method === "uf2_copy" ? Option.none<string>() : yield* findOnPath("picotool")
        if (method === "picotool" && Option.isNone(picotool))
          return yield* new PicotoolMissing({ port, searched: process.env["PATH"] ?? "" })
        const location = yield* portLocation(port)
        return Option.isSome(picotool)
          ? yield* picotoolSession(port, platform, options, location, wait, picotool.value)
          : yield* copySession(port, platform, options, location, wait)
      })

    const service: FlasherService = {
      platform: RP2040_PLATFORMS,
      connect: (port, platform, options) => Effect.provide(connect(port, platform, options), env)
    }
    return service
  })

/** The flasher with Node's FileSystem, Path and CommandExecutor built in (what FlasherLive registers). */
export const makeRp2040FlasherNode = (config: Partial<Rp2040FlasherConfig> = {}) =>
  makeRp2040Flasher(config).pipe(
    Effect.provide(NodeCommandExecutor.layer.pipe(Layer.provideMerge(Layer.merge(NodeFileSystem.layer, NodePath.layer))))
  )
