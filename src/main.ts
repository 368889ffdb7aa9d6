// Starts `provision` from the sources (tsx): loads only the subcommands the
// command line needs (cli/select.ts) and runs the root command. The bundles in
// dist/ (scripts/build.mjs) do the same with one pre-built file per choice.
import { createRequire } from "node:module"
import { loadSubcommands } from "./cli/commands.js"
import { runCli } from "./cli/run.js"
import { subcommandsFor } from "./cli/select.js"

const packageJson = createRequire(import.meta.url)("../package.json") as { version: string }

runCli(await loadSubcommands(subcommandsFor(process.argv.slice(2))), packageJson.version)
