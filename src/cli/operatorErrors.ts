import { Console, Effect } from "effect"
import { describeError, isOperatorError } from "../domain/errors/base.js"
import { ExitCodes, ExitWith } from "./exit.js"

const exitCodeFor = (tag: string): number =>
  tag === "LockHeld"
    ? ExitCodes.lockHeld
    : tag === "StateWriteError" || tag === "InventoryReadError" || tag === "LockFailed"
      ? ExitCodes.fileError
      : ExitCodes.invalidInput

/** Operator errors → `error: …` on stderr and their exit code (README "Exit codes"); an ExitWith passes through. */
export const reportErrors = <A, E, R>(body: Effect.Effect<A, E, R>): Effect.Effect<A, ExitWith, R> =>
  body.pipe(
    Effect.catchAll((error: unknown) =>
      isOperatorError(error)
        ? Effect.zipRight(Console.error(`error: ${describeError(error)}`), Effect.fail(new ExitWith({ exitCode: exitCodeFor(error._tag) })))
        : error instanceof ExitWith
          ? Effect.fail(error)
          : Effect.die(error)
    )
  )

/** A whole run that returns its exit code: reported like `reportErrors`, and any code but 0 becomes the process's. */
export const reportRun = <E, R>(run: Effect.Effect<number, E, R>): Effect.Effect<void, ExitWith, R> =>
  reportErrors(run).pipe(Effect.flatMap((code) => (code === ExitCodes.ok ? Effect.void : Effect.fail(new ExitWith({ exitCode: code })))))
