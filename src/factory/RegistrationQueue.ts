import { FileSystem, Path } from "@effect/platform"
import { Context, Effect, Either, Layer, Schema } from "effect"
import { RecordFileError } from "../domain/errors/factory.js"
import { appendFile, writeFileAtomic } from "../runtime/safeWrite.js"
import { Registration } from "./registration.js"

/**
 * Registrations the backend did not take yet (it was down), one JSON line
 * each. The file holds per-device secrets in clear (they must reach the
 * backend later), so it is created 0600 and never printed.
 */
export interface RegistrationQueueService {
  readonly path: string
  readonly enqueue: (registration: Registration) => Effect.Effect<void, RecordFileError>
  /** Parsed entries; lines that do not parse are reported in `unreadable` and stay in the file. */
  readonly read: Effect.Effect<{ readonly entries: ReadonlyArray<Registration>; readonly unreadable: number }, RecordFileError>
  /** Drops the entries of these devices (delivered), keeping every other line byte for byte. */
  readonly remove: (deviceIds: ReadonlySet<string>) => Effect.Effect<void, RecordFileError>
}

export class RegistrationQueue extends Context.Tag("fleet-provision/RegistrationQueue")<RegistrationQueue, RegistrationQueueService>() {}

const Line = Schema.parseJson(Registration)
const encodeLine = Schema.encodeSync(Line)
const decodeLine = Schema.decodeUnknownEither(Line)

export const makeRegistrationQueue = (path: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const context = yield* Effect.context<FileSystem.FileSystem | Path.Path>()
    const provideFs = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>) => Effect.provide(effect, context)
    // Appends (from parallel ports) and rewrites (sync) must not overlap.
    const lock = yield* Effect.makeSemaphore(1)
    const readLines = fs.readFileString(path).pipe(
      Effect.map((text) => text.split("\n").filter((line) => line.trim() !== "")),
      Effect.catchAll((error) =>
        error._tag === "SystemError" && error.reason === "NotFound"
          ? Effect.succeed([] as Array<string>)
          : Effect.fail(new RecordFileError({ path, operation: "reading", detail: error.message }))
      )
    )
    const service: RegistrationQueueService = {
      path,
      enqueue: (registration) =>
        lock
          .withPermits(1)(appendFile(path, `${encodeLine(registration)}\n`, { mode: 0o600 }))
          .pipe(provideFs),
      read: lock.withPermits(1)(
        readLines.pipe(
          Effect.map((lines) => {
            const entries: Array<Registration> = []
            let unreadable = 0
            for (const line of lines) {
              const decoded = decodeLine(line)
              if (Either.isRight(decoded)) entries.push(decoded.right)
              else unreadable += 1
            }
            return { entries, unreadable }
          })
        )
      ),
      remove: (deviceIds) =>
        lock.withPermits(1)(
          Effect.gen(function* () {
            const lines = yield* readLines
            const kept = lines.filter((line) => {
              const decoded = decodeLine(line)
              return Either.isLeft(decoded) || !deviceIds.has(decoded.right.device_id)
            })
            yield* writeFileAtomic(path, kept.map((line) => `${line}\n`).join(""), { mode: 0o600 }).pipe(provideFs)
          })
        )
    }
    return service
  })

export const RegistrationQueueLive = (path: string) => Layer.effect(RegistrationQueue, makeRegistrationQueue(path))
