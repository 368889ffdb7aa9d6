/**
 * Stage 1's inventory writes off the device path: an adoption is written
 * while the next device's AP session runs. Writes run one at a time, in the
 * order they were submitted (each waits for the one before it), so the
 * reboot-loop watch's later verdict on a device can never land before that
 * device's adoption. Each runs to its end once started (a half-applied
 * read-modify-write is not interrupted); `flush` waits for all submitted so
 * far, which the run does before its summary, on every way out.
 */
import { Effect, Fiber, SynchronizedRef } from "effect"

export interface SerialWrites {
  /** Queues `write`; returns at once. `write` handles its own failure. */
  readonly submit: (write: Effect.Effect<void>) => Effect.Effect<void>
  /** Waits until every write submitted so far has finished. */
  readonly flush: Effect.Effect<void>
}

export const makeSerialWrites = Effect.gen(function* () {
  const tail = yield* SynchronizedRef.make<Fiber.Fiber<void>>(Fiber.void)
  const submit = (write: Effect.Effect<void>) =>
    SynchronizedRef.updateEffect(tail, (previous) =>
      // A daemon: interrupting the run (Ctrl+C) must not drop a queued write; `flush` waits for it instead.
      Effect.forkDaemon(Effect.uninterruptible(Effect.zipRight(Fiber.await(previous), write)))
    )
  const flush = Effect.flatMap(SynchronizedRef.get(tail), Fiber.await).pipe(Effect.asVoid)
  return { submit, flush } satisfies SerialWrites
})
