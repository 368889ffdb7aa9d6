/**
 * The local spool: records (and batch ends) the database could not take,
 * one JSON line each, until a replay writes them in. Replays are idempotent
 * (unique key per board attempt), so a crash between the database commit and
 * the spool rewrite repeats a no-op, never a duplicate.
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect, Either, Schema } from "effect"
import { DatabaseError } from "../domain/errors/store.js"
import { appendFile, writeFileAtomic } from "../runtime/safeWrite.js"

export const SpoolEntry = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("record"), key: Schema.String, row: Schema.Unknown, steps: Schema.Unknown }),
  Schema.Struct({ kind: Schema.Literal("batch"), key: Schema.String, batch: Schema.Unknown })
)
export type SpoolEntry = typeof SpoolEntry.Type
const Line = Schema.parseJson(SpoolEntry)
const decodeLine = Schema.decodeUnknownEither(Line)

const spoolError = (file: string, operation: string) => (error: { readonly message: string }) =>
  new DatabaseError({ operation: `spool ${operation} (${file})`, detail: error.message })

export const makeSpool = (file: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    // The file-system services for the shared write helpers (runtime/safeWrite.ts), captured once.
    const files = yield* Effect.context<FileSystem.FileSystem | Path.Path>()
    const lock = yield* Effect.makeSemaphore(1)
    const readAll = fs.readFileString(file).pipe(
      Effect.catchIf(
        (e) => e._tag === "SystemError" && e.reason === "NotFound",
        () => Effect.succeed("")
      ),
      Effect.map((text) =>
        text
          .split("\n")
          .filter((line) => line.trim() !== "")
          .map((line) => {
            // A line that does not decode (a torn write, a hand edit) is never replayed, and never dropped either.
            const entry = decodeLine(line)
            return { line, entry: Either.isRight(entry) ? entry.right : undefined }
          })
      ),
      Effect.mapError(spoolError(file, "reading"))
    )
    const append = (entry: SpoolEntry) =>
      lock.withPermits(1)(
        appendFile(file, `${JSON.stringify(entry)}\n`).pipe(Effect.mapError(spoolError(file, "appending")), Effect.provide(files))
      )
    /** Entries in file order. */
    const entries = lock
      .withPermits(1)(readAll)
      .pipe(Effect.map((all) => all.flatMap((e) => (e.entry === undefined ? [] : [e.entry]))))
    /** Drops entries by key (written to the database), keeping the rest byte for byte. */
    const remove = (keys: ReadonlySet<string>) =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          const all = yield* readAll
          const kept = all
            .filter((e) => e.entry === undefined || !keys.has(e.entry.key))
            .map((e) => `${e.line}\n`)
            .join("")
          if (kept === "") return yield* fs.remove(file).pipe(Effect.catchAll(() => Effect.void))
          yield* writeFileAtomic(file, kept).pipe(Effect.mapError(spoolError(file, "rewriting")))
        }).pipe(Effect.provide(files))
      )
    /** Beside the spool: entries the database refused for good, each with the reason, kept for the operator. */
    const rejectedFile = file.replace(/(\.jsonl)?$/, ".rejected.jsonl")
    const reject = (entry: SpoolEntry, reason: string) =>
      appendFile(rejectedFile, `${JSON.stringify({ rejected_at: new Date().toISOString(), reason, entry })}\n`).pipe(
        Effect.mapError(spoolError(rejectedFile, "appending")),
        Effect.provide(files)
      )
    return { file, rejectedFile, append, entries, remove, reject }
  })

export type Spool = Effect.Effect.Success<ReturnType<typeof makeSpool>>
