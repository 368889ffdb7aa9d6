/**
 * Stage 3's log file (`stage3.logging.base_path`): one line per event and per
 * device, with the full error messages that the console line shortens.
 */
import { Effect, LogLevel } from "effect"
import type { LoggingConfig } from "../config/logging.js"
import { formatLogLine, makeLogFile } from "../runtime/logFile.js"
import type { Stage3DeviceOutcome } from "../stages/stage3.js"
import { otaLabel } from "./stage3Line.js"

export interface Stage3Log {
  readonly line: (text: string) => Effect.Effect<void>
  readonly device: (result: Stage3DeviceOutcome) => Effect.Effect<void>
}

export const deviceLogLine = (r: Stage3DeviceOutcome): string =>
  [
    `device ${r.key} ip=${r.ip} model=${r.label}`,
    `ota=${r.ota}${r.ota === "update_available" ? ` (${otaLabel(r.ota)} ${r.otaVersion ?? ""})` : ""}`,
    r.friendly === undefined ? "" : `friendly=${r.friendly}${r.friendlyName === undefined ? "" : ` ${JSON.stringify(r.friendlyName)}`}`,
    r.wroteName ? "name_written" : "",
    r.startedUpdate ? "update_started" : "",
    r.failed ? "FAILED" : "ok",
    ...r.details.map((d) => `| ${d}`)
  ]
    .filter((part) => part !== "")
    .join(" ")

/** Device lines gathered before one append (a 10,000-device run is 100 writes, not 10,000 open/append/close). */
const DEVICE_LINES_PER_WRITE = 100

/**
 * Log writing never fails the run: a log problem is reported once on stderr.
 * Rotation by size/count comes from `logging.max_file_size` / `backup_count`.
 * Device lines are written in batches; event lines and the end of the
 * caller's scope write out what is pending first, so the order holds.
 */
export const openStage3Log = (file: string, logging: LoggingConfig) =>
  Effect.gen(function* () {
    let warned = false
    const logFile = yield* makeLogFile({
      path: file,
      maxFileSize: logging.max_file_size,
      backupCount: logging.backup_count,
      onError: (message) =>
        Effect.sync(() => {
          if (!warned) process.stderr.write(`warning: cannot write log file ${file}: ${message}\n`)
          warned = true
        })
    })
    let pending: Array<string> = []
    const flush = Effect.suspend(() => {
      if (pending.length === 0) return Effect.void
      const text = pending.join("")
      pending = []
      return logFile.append(text)
    })
    yield* Effect.addFinalizer(() => flush)
    const log: Stage3Log = {
      line: (text) => Effect.zipRight(flush, logFile.write(text)),
      device: (r) =>
        Effect.suspend(() => {
          pending.push(formatLogLine(new Date(), LogLevel.Info, deviceLogLine(r)))
          return pending.length >= DEVICE_LINES_PER_WRITE ? flush : Effect.void
        })
    }
    return log
  })
