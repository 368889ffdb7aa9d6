/**
 * Stage 3's log file (`stage3.logging.base_path`): one line per event and per
 * device, with the full error messages that the console line shortens.
 */
import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import type { LoggingConfig } from "../config/logging.js"
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

/** Log writing never fails the run: a log problem is reported once on stderr. */
export const openStage3Log = (file: string, _logging: LoggingConfig) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    let warned = false
    const append = (text: string) =>
      fs.writeFileString(file, `${new Date().toISOString()} ${text}\n`, { flag: "a" }).pipe(
        Effect.catchAll((e) =>
          Effect.sync(() => {
            if (!warned) process.stderr.write(`warning: cannot write log file ${file}: ${e.message}\n`)
            warned = true
          })
        )
      )
    yield* fs.makeDirectory(path.dirname(file), { recursive: true }).pipe(Effect.ignore)
    const log: Stage3Log = { line: append, device: (r) => append(deviceLogLine(r)) }
    return log
  })
