// Stage 3 runs started from the web UI. They run `stage3Program`, the code
// behind `provision stage3`, on a RunOutput that turns its lines into events;
// the page follows them over SSE. One run at a time per server.
import { Effect, Option, PubSub, Stream } from "effect"
import { defaultStage3Flags, stage3Program } from "../app/stage3.js"
import { describeError, isOperatorError } from "../domain/errors/base.js"
import { RunBusy } from "../domain/errors/web.js"
import { printable } from "../domain/printable.js"
import * as RunOutput from "../runtime/RunOutput.js"

export interface RunEvent {
  readonly seq: number
  readonly type: "line" | "failure" | "end"
  readonly data: string
}

export interface RunState {
  readonly id: string
  readonly dryRun: boolean
  readonly ips: ReadonlyArray<string>
  readonly events: Array<RunEvent>
  finished: boolean
  readonly pubsub: PubSub.PubSub<RunEvent>
}

/**
 * The web's RunOutput: results and diagnostics alike become `line` events
 * (the page shows them in order), no colour, no progress bar (the page counts lines).
 */
export const sseOutput = (emit: (type: RunEvent["type"], data: string) => void) =>
  RunOutput.layer({ out: (line) => emit("line", line), err: (line) => emit("line", line) })

export const makeRuns = (configFile: string | undefined, keep = 20) => {
  const runs = new Map<string, RunState>()
  let counter = 0

  const start = (options: { readonly dryRun: boolean; readonly ips: ReadonlyArray<string> }) =>
    Effect.gen(function* () {
      const active = [...runs.values()].find((run) => !run.finished)
      if (active !== undefined) return yield* new RunBusy({ runId: active.id })
      const pubsub = yield* PubSub.unbounded<RunEvent>()
      counter += 1
      const run: RunState = { id: `run-${counter}`, dryRun: options.dryRun, ips: options.ips, events: [], finished: false, pubsub }
      runs.set(run.id, run)
      if (runs.size > keep) runs.delete(runs.keys().next().value!)
      const emit = (type: RunEvent["type"], data: string) => {
        const event = { seq: run.events.length + 1, type, data }
        run.events.push(event)
        pubsub.unsafeOffer(event)
      }
      const program = stage3Program({
        ...defaultStage3Flags,
        dryRun: options.dryRun,
        ips: options.ips,
        config: Option.fromNullable(configFile)
      }).pipe(
        Effect.provide(sseOutput(emit)),
        Effect.catchAll((error: unknown) =>
          Effect.sync(() => {
            emit("failure", isOperatorError(error) ? printable(describeError(error)) : "internal error")
            return 2
          })
        ),
        Effect.catchAllDefect(() =>
          Effect.sync(() => {
            emit("failure", "internal error (see the server's terminal)")
            return 70
          })
        ),
        Effect.tap((exitCode) =>
          Effect.sync(() => {
            emit("end", JSON.stringify({ exitCode }))
            run.finished = true
          })
        )
      )
      // The run outlives the request that started it.
      yield* Effect.forkDaemon(program)
      return run
    })

  /** Everything so far, then live events until the end event. */
  const events = (run: RunState): Stream.Stream<RunEvent> =>
    Stream.unwrapScoped(
      Effect.gen(function* () {
        const subscription = yield* PubSub.subscribe(run.pubsub)
        const snapshot = run.events.slice()
        const last = snapshot.at(-1)?.seq ?? 0
        const live = run.finished ? Stream.empty : Stream.fromQueue(subscription).pipe(Stream.filter((event) => event.seq > last))
        return Stream.concat(Stream.fromIterable(snapshot), live).pipe(Stream.takeUntil((event) => event.type === "end"))
      })
    )

  return { start, events, get: (id: string) => runs.get(id) }
}

export type Runs = ReturnType<typeof makeRuns>

const encoder = new TextEncoder()

/** One SSE message; a payload with line breaks becomes several `data:` lines. */
export const sseMessage = (event: RunEvent): Uint8Array =>
  encoder.encode(
    `id: ${event.seq}\nevent: ${event.type}\n${event.data
      .split(/\r?\n/)
      .map((line) => `data: ${line}`)
      .join("\n")}\n\n`
  )
