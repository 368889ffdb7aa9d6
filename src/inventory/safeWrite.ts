// The runbook's safe write (§9) plus fsync: `.bak` copy of the current file,
// new content to `.tmp`, fsync, atomic rename over the file, fsync of the
// directory so the rename itself survives a power cut.
import { FileSystem, Path } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Effect } from "effect"
import { StateWriteError } from "../domain/errors/inventory.js"
import { platformReason } from "./lockFile.js"

export interface SafeWriteOptions {
  /** Mode of the written file (e.g. 0o600 for secrets); default: the current file's, or 0o644. */
  readonly mode?: number | undefined
}

export const safeWriteFile = (
  target: string,
  content: string,
  options: SafeWriteOptions = {}
): Effect.Effect<void, StateWriteError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const temp = `${target}.tmp`
    const step = (what: string) => (error: PlatformError) =>
      new StateWriteError({ path: target, reason: `${what}: ${platformReason(error)}` })

    const existing = yield* fs.stat(target).pipe(
      Effect.map((info) => (info.type === "File" ? info : undefined)),
      Effect.catchIf((e) => e._tag === "SystemError" && e.reason === "NotFound", () => Effect.succeed(undefined)),
      Effect.mapError(step("cannot inspect the current file"))
    )
    if (existing !== undefined) {
      yield* fs.copyFile(target, `${target}.bak`).pipe(Effect.mapError(step(`cannot make backup ${target}.bak`)))
    }

    // `open` applies a mode only when it creates the file: a .tmp left by a
    // killed run would keep its old mode, so with a mode asked for it goes first.
    if (options.mode !== undefined) yield* fs.remove(temp).pipe(Effect.ignore)
    const writeTemp = Effect.scoped(
      Effect.gen(function*() {
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

    yield* Effect.scoped(
      fs.open(path.dirname(target) || ".", { flag: "r" }).pipe(Effect.flatMap((dir) => dir.sync))
    ).pipe(Effect.mapError(step("renamed, but cannot fsync the directory")))
  })
