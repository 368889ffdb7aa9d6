// Starts `provision` from the sources (tsx): loads only the subcommands the
// command line needs (cli/select.ts) and runs the root command. The bundles in
// dist/ (scripts/build.mjs) do the same with one pre-built file per choice.
// The subcommands that start the web server get it here (cli/ and web/ never
// import each other); web/ is loaded only for them.
import { createRequire } from "node:module"
import { loadSubcommands, type Subcommand } from "./cli/commands.js"
import { runCli } from "./cli/run.js"
import { needsWebServer, subcommandsFor } from "./cli/select.js"

const packageJson = createRequire(import.meta.url)("../package.json") as { version: string }

const wanted = subcommandsFor(process.argv.slice(2))
const loaded = await loadSubcommands(wanted)
const withWeb = async (): Promise<ReadonlyArray<Subcommand>> => {
  const { provideWebServer } = await import("./web/server.js")
  return loaded.map((command, i) => (needsWebServer(wanted[i]!) ? (provideWebServer(command) as unknown as Subcommand) : command))
}

runCli(wanted.some(needsWebServer) ? await withWeb() : loaded, packageJson.version)
