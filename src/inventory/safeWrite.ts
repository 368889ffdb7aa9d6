// The runbook's safe write (§9) plus fsync: `.bak` copy of the current file,
// new content to `.tmp`, fsync, atomic rename over the file, fsync of the
// directory so the rename itself survives a power cut.
import { FileSystem, Path } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Effect } from "effect"
import { StateWriteError } from "../domain/errors/inventory.js"
import { platformReason } from "./lockFile.js"

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

export interface SafeWriteOptions {
  /** Mode of the written file (e.g. 0o600 for secrets); default: the current file's, or 0o644. */
  readonly mode?: number | undefined
}

export const safeWriteFile = (
  target: string,
  content: string,
  options: SafeWriteOptions = {}
): Effect.Effect<void, StateWriteError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const temp = `${target}.tmp`
    const step =
      (what: string, replaced = false) =>
      (error: PlatformError) =>
        new StateWriteError({ path: target, reason: `${what}: ${writeReason(error)}`, replaced })

    const existing = yield* fs.stat(target).pipe(
      Effect.map((info) => (info.type === "File" ? info : undefined)),
      Effect.catchIf(
        (e) => e._tag === "SystemError" && e.reason === "NotFound",
        () => Effect.succeed(undefined)
      ),
      Effect.mapError(step("cannot inspect the current file"))
    )
    if (existing !== undefined) {
      yield* fs.copyFile(target, `${target}.bak`).pipe(Effect.mapError(step(`cannot make backup ${target}.bak`)))
    }

    // `open` applies a mode only when it creates the file: a .tmp left by a
    // killed run would keep its old mode, so with a mode asked for it goes first.
    if (options.mode !== undefined) yield* fs.remove(temp).pipe(Effect.ignore)
    const writeTemp = Effect.scoped(
      Effect.gen(function* () {
        const file = yield* fs.open(temp, { flag: "w", mode: options.mode ?? (existing ? existing.mode & 0o7777 : 0o644) })
        yield* file.writeAll(new TextEncoder().encode(content))
        yield* file.sync
      })
    ).pipe(Effect.mapError(step(`cannot write ${temp}`)))

    yield* writeTemp.pipe(
      Effect.zipRight(fs.rename(temp, target).pipe(Effect.mapError(step(`cannot rename ${temp} over it`)))),
      // A failed step leaves the old file in place; the half-made .tmp goes.
      Effect.tapError(() => fs.remove(temp).pipe(Effect.ignore))
    )

    yield* Effect.scoped(fs.open(path.dirname(target) || ".", { flag: "r" }).pipe(Effect.flatMap((dir) => dir.sync))).pipe(
      Effect.mapError(step("the new content is in place, but the directory cannot be synced", true))
    )
  })
