// Child-process entry for the Stage 1/2 process tests (SIGINT, lock contention)
// until src/cli/commands.ts registers stage1/stage2 in the real `provision`.
import { Command } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { stage1Command } from "../../src/cli/stage1.js"
import { stage2Command } from "../../src/cli/stage2.js"
import { describeError, isOperatorError } from "../../src/domain/errors.js"

const cli = Command.run(Command.make("provision").pipe(Command.withSubcommands([stage1Command, stage2Command])), {
  name: "provision",
  version: "0.0.0-test"
})

NodeRuntime.runMain(
  Effect.suspend(() => cli(process.argv)).pipe(
    Effect.tapError((error) => (isOperatorError(error) ? Console.error(`error: ${describeError(error)}`) : Effect.void)),
    Effect.provide(NodeContext.layer)
  ),
  { disableErrorReporting: true, disablePrettyLogger: true }
)
