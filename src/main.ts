import { Command } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, HashSet, Layer } from "effect"
import { createRequire } from "node:module"
import { subcommands } from "./cli/commands.js"
import { ExitCodes } from "./cli/exit.js"
import { describeError, isOperatorError } from "./domain/errors.js"
import { printableLines } from "./domain/printable.js"

const packageJson = createRequire(import.meta.url)("../package.json") as { version: string }

/**
 * Commands that run until a signal stops them (simulators, the web UI, the
 * demo, which ends by serving): SIGINT/SIGTERM is their normal end, exit 0.
 * Any other command stopped by a signal was interrupted: exit 130, after its
 * own clean-up (WiFi restored, lock released, summary printed).
 */
const RUN_UNTIL_SIGNAL: ReadonlySet<string> = new Set(["sim", "serve", "demo"])
let runsUntilSignal = false

type Subcommand = (typeof subcommands)[number]
const noteRunsUntilSignal = (command: Subcommand): Subcommand => {
  // Widened only because a union of commands defeats inference; transformHandler keeps name, requirements, errors and config.
  const widened = command as Command.Command<string, unknown, unknown, unknown>
  if (!HashSet.some(Command.getNames(widened), (name) => RUN_UNTIL_SIGNAL.has(name))) return command
  return Command.transformHandler(widened, (handler) => Effect.zipRight(Effect.sync(() => (runsUntilSignal = true)), handler)) as unknown as Subcommand
}

const root = Command.make("provision").pipe(
  Command.withDescription(
    "Provision and maintain Shelly fleets (stage1/2/3, inventory, web UI) and factory-line boards (flash)."
  ),
  Command.withSubcommands(subcommands.map(noteRunsUntilSignal) as unknown as typeof subcommands)
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
        return Console.error(`error: ${printableLines(describeError(error))}`).pipe(Effect.as(code))
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

/**
 * runMain's default teardown maps an interrupted program (Ctrl+C) to 0, and
 * on a signal the `exitCodeOf` step never runs. Here an interrupted run is
 * 130 (README "Exit codes"), except for the commands that run until a signal.
 */
const teardown = (exit: Exit.Exit<unknown, unknown>, onExit: (code: number) => void) => {
  if (Exit.isSuccess(exit)) return onExit(Number(process.exitCode ?? ExitCodes.ok))
  if (Cause.isInterruptedOnly(exit.cause)) return onExit(runsUntilSignal ? ExitCodes.ok : ExitCodes.interrupted)
  onExit(ExitCodes.internal)
}

NodeRuntime.runMain(program, { disableErrorReporting: true, disablePrettyLogger: true, teardown })
