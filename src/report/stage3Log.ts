/**
 * Stage 3's log file (`stage3.logging.base_path`): one line per event and per
 * device, with the full error messages that the console line shortens.
 */
import { Effect } from "effect"
import type { LoggingConfig } from "../config/logging.js"
import { makeLogFile } from "./logFile.js"
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

/**
 * Log writing never fails the run: a log problem is reported once on stderr.
 * Rotation by size/count comes from `logging.max_file_size` / `backup_count`.
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
    const log: Stage3Log = { line: (text) => logFile.write(text), device: (r) => logFile.write(deviceLogLine(r)) }
    return log
  })
