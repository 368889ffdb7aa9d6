import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import { RecordFileError } from "../domain/errors/factory.js"

const fileError = (path: string, operation: string) => (error: { readonly message: string }) =>
  new RecordFileError({ path, operation, detail: error.message })

/**
 * Replaces a file whole: write `<file>.tmp`, fsync, rename over the target, so
 * a reader (or a crash) sees the old or the new content, never half of it.
 */
export const writeFileAtomic = (file: string, data: Uint8Array | string, options: { readonly mode?: number } = {}) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    yield* fs.makeDirectory(path.dirname(file), { recursive: true })
    const tmp = `${file}.tmp`
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data
    yield* Effect.scoped(
      Effect.gen(function* () {
        const handle = yield* fs.open(tmp, { flag: "w", ...(options.mode !== undefined ? { mode: options.mode } : {}) })
        // writeAll of zero bytes fails (WriteZero); an empty file needs no write.
        if (bytes.length > 0) yield* handle.writeAll(bytes)
        yield* handle.sync
      })
    )
    yield* fs.rename(tmp, file)
  }).pipe(Effect.mapError(fileError(file, "writing")))

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
  }).pipe(Effect.mapError(fileError(file, "appending to")))

/** Size of a file, 0 when it does not exist yet. */
export const fileSize = (file: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const exists = yield* fs.exists(file)
    if (!exists) return 0
    const info = yield* fs.stat(file)
    return Number(info.size)
  }).pipe(Effect.mapError(fileError(file, "reading")))
