/**
 * The process's own RunOutput implementations (runtime/RunOutput.ts):
 * - terminal: results on stdout, diagnostics on stderr, colours per
 *   `NO_COLOR`/`FORCE_COLOR` and whether stdout is a TTY, and the progress bar
 *   or the per-port rows (report/portProgress.ts) on stderr when that is a
 *   terminal (erased before any other line, so both share one screen);
 * - `--json`: the same streams, no colour and no progress bar, so stdout
 *   carries only what the run prints as its JSON document.
 * Built when the layer is built (not at import), so `process.env` is read at run time.
 */
import { Layer } from "effect"
import { make, RunOutput, type RunOutputSinks, type RunProgress, type SubjectsProgress } from "../runtime/RunOutput.js"
import { type PortProgressDisplay, portProgress } from "./portProgress.js"
import { ProgressBar, type ProgressStream } from "./progress.js"
import { useColor } from "./terminal.js"

interface Streams {
  readonly stdout: { readonly isTTY?: boolean | undefined; write(chunk: string): boolean }
  readonly stderr: ProgressStream
}

const processStreams = (): Streams => ({ stdout: process.stdout, stderr: process.stderr })

/** Terminal sinks; the bar in progress (if any) is erased before each line. */
export const terminalSinks = (
  streams: Streams = processStreams(),
  options: { readonly env?: NodeJS.ProcessEnv; readonly bar?: ConstructorParameters<typeof ProgressBar>[3] } = {}
): RunOutputSinks => {
  let bar: ProgressBar | undefined
  let rows: PortProgressDisplay | undefined
  /** Writes with the bar erased, or around the per-port rows (erased, written, redrawn). */
  const print = (write: () => void) => {
    bar?.suspend()
    if (rows) rows.around(write)
    else write()
  }
  return {
    out: (line) => print(() => streams.stdout.write(`${line}\n`)),
    err: (line) => print(() => streams.stderr.write(`${line}\n`)),
    block: (text) => print(() => streams.stdout.write(text)),
    color: useColor(streams.stdout, options.env ?? process.env),
    progress: (label, total): RunProgress => {
      if (!ProgressBar.enabledFor(streams.stderr)) return { tick: () => {}, finish: () => {} }
      const current = new ProgressBar(streams.stderr, total, label, options.bar)
      bar = current
      return {
        tick: (failed) => current.tick(failed),
        finish: () => {
          current.finish()
          if (bar === current) bar = undefined
        }
      }
    },
    subjects: (subjects): SubjectsProgress => {
      const current = portProgress(streams.stderr, subjects)
      rows = current
      return {
        update: current.update,
        finish: () => {
          current.finish()
          if (rows === current) rows = undefined
        }
      }
    }
  }
}

/** `--json` sinks: the process streams, no colour, no progress bar. */
export const jsonSinks = (streams: Streams = processStreams()): RunOutputSinks => ({
  out: (line) => void streams.stdout.write(`${line}\n`),
  err: (line) => void streams.stderr.write(`${line}\n`)
})

export const TerminalRunOutput: Layer.Layer<RunOutput> = Layer.sync(RunOutput, () => make(terminalSinks()))

export const JsonRunOutput: Layer.Layer<RunOutput> = Layer.sync(RunOutput, () => make(jsonSinks()))

/** The layer a subcommand picks from its `--json` flag. */
export const runOutputFor = (json: boolean): Layer.Layer<RunOutput> => (json ? JsonRunOutput : TerminalRunOutput)
