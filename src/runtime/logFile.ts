// The one rotating log file of the project: lines appended to a file (e.g.
// var/log/stage3.log, var/log/factory-provisioning.log), rotated by size like
// Python's RotatingFileHandler into file.1 … file.N (the oldest dropped), and
// an Effect Logger that writes there instead of the console, so stages log
// without disturbing their output lines. The factory log (factory/log.ts)
// writes its own line format through `append`.
import { FileSystem, Path } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Cause, Context, Effect, Fiber, HashMap, Inspectable, Layer, List, Logger, LogLevel, Queue, Redacted, Ref } from "effect"
import { printableLines } from "../domain/printable.js"

export interface LogFileOptions {
  /** Relative paths: to the current directory (the project root). */
  readonly path: string
  /** Bytes; a write that would grow the file past this rotates it first. */
  readonly maxFileSize: number
  /** Rotated files kept (file.1 is the newest); 0 truncates instead. */
  readonly backupCount: number
  /** Told about a failed write (e.g. to warn once on stderr); the line is dropped either way. */
  readonly onError?: (reason: string) => Effect.Effect<void>
}

export interface LogFileService {
  /** Appends one timestamped line (`<ISO time> <LEVEL> <text>`). */
  readonly write: (text: string, level?: LogLevel.LogLevel) => Effect.Effect<void>
  /** Appends complete lines as they are (each should end with "\n"). */
  readonly append: (lines: string) => Effect.Effect<void>
}

export class LogFile extends Context.Tag("fleet-provision/LogFile")<LogFile, LogFileService>() {}

const levelName = (level: LogLevel.LogLevel): string => level.label.padEnd(5)

/** `2025-01-10T06:00:00.000Z INFO  text`; continuation lines are indented so each entry stays readable. */
export const formatLogLine = (date: Date, level: LogLevel.LogLevel, text: string): string =>
  `${date.toISOString()} ${levelName(level)} ${text.replace(/\r?\n/g, "\n    ")}\n`

/** A logged value as text; Redacted values (also nested ones) come out as `<redacted>`. */
export const logValueText = (value: unknown): string => {
  if (typeof value === "string") return value
  if (Redacted.isRedacted(value)) return "<redacted>"
  // JSON goes through Redacted's toJSON, which yields "<redacted>".
  return Inspectable.toStringUnknown(value, 0)
}

const isNotFound = (error: PlatformError) => error._tag === "SystemError" && error.reason === "NotFound"

export const makeLogFile = (options: LogFileOptions): Effect.Effect<LogFileService, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const lock = yield* Effect.makeSemaphore(1)
    const ready = yield* Ref.make(false)
    const size = yield* Ref.make(0)

    const prepare = Ref.get(ready).pipe(
      Effect.flatMap((done) =>
        done
          ? Effect.void
          : fs.makeDirectory(path.dirname(options.path), { recursive: true }).pipe(
              Effect.zipRight(fs.stat(options.path)),
              Effect.map((info) => ({ isFile: info.type === "File", size: Number(info.size) })),
              Effect.catchIf(isNotFound, () => Effect.succeed({ isFile: true, size: 0 })),
              // Never rotate (rename) something that is not our log file.
              Effect.filterOrFail(
                (found) => found.isFile,
                () => new Error(`${options.path} exists but is not a regular file`)
              ),
              Effect.map((found) => found.size),
              Effect.flatMap((bytes) => Ref.set(size, bytes)),
              Effect.zipRight(Ref.set(ready, true))
            )
      )
    )

    const rotate = Effect.gen(function* () {
      if (options.backupCount <= 0) {
        yield* fs.writeFileString(options.path, "")
      } else {
        yield* fs.remove(`${options.path}.${options.backupCount}`).pipe(Effect.catchIf(isNotFound, () => Effect.void))
        for (let i = options.backupCount - 1; i >= 1; i--) {
          yield* fs.rename(`${options.path}.${i}`, `${options.path}.${i + 1}`).pipe(Effect.catchIf(isNotFound, () => Effect.void))
        }
        yield* fs.rename(options.path, `${options.path}.1`).pipe(Effect.catchIf(isNotFound, () => Effect.void))
      }
      yield* Ref.set(size, 0)
    })

    const append = (given: string): Effect.Effect<void> => {
      // Device text in a log line must not drive the terminal of whoever runs `tail -f` on it.
      const lines = printableLines(given)
      const bytes = Buffer.byteLength(lines)
      return lock
        .withPermits(1)(
          Effect.gen(function* () {
            yield* prepare
            const current = yield* Ref.get(size)
            if (current > 0 && current + bytes > options.maxFileSize) yield* rotate
            yield* fs.writeFileString(options.path, lines, { flag: "a" })
            yield* Ref.update(size, (n) => n + bytes)
          })
        )
        .pipe(
          // Logging must never break a run: a full disk loses log lines, not devices.
          Effect.catchAll((error: { readonly message: string }) => options.onError?.(error.message) ?? Effect.void)
        )
    }

    const write = (text: string, level: LogLevel.LogLevel = LogLevel.Info) =>
      Effect.suspend(() => append(formatLogLine(new Date(), level, text)))

    return { write, append }
  })

export const logFileLayer = (options: LogFileOptions): Layer.Layer<LogFile, never, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(LogFile, makeLogFile(options))

/** The text of one log entry: message parts, then `key=value` annotations, then the cause. */
const entryText = (options: Logger.Logger.Options<unknown>): string => {
  const parts = Array.isArray(options.message) ? options.message : [options.message]
  let text = parts.map(logValueText).join(" ")
  for (const [key, value] of HashMap.toEntries(options.annotations)) text += ` ${key}=${logValueText(value)}`
  for (const span of List.toArray(options.spans)) text += ` ${span.label}=${options.date.getTime() - span.startTime}ms`
  if (!Cause.isEmpty(options.cause)) text += `\n${Cause.pretty(options.cause)}`
  return text
}

/**
 * Replaces the default (console) logger for the layer's scope: every
 * Effect.log* at or above `minimumLevel` goes to the file. Lines are queued by
 * the logger (which must not block) and written by a background fiber; the
 * queue is flushed when the scope closes.
 */
export const fileLoggerLayer = (
  options: LogFileOptions & { readonly minimumLevel?: LogLevel.LogLevel }
): Layer.Layer<never, never, FileSystem.FileSystem | Path.Path> =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const file = yield* makeLogFile(options)
      const queue = yield* Queue.unbounded<string>()
      const drain = Queue.takeAll(queue).pipe(
        Effect.flatMap((chunk) => (chunk.length === 0 ? Effect.void : file.append(Array.from(chunk).join(""))))
      )
      const writer = yield* Queue.take(queue).pipe(
        Effect.flatMap((first) =>
          // Uninterruptible once taken, so closing the scope never drops lines in flight.
          Effect.uninterruptible(Queue.takeAll(queue).pipe(Effect.flatMap((rest) => file.append(first + Array.from(rest).join("")))))
        ),
        Effect.forever,
        Effect.forkDaemon
      )
      yield* Effect.addFinalizer(() => Fiber.interrupt(writer).pipe(Effect.zipRight(drain)))
      const logger = Logger.make<unknown, void>((entry) => {
        Queue.unsafeOffer(queue, formatLogLine(entry.date, entry.logLevel, entryText(entry)))
      })
      return Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(options.minimumLevel ?? LogLevel.Info))
    })
  )

/** config.yaml `logging.level` → LogLevel. */
export const logLevelFromName = (name: "debug" | "info" | "warning" | "error"): LogLevel.LogLevel =>
  name === "debug" ? LogLevel.Debug : name === "warning" ? LogLevel.Warning : name === "error" ? LogLevel.Error : LogLevel.Info
