/**
 * Group commit inside one station process: records that end while another
 * write is on its way are written together by the next free writer, in one
 * database call (one transaction), instead of one transaction each. A
 * process running many ports or stations then pays one round trip and one
 * commit flush for a burst of boards. Each item still gets its own answer.
 */
import { Deferred, Effect, Either, Queue, type Scope } from "effect"

export interface Coalescer<I, O, E> {
  readonly submit: (item: I) => Effect.Effect<O, E>
}

export const makeCoalescer = <I, O, E>(options: {
  /** Writes running at once (at most the pool's connections). */
  readonly writers: number
  /** Items per write, at most. */
  readonly max: number
  /** One answer per item, in order. */
  readonly write: (items: ReadonlyArray<I>) => Effect.Effect<ReadonlyArray<Either.Either<O, E>>>
}): Effect.Effect<Coalescer<I, O, E>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const queue = yield* Effect.acquireRelease(Queue.unbounded<readonly [I, Deferred.Deferred<O, E>]>(), Queue.shutdown)
    const writer = Effect.gen(function* () {
      const batch = [...(yield* Queue.takeBetween(queue, 1, options.max))]
      const answers = yield* options.write(batch.map(([item]) => item))
      yield* Effect.forEach(
        batch,
        ([, done], i) => {
          const answer = answers[i]
          if (answer === undefined)
            return Deferred.die(done, new Error(`coalesced write answered ${answers.length} of ${batch.length} items`))
          return Either.isRight(answer) ? Deferred.succeed(done, answer.right) : Deferred.fail(done, answer.left)
        },
        { discard: true }
      )
    }).pipe(Effect.forever)
    for (let i = 0; i < options.writers; i++) yield* Effect.forkScoped(writer)
    return {
      submit: (item: I) =>
        Effect.gen(function* () {
          const done = yield* Deferred.make<O, E>()
          yield* Queue.offer(queue, [item, done] as const)
          return yield* Deferred.await(done)
        })
    }
  })
