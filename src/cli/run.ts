/**
 * The root command `provision`: global exit-code mapping, the platform layer
 * and colour-free help where colours are off. Which subcommands it carries is
 * decided before (src/main.ts from sources, a bundle entry from dist/).
 */
// Deep imports: a bundle then takes in only these modules, not every module
// the package indexes re-export.
import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HashSet from "effect/HashSet"
import { describeError, isOperatorError } from "../domain/errors.js"
import { printableLines } from "../domain/printable.js"
import type { Subcommand } from "./commands.js"
import { ExitCodes } from "./exit.js"
import { plainConsoleUnlessColor } from "./helpColor.js"

/**
 * Commands that run until a signal stops them (simulators, the web UI, the
 * demo, which ends by serving): SIGINT/SIGTERM is their normal end, exit 0.
 * Any other command stopped by a signal was interrupted: exit 130, after its
 * own clean-up (WiFi restored, lock released, summary printed).
 */
const RUN_UNTIL_SIGNAL: ReadonlySet<string> = new Set(["sim", "serve", "demo"])
let runsUntilSignal = false

const noteRunsUntilSignal = (command: Subcommand): Subcommand => {
  // Widened only because a union of commands defeats inference; transformHandler keeps name, requirements, errors and config.
  const widened = command as Command.Command<string, unknown, unknown, unknown>
  if (!HashSet.some(Command.getNames(widened), (name) => RUN_UNTIL_SIGNAL.has(name))) return command
  return Command.transformHandler(widened, (handler) =>
    Effect.zipRight(
      Effect.sync(() => (runsUntilSignal = true)),
      handler
    )
  ) as unknown as Subcommand
}

/**
 * Runs `provision` with the given subcommands (those the command line needs:
 * cli/select.ts) and exits with the mapped code. Called by src/main.ts
 * (sources) and by each bundle's entry (scripts/build.mjs).
 */
export const runCli = (loaded: ReadonlyArray<Subcommand>, version: string): void => {
  const subcommands = loaded.map(noteRunsUntilSignal)

  const described = Command.make("provision").pipe(
    Command.withDescription("Provision and maintain Shelly fleets (stage1/2/3, inventory, web UI) and factory-line boards (flash).")
  )
  // Widened only because the loaded list's length is known at run time, not to the type checker.
  const root = (
    subcommands.length === 0 ? described : Command.withSubcommands(described, subcommands as unknown as readonly [Subcommand])
  ) as Command.Command<"provision", NodeContext.NodeContext, unknown, unknown>

  const cli = Command.run(root, { name: "provision", version })

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
            error._tag === "LockHeld"
              ? ExitCodes.lockHeld
              : error._tag === "StateWriteError" || error._tag === "InventoryReadError" || error._tag === "LockFailed"
                ? ExitCodes.fileError
                : ExitCodes.invalidInput
          return Console.error(`error: ${printableLines(describeError(error))}`).pipe(Effect.as(code))
        }
      }
      // @effect/cli validation errors have already printed their help text.
      return Effect.succeed(ExitCodes.invalidInput)
    }
    if (Cause.isInterruptedOnly(exit.cause)) return Effect.succeed(ExitCodes.interrupted)
    // A malformed environment variable (read through effect's Config, e.g.
    // PROVISION_MAX_RESPONSE_BYTES) is the operator's input, not a defect.
    const defect = Cause.dieOption(exit.cause)
    if (defect._tag === "Some" && ConfigError.isConfigError(defect.value)) {
      return Console.error(
        `error: environment: ${printableLines(String(defect.value))}\nhint: correct that variable or unset it to use the default`
      ).pipe(Effect.as(ExitCodes.invalidInput))
    }
    return Console.error(Cause.pretty(exit.cause)).pipe(Effect.as(ExitCodes.internal))
  }

  const program = Effect.suspend(() => cli(process.argv)).pipe(
    Effect.exit,
    Effect.flatMap(exitCodeOf),
    Effect.tap((code) =>
      Effect.sync(() => {
        process.exitCode = code
      })
    ),
    plainConsoleUnlessColor,
    Effect.provide(NodeContext.layer)
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
}
