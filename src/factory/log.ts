import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import { appendFile, fileSize } from "../runtime/safeWrite.js"

export type LogLevel = "DEBUG" | "INFO" | "WARNING" | "ERROR"
const rank: Record<LogLevel, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40 }

export interface FactoryLogOptions {
  readonly file: string
  readonly level: LogLevel
  readonly maxFileSize: number
  readonly backupCount: number
  /** Echo DEBUG/WARNING/ERROR records to stderr (INFO is what the result lines already show). */
  readonly console?: ((line: string) => void) | undefined
}

/**
 * `var/log/factory-provisioning.log`, rotated like Python's RotatingFileHandler
 * (the runbook's `max_file_size` / `backup_count`): `.log` → `.log.1` → … →
 * `.log.<backup_count>`, the oldest dropped. Callers pass only non-secret text.
 */
export const makeFactoryLog = (options: FactoryLogOptions) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const context = yield* Effect.context<FileSystem.FileSystem | Path.Path>()
    const lock = yield* Effect.makeSemaphore(1)

    const rotate = Effect.gen(function* () {
      if (options.backupCount === 0) return yield* fs.remove(options.file, { force: true })
      yield* fs.remove(`${options.file}.${options.backupCount}`, { force: true })
      for (let n = options.backupCount - 1; n >= 1; n--) {
        const from = `${options.file}.${n}`
        if (yield* fs.exists(from)) yield* fs.rename(from, `${options.file}.${n + 1}`)
      }
      yield* fs.rename(options.file, `${options.file}.1`)
    })

    const write = (level: LogLevel, message: string) => {
      if (rank[level] < rank[options.level]) return Effect.void
      const line = `${new Date().toISOString()} ${level.padEnd(7)} ${message.replace(/\r?\n/g, " ")}\n`
      return lock
        .withPermits(1)(
          Effect.gen(function* () {
            const size = yield* fileSize(options.file)
            if (size > 0 && size + line.length > options.maxFileSize) yield* rotate
            yield* appendFile(options.file, line)
            if (options.console && level !== "INFO") options.console(line.trimEnd())
          })
        )
        .pipe(
          Effect.provide(context),
          // A log that cannot be written must not fail a board; the records are the source of truth.
          Effect.catchAll(() => Effect.void)
        )
    }
    return {
      debug: (message: string) => write("DEBUG", message),
      info: (message: string) => write("INFO", message),
      warn: (message: string) => write("WARNING", message),
      error: (message: string) => write("ERROR", message)
    }
  })
export type FactoryLog = Effect.Effect.Success<ReturnType<typeof makeFactoryLog>>
