import type { FileSystem, Path } from "@effect/platform"
import { Context, Effect, Layer } from "effect"
import { RunOutput } from "../runtime/RunOutput.js"
import { makeLogFile } from "../runtime/logFile.js"

export type LogLevel = "DEBUG" | "INFO" | "WARNING" | "ERROR"
const rank: Record<LogLevel, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40 }

export interface FactoryLogOptions {
  readonly file: string
  readonly level: LogLevel
  readonly maxFileSize: number
  readonly backupCount: number
  /**
   * `logging.console_output`: DEBUG/WARNING/ERROR records also go to the
   * run's diagnostics (RunOutput; stderr on a terminal). INFO is what the
   * result lines already show.
   */
  readonly console?: boolean | undefined
}

export interface FactoryLog {
  readonly debug: (message: string) => Effect.Effect<void>
  readonly info: (message: string) => Effect.Effect<void>
  readonly warn: (message: string) => Effect.Effect<void>
  readonly error: (message: string) => Effect.Effect<void>
}

/** The factory log as a service: the batch and its board steps write to it; the caller picks the file by layer. */
export class FactoryLogFile extends Context.Tag("fleet-provision/FactoryLog")<FactoryLogFile, FactoryLog>() {}

/**
 * `var/log/factory-provisioning.log` in the runbook's line format
 * (`<ISO time> <LEVEL padded to 7> <message on one line>`), rotated by the
 * shared log file (the runbook's `max_file_size` / `backup_count`): `.log` →
 * `.log.1` → … → `.log.<backup_count>`, the oldest dropped. Callers pass only
 * non-secret text. A log that cannot be written never fails a board: the
 * records are the source of truth.
 */
export const makeFactoryLog = (
  options: FactoryLogOptions
): Effect.Effect<FactoryLog, never, FileSystem.FileSystem | Path.Path | RunOutput> =>
  Effect.gen(function* () {
    const file = yield* makeLogFile({ path: options.file, maxFileSize: options.maxFileSize, backupCount: options.backupCount })
    const output = yield* RunOutput
    const write = (level: LogLevel, message: string) =>
      Effect.suspend(() => {
        if (rank[level] < rank[options.level]) return Effect.void
        const line = `${new Date().toISOString()} ${level.padEnd(7)} ${message.replace(/\r?\n/g, " ")}\n`
        return file
          .append(line)
          .pipe(Effect.zipRight(options.console === true && level !== "INFO" ? output.diagnostic(line.trimEnd()) : Effect.void))
      })
    return {
      debug: (message: string) => write("DEBUG", message),
      info: (message: string) => write("INFO", message),
      warn: (message: string) => write("WARNING", message),
      error: (message: string) => write("ERROR", message)
    }
  })

export const factoryLogLayer = (
  options: FactoryLogOptions
): Layer.Layer<FactoryLogFile, never, FileSystem.FileSystem | Path.Path | RunOutput> =>
  Layer.effect(FactoryLogFile, makeFactoryLog(options))
