/**
 * Where a whole run (Stage 1/2/3) sends what it has to say: result lines
 * (device lines, summaries, JSON objects: stdout on a terminal), diagnostics
 * (warnings, errors: stderr), a progress indicator over the subjects (or,
 * for work that goes through phases per subject, such as the factory's
 * ports, one row per subject), and whether lines may carry colour. The run asks for the service; the caller picks the
 * implementation as a layer: the terminal and `--json` ones
 * (report/runOutputLive.ts), `layer`/`capture` below for the demo and tests,
 * and the web UI's, which turns lines into SSE events (web/runs.ts).
 *
 * Shaped like @effect/platform's services (Terminal, Console): an interface,
 * a Tag, `make` from plain sinks and `layer` over it; `unsafe` gives the
 * synchronous sinks to code that reports from inside a callback, as
 * `Console.unsafe` does.
 *
 * Every implementation made with `make` passes each line through
 * `printableLine`: text a device supplied (names, model, error texts) can
 * never drive the terminal (issue 13); our own colour codes stay.
 */
import { Context, Effect, Layer } from "effect"
import { printableLine } from "../domain/printable.js"

/** Progress over the subjects (devices) of a run: one tick per finished subject. */
export interface RunProgress {
  readonly tick: (failed: boolean) => void
  /** The run is over: the indicator goes away. */
  readonly finish: () => void
}

/** Progress of several subjects at once, each in its own phase (the factory's ports: "writing app", 48%). */
export interface SubjectsProgress {
  readonly update: (subject: string, phase: string, fraction?: number) => void
  /** The run is over: the rows go away. */
  readonly finish: () => void
}

/** A subject of a SubjectsProgress: its key in `update` and the label its row shows. */
export interface Subject {
  readonly id: string
  readonly label: string
}

/** The synchronous sinks behind a RunOutput. */
export interface RunOutputSinks {
  readonly out: (line: string) => void
  readonly err: (line: string) => void
  /** Lines may carry ANSI colours (default false). */
  readonly color?: boolean | undefined
  /** A progress indicator for `total` subjects; none when left out. */
  readonly progress?: ((label: string, total: number) => RunProgress) | undefined
  /** A per-subject display; none when left out. */
  readonly subjects?: ((subjects: ReadonlyArray<Subject>) => SubjectsProgress) | undefined
  /** Writes text to the results as it is (see RunOutputService.block); default: `out` per line, made printable. */
  readonly block?: ((text: string) => void) | undefined
}

export interface RunOutputService {
  readonly color: boolean
  /** A result line: a device's line, a summary, a JSON object. */
  readonly result: (line: string) => Effect.Effect<void>
  /** A warning or error for the operator, beside the results. */
  readonly diagnostic: (line: string) => Effect.Effect<void>
  /** Starts the progress indicator over `total` subjects (a no-op where there is none). */
  readonly progress: (label: string, total: number) => RunProgress
  /** Starts the per-subject display, one row per subject (a no-op where there is none). */
  readonly subjects: (subjects: ReadonlyArray<Subject>) => SubjectsProgress
  /**
   * Text of our own rendering written to the results as it is, no newline
   * added and nothing escaped: a QR label in block characters with its
   * colour codes. Never device text.
   */
  readonly block: (text: string) => Effect.Effect<void>
  readonly unsafe: { readonly result: (line: string) => void; readonly diagnostic: (line: string) => void }
}

export class RunOutput extends Context.Tag("fleet-provision/RunOutput")<RunOutput, RunOutputService>() {}

const noProgress: RunProgress = { tick: () => {}, finish: () => {} }
const noSubjectsProgress: SubjectsProgress = { update: () => {}, finish: () => {} }

/** A RunOutput over plain sinks; every line is made printable first. */
export const make = (sinks: RunOutputSinks): RunOutputService => {
  const result = (line: string) => sinks.out(printableLine(line))
  const diagnostic = (line: string) => sinks.err(printableLine(line))
  const block = sinks.block ?? ((text: string) => text.replace(/\n$/, "").split("\n").forEach(result))
  return {
    color: sinks.color ?? false,
    result: (line) => Effect.sync(() => result(line)),
    diagnostic: (line) => Effect.sync(() => diagnostic(line)),
    progress: sinks.progress ?? (() => noProgress),
    subjects: sinks.subjects ?? (() => noSubjectsProgress),
    block: (text) => Effect.sync(() => block(text)),
    unsafe: { result, diagnostic }
  }
}

export const layer = (sinks: RunOutputSinks): Layer.Layer<RunOutput> => Layer.sync(RunOutput, () => make(sinks))

/**
 * Every line, results and diagnostics alike, into one sink with an indent:
 * the demo prints a run under its `$ provision …` line this way.
 */
export const capture = (print: (line: string) => void, options: { readonly indent?: string } = {}): Layer.Layer<RunOutput> => {
  const indent = options.indent ?? ""
  const sink = (line: string) => print(`${indent}${line}`)
  return layer({ out: sink, err: sink })
}
