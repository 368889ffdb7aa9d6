/**
 * The one skeleton of a whole Stage run (Stage 1, 2 and 3 fill it in):
 *
 *   load config.yaml → its warnings → `Stage N is disabled …` when off →
 *   prepare (secrets, checks: before the lock, so a bad file never waits for
 *   or takes it) → the project lock (not for a dry run) → load the inventory →
 *   start (settings, logs) → run over the devices → one write (not for a dry
 *   run, not when nothing ran) → summary → exit code (1 when a device failed).
 *
 * Ctrl+C during the run: with `finishOnInterrupt` the devices finished so far
 * are written and summarised before the lock is released (Stage 1, 2); a
 * write error then is shown as a diagnostic, the interruption goes on.
 * Operator errors (config, lock, state file) fail the effect; the caller maps
 * them to exit codes. Lines go to the RunOutput in context.
 */
import { Effect, Ref } from "effect"
import { type AppConfig, loadAppConfig } from "../config/index.js"
import type { LoadedAppConfig } from "../config/app.js"
import { describeError, type OperatorError } from "../domain/errors/base.js"
import type { InventoryReadError } from "../domain/errors/inventory.js"
import { Inventory, type InventoryDocument, ProjectLock } from "../inventory/Inventory.js"
import { RunOutput } from "../runtime/RunOutput.js"
import { ExitCodes } from "./exit.js"

/** What `run` may use: the devices finished so far, in the order they finished. */
export interface RunProgressRecord<Result> {
  readonly finished: Ref.Ref<ReadonlyArray<Result>>
  /** Adds a finished device (what a Ctrl+C summary counts). */
  readonly record: (result: Result) => Effect.Effect<void>
}

/** One type pair (error, context) per phase, each inferred from its own function. */
export interface StageRun<
  Section extends { readonly enabled: boolean },
  Prepared,
  Document,
  Started,
  Result,
  EP,
  RP,
  EL,
  RL,
  ES,
  RS,
  ER,
  RR,
  EW extends OperatorError,
  RW
> {
  /** `Stage 1` … (the disabled line) and `stage1` … (config section, lock holder). */
  readonly title: string
  readonly key: "stage1" | "stage2" | "stage3"
  /** undefined: data/config.yaml. */
  readonly configFile: string | undefined
  readonly dryRun: boolean
  /** JSON Lines on stdout (`--json`): a disabled stage answers with a JSON line there too. */
  readonly json?: boolean | undefined
  readonly section: (config: AppConfig) => Section
  /** Secrets, checks, plan files: everything that can fail before the lock is taken. */
  readonly prepare: (loaded: LoadedAppConfig, section: Section) => Effect.Effect<Prepared, EP, RP>
  /** Loads the inventory under the lock (see `inventoryAt`); Stage 1 reads it per device instead. */
  readonly load: (prepared: Prepared) => Effect.Effect<Document, EL, RL>
  /** Settings, logs, selection: what the run needs once the lock is held and the inventory read. */
  readonly start: (prepared: Prepared, document: Document) => Effect.Effect<Started, ES, RS>
  /** The devices; returns their results (in inventory order), or undefined for those recorded in `finished`. */
  readonly run: (started: Started, progress: RunProgressRecord<Result>) => Effect.Effect<ReadonlyArray<Result> | undefined, ER, RR>
  /** The one write of the run's results (skipped for a dry run and when no device ran). */
  readonly write?: ((started: Started, results: ReadonlyArray<Result>) => Effect.Effect<void, EW, RW>) | undefined
  readonly summary: (started: Started, results: ReadonlyArray<Result>) => Effect.Effect<void, EW, RW>
  /** A device that makes the exit code 1. */
  readonly failed: (result: Result) => boolean
  readonly finishOnInterrupt: boolean
}

/** `load` for a stage that reads the inventory file under the lock. */
export const inventoryAt = (file: string): Effect.Effect<InventoryDocument, InventoryReadError, Inventory> =>
  Effect.flatMap(Inventory, (inventory) => inventory.load(file))

export const runStage = <
  Section extends { readonly enabled: boolean },
  Prepared,
  Document,
  Started,
  Result,
  EP,
  RP,
  EL,
  RL,
  ES,
  RS,
  ER,
  RR,
  EW extends OperatorError,
  RW
>(
  spec: StageRun<Section, Prepared, Document, Started, Result, EP, RP, EL, RL, ES, RS, ER, RR, EW, RW>
) =>
  Effect.gen(function* () {
    const output = yield* RunOutput
    const loaded = yield* loadAppConfig(spec.configFile)
    for (const warning of loaded.warnings) yield* output.diagnostic(`warning: ${warning}`)
    const section = spec.section(loaded.value)
    if (!section.enabled) {
      const note = `${spec.title} is disabled (${spec.key}.enabled: false in ${loaded.file}); nothing to do.`
      if (spec.json !== true) yield* output.result(note)
      else {
        // stdout stays JSON Lines for the script reading it; the sentence goes to stderr for the operator.
        yield* output.diagnostic(note)
        yield* output.result(
          JSON.stringify({ type: "disabled", stage: spec.key, setting: `${spec.key}.enabled`, config_file: loaded.file })
        )
      }
      return ExitCodes.ok
    }
    const prepared = yield* spec.prepare(loaded, section)

    // A dry run only reads, so it may run beside another provisioning run.
    if (!spec.dryRun) yield* Effect.flatMap(ProjectLock, (lock) => lock.acquire(spec.key))
    const document = yield* spec.load(prepared)
    const started = yield* spec.start(prepared, document)

    const finished = yield* Ref.make<ReadonlyArray<Result>>([])
    const record = (result: Result) => Ref.update(finished, (done) => [...done, result])
    const finish = (results: ReadonlyArray<Result>) =>
      Effect.gen(function* () {
        if (!spec.dryRun && results.length > 0 && spec.write !== undefined) yield* spec.write(started, results)
        yield* spec.summary(started, results)
        return results.some(spec.failed) ? ExitCodes.devicesFailed : ExitCodes.ok
      })
    const results = yield* spec.run(started, { finished, record }).pipe(
      Effect.onInterrupt(() =>
        spec.finishOnInterrupt
          ? Ref.get(finished).pipe(
              Effect.flatMap(finish),
              Effect.catchAll((error) => output.diagnostic(`error: ${describeError(error)}`))
            )
          : Effect.void
      )
    )
    return yield* finish(results ?? (yield* Ref.get(finished)))
  }).pipe(Effect.scoped)
