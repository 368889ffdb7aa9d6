// Loads subcommand modules on demand (sources run through tsx; the bundles in
// dist/ import theirs statically, scripts/build.mjs). The list itself is
// cli/select.ts.
import type { Command } from "@effect/cli"
import { SUBCOMMANDS, type SubcommandName } from "./select.js"

/** Any subcommand (their flags, requirements and errors differ; the root only needs the name). */
export type Subcommand = Command.Command<string, never, unknown, unknown>

export const loadSubcommands = (wanted: ReadonlyArray<SubcommandName>): Promise<ReadonlyArray<Subcommand>> =>
  Promise.all(
    wanted.map(async (name) => {
      const entry = SUBCOMMANDS[name]
      const module = (await import(/* @vite-ignore */ `./${entry.module}.js`)) as Record<string, Subcommand>
      return module[entry.export]!
    })
  )
