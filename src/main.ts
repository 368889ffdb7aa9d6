import { Command } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, Layer } from "effect"
import { createRequire } from "node:module"
import { subcommands } from "./cli/commands.js"
import { ExitCodes } from "./cli/exit.js"
import { describeError, isOperatorError } from "./domain/errors.js"

const packageJson = createRequire(import.meta.url)("../package.json") as { version: string }

const root = Command.make("provision").pipe(
  Command.withDescription(
    "Provision and maintain Shelly fleets (stage1/2/3, inventory, web UI) and factory-line boards (flash)."
  ),
  Command.withSubcommands([...subcommands])
)

const cli = Command.run(root, { name: "provision", version: packageJson.version })

/** Maps how the program ended to an exit code; operator errors print their hint. */
const exitCodeOf = (exit: Exit.Exit<unknown, unknown>): Effect.Effect<number> => {
  if (Exit.isSuccess(exit)) return Effect.succeed(ExitCodes.ok)
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "Some") {
    const error = failure.value
    if (typeof error === "object" && error !== null && "_tag" in error) {
      if (error._tag === "ExitWith") return Effect.succeed((error as unknown as { exitCode: number }).exitCode)
      if (isOperatorError(error)) {
        const code =
          error._tag === "LockHeld" ? ExitCodes.lockHeld
          : error._tag === "StateWriteError" || error._tag === "InventoryReadError" || error._tag === "LockFailed" ? ExitCodes.fileError
          : ExitCodes.invalidInput
        return Console.error(`error: ${describeError(error)}`).pipe(Effect.as(code))
      }
    }
    // @effect/cli validation errors have already printed their help text.
    return Effect.succeed(ExitCodes.invalidInput)
  }
  if (Cause.isInterruptedOnly(exit.cause)) return Effect.succeed(ExitCodes.interrupted)
  return Console.error(Cause.pretty(exit.cause)).pipe(Effect.as(ExitCodes.internal))
}

const program = Effect.suspend(() => cli(process.argv)).pipe(
  Effect.exit,
  Effect.flatMap(exitCodeOf),
  Effect.tap((code) => Effect.sync(() => { process.exitCode = code })),
  Effect.provide(Layer.mergeAll(NodeContext.layer))
)

NodeRuntime.runMain(program, { disableErrorReporting: true, disablePrettyLogger: true })
