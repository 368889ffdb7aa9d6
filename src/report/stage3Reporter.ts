import type { Stage3DeviceResult, Stage3Summary } from "../stages/stage3/result.js"
import type { RunProgress } from "../runtime/RunOutput.js"
import { stage3DeviceJson, stage3SummaryJson } from "./stage3Json.js"
import { formatStage3Line, formatStage3Summary } from "./stage3Line.js"

export interface Stage3ReportOptions {
  /** JSON Lines instead of the runbook's lines. */
  readonly json: boolean
  /** Only devices with an `ERR=` part, and the summary. */
  readonly quiet: boolean
  /** Leave out devices with `OTA=offline` (they are still processed and counted). */
  readonly online: boolean
  readonly dryRun: boolean
  readonly color: boolean
  readonly total: number
}

export interface Stage3Reporter {
  readonly device: (result: Stage3DeviceResult) => void
  readonly summary: (summary: Stage3Summary) => void
}

/** Whether a device gets a line (or JSON object) under `--quiet` / `--online`. */
export const isShown = (result: Stage3DeviceResult, options: Pick<Stage3ReportOptions, "quiet" | "online">): boolean => {
  if (options.online && result.ota === "offline") return false
  if (options.quiet) return result.errors.length > 0
  return true
}

/**
 * Writes device lines and the summary to `out` (a RunOutput's results), and
 * ticks the output's progress indicator (`progress`, never with `--json`)
 * once per device; the terminal's bar erases itself before each line.
 */
export const makeStage3Reporter = (
  options: Stage3ReportOptions,
  out: (line: string) => void,
  progress?: (label: string, total: number) => RunProgress
): Stage3Reporter => {
  const bar = progress && !options.json ? progress(options.dryRun ? "stage3 (dry run)" : "stage3", options.total) : undefined
  return {
    device: (result) => {
      if (isShown(result, options)) {
        out(options.json ? JSON.stringify(stage3DeviceJson(result)) : formatStage3Line(result, options.color))
      }
      bar?.tick(result.failed)
    },
    summary: (summary) => {
      bar?.finish()
      out(options.json ? JSON.stringify(stage3SummaryJson(summary, options.dryRun)) : formatStage3Summary(summary))
    }
  }
}
