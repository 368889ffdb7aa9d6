// The one safe write of the project (the runbook's §9 plus fsync): optional
// `.bak` copy of the current file, new content to `<file>.tmp`, fsync, atomic
// rename over the file, fsync of the directory so the rename itself survives a
// power cut. A reader (or a crash) sees the old or the new content, never half.
//
// Two faces over the one core, because their callers report failures in their
// own terms: `safeWriteFile` (inventory, secrets, firmware cache index, backups:
// keeps a `.bak`, keeps the file's mode, fails with StateWriteError) and
// `writeFileAtomic` / `appendFile` / `appendWithHeader` (factory records, reports, QR
// labels, log, cached firmware images: no `.bak`, creates the directory, fails
// with RecordFileError).
import { FileSystem, Path } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Data, Effect } from "effect"
import { randomUUID } from "node:crypto"
import { RecordFileError } from "../domain/errors/factory.js"
import { StateWriteError } from "../domain/errors/inventory.js"

/** A platform error in words: the system's description when it has one. */
export const platformReason = (error: PlatformError): string =>
  error._tag === "SystemError" && error.description !== undefined ? error.description : error.message

/** Errors a full or protected disk gives, in words (libuv may only say "unknown error"). */
const readableCodes: Readonly<Record<string, string>> = {
  EDQUOT: "disk quota exceeded (EDQUOT): this user may not use more space on that file system; free some or ask for a larger quota",
  ENOSPC: "no space left on the device (ENOSPC)",
  EROFS: "the file system is read-only (EROFS)",
  EIO: "input/output error from the disk (EIO)",
  EFBIG: "the file is too large for this file system (EFBIG)"
}

const errnoCode = (error: PlatformError): string | undefined => {
  if (error._tag !== "SystemError") return undefined
  const cause = error.cause
  if (typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string") return cause.code
  return /^([A-Z][A-Z0-9]+):/.exec(error.description ?? "")?.[1]
}

export const writeReason = (error: PlatformError): string => {
  const code = errnoCode(error)
  return code !== undefined && readableCodes[code] !== undefined ? readableCodes[code] : platformReason(error)
}

/** Which part of a replace failed; each face words it for its callers. */
type ReplaceStep = "mkdir" | "inspect" | "backup" | "write" | "rename" | "sync-directory"

class ReplaceFailed extends Data.TaggedError("ReplaceFailed")<{
  readonly step: ReplaceStep
  readonly cause: PlatformError
}> {}

interface ReplaceOptions {
  /** Copy the current file to `<file>.bak` first. */
  readonly backup: boolean
  /** Create the file's directory when missing. */
  readonly createDirectory: boolean
  /** Mode of the new file; undefined: `keepMode` decides, else the open default. */
  readonly mode?: number | undefined
  /** Without `mode`: the current file's mode, or 0o644 for a new file. */
  readonly keepMode: boolean
}

const replaceFile = (
  target: string,
  data: Uint8Array | string,
  options: ReplaceOptions
): Effect.Effect<void, ReplaceFailed, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const temp = `${target}.tmp`
    const failed = (step: ReplaceStep) => (cause: PlatformError) => new ReplaceFailed({ step, cause })

    if (options.createDirectory) {
      yield* fs.makeDirectory(path.dirname(target), { recursive: true }).pipe(Effect.mapError(failed("mkdir")))
    }
    const existing =
      options.backup || options.keepMode
        ? yield* fs.stat(target).pipe(
            Effect.map((info) => (info.type === "File" ? info : undefined)),
            Effect.catchIf(
              (e) => e._tag === "SystemError" && e.reason === "NotFound",
              () => Effect.succeed(undefined)
            ),
            Effect.mapError(failed("inspect"))
          )
        : undefined
    if (options.backup && existing !== undefined) {
      yield* fs.copyFile(target, `${target}.bak`).pipe(Effect.mapError(failed("backup")))
    }

    // `open` applies a mode only when it creates the file: a .tmp left by a
    // killed run would keep its old mode, so with a mode asked for it goes first.
    const mode = options.mode ?? (options.keepMode ? (existing ? existing.mode & 0o7777 : 0o644) : undefined)
    if (mode !== undefined) yield* fs.remove(temp).pipe(Effect.ignore)
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data
    const writeTemp = Effect.scoped(
      Effect.gen(function* () {
        const file = yield* fs.open(temp, { flag: "w", ...(mode !== undefined ? { mode } : {}) })
        // writeAll of zero bytes fails (WriteZero); an empty file needs no write.
        if (bytes.length > 0) yield* file.writeAll(bytes)
        yield* file.sync
      })
    ).pipe(Effect.mapError(failed("write")))

    yield* writeTemp.pipe(
      Effect.zipRight(fs.rename(temp, target).pipe(Effect.mapError(failed("rename")))),
      // A failed step leaves the old file in place; the half-made .tmp goes.
      Effect.tapError(() => fs.remove(temp).pipe(Effect.ignore))
    )

    yield* Effect.scoped(fs.open(path.dirname(target) || ".", { flag: "r" }).pipe(Effect.flatMap((dir) => dir.sync))).pipe(
      Effect.mapError(failed("sync-directory"))
    )
  })

export interface SafeWriteOptions {
  /** Mode of the written file (e.g. 0o600 for secrets); default: the current file's, or 0o644. */
  readonly mode?: number | undefined
}

/** Replaces a state file (inventory, secrets, caches) keeping a `.bak` of the old one. */
export const safeWriteFile = (
  target: string,
  content: string,
  options: SafeWriteOptions = {}
): Effect.Effect<void, StateWriteError, FileSystem.FileSystem | Path.Path> => {
  const temp = `${target}.tmp`
  const what: Record<ReplaceStep, string> = {
    mkdir: "cannot create the directory",
    inspect: "cannot inspect the current file",
    backup: `cannot make backup ${target}.bak`,
    write: `cannot write ${temp}`,
    rename: `cannot rename ${temp} over it`,
    "sync-directory": "the new content is in place, but the directory cannot be synced"
  }
  return replaceFile(target, content, { backup: true, createDirectory: false, keepMode: true, mode: options.mode }).pipe(
    Effect.mapError(
      (error) =>
        new StateWriteError({
          path: target,
          reason: `${what[error.step]}: ${writeReason(error.cause)}`,
          replaced: error.step === "sync-directory"
        })
    )
  )
}

const recordFileError = (path: string, operation: string) => (error: { readonly message: string }) =>
  new RecordFileError({ path, operation, detail: error.message })

/** Replaces a record/report/label file whole (no `.bak`: the content is derived or appended elsewhere). */
export const writeFileAtomic = (
  file: string,
  data: Uint8Array | string,
  options: { readonly mode?: number } = {}
): Effect.Effect<void, RecordFileError, FileSystem.FileSystem | Path.Path> =>
  replaceFile(file, data, { backup: false, createDirectory: true, keepMode: false, mode: options.mode }).pipe(
    Effect.mapError((error) => recordFileError(file, "writing")(error.cause))
  )

/** Appends in one write call on an O_APPEND handle, so concurrent appenders never interleave a line. */
export const appendFile = (file: string, text: string, options: { readonly mode?: number } = {}) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    yield* fs.makeDirectory(path.dirname(file), { recursive: true })
    yield* Effect.scoped(
      Effect.gen(function* () {
        const handle = yield* fs.open(file, { flag: "a", ...(options.mode !== undefined ? { mode: options.mode } : {}) })
        yield* handle.writeAll(new TextEncoder().encode(text))
        yield* handle.sync
      })
    )
  }).pipe(Effect.mapError(recordFileError(file, "appending to")))

/** A system error of this kind (`AlreadyExists`, `NotFound`, …), as @effect/platform names errno codes. */
export const isSystemReason = (reason: string) => (error: PlatformError) => error._tag === "SystemError" && error.reason === reason

/**
 * Appends `text` to a file that begins with `header` (a CSV with its column
 * line). A new file is made whole, header only, under a name of this process
 * and hard-linked to its place: the link fails when the name exists, so of
 * processes starting the same file at once exactly one header lands, and
 * every row (its own write on an O_APPEND handle) comes after it. A file that
 * exists but is empty gets the header with the row, as before.
 */
export const appendWithHeader = (file: string, header: string, text: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    if (!(yield* fs.exists(file))) {
      yield* fs.makeDirectory(path.dirname(file), { recursive: true })
      // Its own name per call: writers in one process race each other too.
      const fresh = `${file}.${process.pid}.${randomUUID()}.new`
      yield* fs
        .writeFileString(fresh, header)
        .pipe(
          Effect.zipRight(fs.link(fresh, file).pipe(Effect.catchIf(isSystemReason("AlreadyExists"), () => Effect.void))),
          Effect.ensuring(fs.remove(fresh).pipe(Effect.ignore))
        )
    }
    const empty = Number((yield* fs.stat(file)).size) === 0
    return yield* appendFile(file, empty ? `${header}${text}` : text)
  }).pipe(Effect.mapError((error) => (error instanceof RecordFileError ? error : recordFileError(file, "appending to")(error))))
