/**
 * Ctrl+C during a run that changes devices: the device in progress is not
 * dropped half-configured. Interrupting the caller waits for the work to end
 * (every step has its own timeout, so the wait is bounded); `abort` (the
 * operator's second Ctrl+C) interrupts it after all, its finalizers still
 * running (WiFi restored and the like).
 */
import { Deferred, Effect, Fiber } from "effect"

export interface FinishOptions {
  /** Completed → interrupt the work even though it has not finished. */
  readonly abort?: Deferred.Deferred<void> | undefined
  /** Runs once when the caller is interrupted, before waiting (e.g. "finishing <device> first"). */
  readonly onInterrupt?: Effect.Effect<void> | undefined
}

export const finishBeforeInterrupt = <A, E, R>(work: Effect.Effect<A, E, R>, options: FinishOptions = {}) =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function* () {
      const { abort } = options
      const abortable = abort === undefined ? work : Effect.raceFirst(work, Effect.zipRight(Deferred.await(abort), Effect.interrupt))
      // A daemon, not a child: interrupting a fiber interrupts its children at
      // once. It is never left behind: this fiber waits for it on every path.
      const fiber = yield* Effect.forkDaemon(Effect.interruptible(abortable))
      return yield* restore(Fiber.join(fiber)).pipe(
        Effect.onInterrupt(() => Effect.zipRight(options.onInterrupt ?? Effect.void, Fiber.await(fiber)))
      )
    })
  )
