import type { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import { makeLogFile } from "../runtime/logFile.js"

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
 * `var/log/factory-provisioning.log` in the runbook's line format
 * (`<ISO time> <LEVEL padded to 7> <message on one line>`), rotated by the
 * shared log file (the runbook's `max_file_size` / `backup_count`): `.log` →
 * `.log.1` → … → `.log.<backup_count>`, the oldest dropped. Callers pass only
 * non-secret text. A log that cannot be written never fails a board: the
 * records are the source of truth.
 */
export const makeFactoryLog = (options: FactoryLogOptions): Effect.Effect<FactoryLog, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const file = yield* makeLogFile({ path: options.file, maxFileSize: options.maxFileSize, backupCount: options.backupCount })
    const write = (level: LogLevel, message: string) =>
      Effect.suspend(() => {
        if (rank[level] < rank[options.level]) return Effect.void
        const line = `${new Date().toISOString()} ${level.padEnd(7)} ${message.replace(/\r?\n/g, " ")}\n`
        return file
          .append(line)
          .pipe(Effect.zipRight(Effect.sync(() => (options.console && level !== "INFO" ? options.console(line.trimEnd()) : undefined))))
      })
    return {
      debug: (message: string) => write("DEBUG", message),
      info: (message: string) => write("INFO", message),
      warn: (message: string) => write("WARNING", message),
      error: (message: string) => write("ERROR", message)
    }
  })

export interface FactoryLog {
  readonly debug: (message: string) => Effect.Effect<void>
  readonly info: (message: string) => Effect.Effect<void>
  readonly warn: (message: string) => Effect.Effect<void>
  readonly error: (message: string) => Effect.Effect<void>
}
