// Test entry: `provision inventory …` and `provision serve` are not registered in src/cli/commands.ts
// yet (a shared file), so the e2e tests run the command module under its own
// root here, with the same platform layer as src/main.ts.
import { Command } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Exit } from "effect"
import { inventoryCommand } from "../../src/cli/inventory.js"
import { serveCommand } from "../../src/cli/serve.js"
import { provideWebServer } from "../../src/web/server.js"

const cli = Command.run(Command.make("provision").pipe(Command.withSubcommands([inventoryCommand, provideWebServer(serveCommand)])), {
  name: "provision",
  version: "test"
})

const program = Effect.suspend(() => cli(process.argv)).pipe(
  Effect.exit,
  Effect.map((exit) => {
    if (Exit.isSuccess(exit)) return 0
    const failure = Cause.failureOption(exit.cause)
    if (failure._tag === "Some") {
      const error = failure.value as { _tag?: string; exitCode?: number }
      return error._tag === "ExitWith" ? (error.exitCode ?? 70) : 2
    }
    process.stderr.write(`${Cause.pretty(exit.cause)}\n`)
    return 70
  }),
  Effect.tap((code) =>
    Effect.sync(() => {
      process.exitCode = code
    })
  ),
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(program, { disableErrorReporting: true, disablePrettyLogger: true })
