/**
 * The local firmware cache under `var/firmware/`: each file stored once under
 * its sha256 (`<sha256>.zip`), and `index.json` recording model, version,
 * sha256 and size. Devices download the files from `provision serve`'s
 * `/firmware/<sha256>.zip`, so a fleet without internet updates from the LAN.
 *
 * Model and version are taken from `--model`/`--version`: the vendor's
 * package (a zip with a Mongoose OS manifest) has no published format we
 * could validate against, and a wrong guess would send the wrong image to a
 * whole fleet. The operator names them; the device itself refuses an image
 * for another model, and Stage 3 reads the version back after the update.
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect, Either, Schema } from "effect"
import { createHash } from "node:crypto"
import { FirmwareAddFailed, FirmwareCacheInvalid } from "../domain/errors/firmware.js"
import type { StateWriteError } from "../domain/errors/inventory.js"
import { safeWriteFile, writeFileAtomic } from "../runtime/safeWrite.js"
import { parseVersion } from "./version.js"

export const DEFAULT_FIRMWARE_DIR = "var/firmware"
const INDEX = "index.json"

export const FirmwareEntry = Schema.Struct({
  /** Model as the operator gave it: an app name (S2PMG3) or a model code (S3SW-002P16EU). */
  model: Schema.String,
  version: Schema.String,
  sha256: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/)),
  size: Schema.NonNegativeInt,
  /** File name inside the cache folder (`<sha256>.zip`). */
  file: Schema.String,
  /** Base name of the file the operator added (for the listing only). */
  source: Schema.String,
  added: Schema.String
})
export type FirmwareEntry = typeof FirmwareEntry.Type

const Index = Schema.Struct({ version: Schema.Literal(1), files: Schema.Array(FirmwareEntry) })

export const fileNameFor = (sha256: string): string => `${sha256}.zip`

/** `/firmware/<64 hex>.zip` is the only name the cache answers to. */
export const isCacheFileName = (name: string): boolean => /^[0-9a-f]{64}\.zip$/.test(name)

const sameModel = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase()

/** The entry for a device: its model matches the app (S2PMG3) or the model code, the version exactly. */
export const findFirmware = (
  entries: ReadonlyArray<FirmwareEntry>,
  device: { readonly app: string; readonly model: string },
  version: string
): FirmwareEntry | undefined =>
  entries.find((e) => e.version === version && (sameModel(e.model, device.app) || sameModel(e.model, device.model)))

export const loadFirmwareIndex = (dir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const file = path.join(dir, INDEX)
    const text = yield* fs.readFileString(file).pipe(
      Effect.map((t): string | undefined => t),
      Effect.catchIf(
        (e) => e._tag === "SystemError" && e.reason === "NotFound",
        () => Effect.succeed(undefined)
      ),
      Effect.mapError((e) => new FirmwareCacheInvalid({ path: file, reason: e.message }))
    )
    if (text === undefined) return [] as ReadonlyArray<FirmwareEntry>
    const parsed = Either.try(() => JSON.parse(text) as unknown)
    if (Either.isLeft(parsed)) return yield* new FirmwareCacheInvalid({ path: file, reason: "not valid JSON" })
    const decoded = Schema.decodeUnknownEither(Index)(parsed.right)
    if (Either.isLeft(decoded)) {
      return yield* new FirmwareCacheInvalid({ path: file, reason: decoded.left.message.split("\n").slice(0, 3).join(" ") })
    }
    return decoded.right.files
  })

const writeIndex = (dir: string, files: ReadonlyArray<FirmwareEntry>) =>
  Effect.flatMap(Path.Path, (path) => safeWriteFile(path.join(dir, INDEX), `${JSON.stringify({ version: 1, files }, null, 2)}\n`))

export interface AddFirmware {
  readonly file: string
  readonly model: string
  readonly version: string
  readonly dir: string
  readonly now: string
}

export type AddOutcome = { readonly entry: FirmwareEntry; readonly added: boolean }

/**
 * Copies `file` into the cache (content-addressed, by the project's one safe
 * write: `.tmp`, fsync, rename, directory fsync) and records it. The same file for the same model/version again is
 * a no-op; another file for a model/version already cached is refused, so a
 * pinned version always means one image.
 */
export const addFirmware = (
  request: AddFirmware
): Effect.Effect<AddOutcome, FirmwareAddFailed | FirmwareCacheInvalid | StateWriteError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const fail = (reason: string, fix: string) => new FirmwareAddFailed({ file: request.file, reason, fix })
    const model = request.model.trim()
    if (model === "" || !/^[A-Za-z0-9-]+$/.test(model)) {
      return yield* fail(
        `model ${JSON.stringify(request.model)} is not a model name`,
        "give --model as the app (S2PMG3) or the model code (S3SW-002P16EU)"
      )
    }
    if (parseVersion(request.version) === undefined) {
      return yield* fail(
        `version ${JSON.stringify(request.version)} is not a firmware version`,
        "give --fw-version as Shelly.GetDeviceInfo reports it, e.g. 1.7.5 or 1.8.0-beta1"
      )
    }
    const bytes = yield* fs
      .readFile(request.file)
      .pipe(Effect.mapError((e) => fail(e.message, "check the path and that the file is readable")))
    if (bytes.length === 0) return yield* fail("the file is empty", "download the firmware file again")
    const sha256 = createHash("sha256").update(bytes).digest("hex")
    const existing = yield* loadFirmwareIndex(request.dir)
    const same = existing.find((e) => sameModel(e.model, model) && e.version === request.version)
    if (same !== undefined) {
      if (same.sha256 === sha256) return { entry: same, added: false }
      return yield* fail(
        `${same.model} ${same.version} is already cached with other content (sha256 ${same.sha256.slice(0, 12)}…)`,
        "a pinned version must mean one image: check which file is right; remove the entry from var/firmware/index.json to replace it"
      )
    }
    yield* fs
      .makeDirectory(request.dir, { recursive: true })
      .pipe(Effect.mapError((e) => fail(`cannot create ${request.dir}: ${e.message}`, "check the permissions of var/")))
    const name = fileNameFor(sha256)
    const target = path.join(request.dir, name)
    const present = yield* fs.exists(target).pipe(Effect.orElseSucceed(() => false))
    if (!present) {
      yield* writeFileAtomic(target, bytes, { mode: 0o644 }).pipe(
        Effect.mapError((e) => fail(`cannot store ${target}: ${e.detail}`, "check free space and permissions of var/firmware"))
      )
    }
    const entry: FirmwareEntry = {
      model,
      version: request.version,
      sha256,
      size: bytes.length,
      file: name,
      source: path.basename(request.file),
      added: request.now
    }
    yield* writeIndex(request.dir, [...existing, entry])
    return { entry, added: true }
  })
