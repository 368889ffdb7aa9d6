/**
 * A heap budget for long runs over big fleets (Stage 3 on 10,000 devices).
 *
 * Why: almost everything a device costs is garbage once its line is out, but
 * V8 promotes whatever is still in flight at a scavenge, and with plenty of
 * machine memory it lets that old-generation garbage grow to several times
 * the live heap before a full collection (measured: 54 MB live at the end of
 * a 10,000-device run, heap peaks of 165–230 MB, RSS 260–350 MB). A Raspberry
 * Pi runs other things too, so while a run lasts we look at the heap a few
 * times a second and ask V8 for a full collection when it is over budget.
 *
 * The budget adapts: when a collection leaves more than three quarters of it
 * live (a very large inventory), the budget grows to 1.5 times what stayed,
 * so a big live heap never makes us collect in a loop.
 */
import { Duration, Effect, Schedule } from "effect"
import * as V8 from "node:v8"
import * as Vm from "node:vm"

export interface HeapBudgetOptions {
  /** Heap in use (MB) above which a full collection is asked for; 0 turns the budget off. */
  readonly budgetMb: number
  /** How often the heap is looked at. */
  readonly interval?: Duration.DurationInput
}

export interface HeapBudgetStats {
  /** Full collections asked for so far. */
  readonly collections: number
  /** The budget now (MB), after any adaptation. */
  readonly budgetMb: number
}

type Collect = () => void

let collectFn: Collect | undefined

/**
 * V8's `gc`, without `node --expose-gc` on the command line: the flag is
 * switched on at run time and `gc` taken from a fresh context, where V8
 * installs it as a global (the same way test runners measure leaks). The
 * flag goes off again at once (the `gc` taken stays usable): V8 stamps its
 * flags into a code cache, and one written at the end of this run under other
 * flags would be rejected by the next run (bin/codeCache.mjs).
 */
const collector = (): Collect => {
  if (collectFn === undefined) {
    V8.setFlagsFromString("--expose-gc")
    collectFn = Vm.runInNewContext("gc") as Collect
    V8.setFlagsFromString("--no-expose-gc")
  }
  return collectFn
}

const MB = 1024 * 1024

/**
 * Keeps the heap within `budgetMb` until the surrounding scope closes; the
 * returned getter tells how often it had to step in.
 */
export const keepHeapWithin = (options: HeapBudgetOptions) =>
  Effect.gen(function* () {
    let collections = 0
    let budget = options.budgetMb * MB
    const stats = (): HeapBudgetStats => ({ collections, budgetMb: budget / MB })
    if (options.budgetMb <= 0) return stats
    const collect = collector()
    const check = Effect.sync(() => {
      if (process.memoryUsage().heapUsed <= budget) return
      collect()
      collections++
      const live = process.memoryUsage().heapUsed
      if (live > budget * 0.75) budget = 1.5 * live
    })
    yield* check.pipe(Effect.repeat(Schedule.spaced(options.interval ?? Duration.millis(250))), Effect.forkScoped)
    return stats
  })
