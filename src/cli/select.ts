/**
 * Which subcommand modules a command line needs. Kept free of imports: the
 * build (scripts/build.mjs) reads it to make one bundle per choice, and
 * bin/provision.mjs uses its compiled copy to pick the bundle to load.
 * Add one line per subcommand: its name, its module under src/cli/ and the
 * exported Command; `web: true` when it starts the web server (the entry
 * point then provides web/server.ts's WebServerLive, which cli/ may not import).
 */
export const SUBCOMMANDS = {
  stage1: { module: "stage1", export: "stage1Command" },
  stage2: { module: "stage2", export: "stage2Command" },
  stage3: { module: "stage3", export: "stage3Command" },
  sim: { module: "sim", export: "simCommand" },
  flash: { module: "flash", export: "flashRootCommand" },
  inventory: { module: "inventory", export: "inventoryCommand" },
  serve: { module: "serve", export: "serveCommand", web: true },
  demo: { module: "demo/command", export: "demoCommand", web: true },
  stations: { module: "stations", export: "stationsCommand" },
  report: { module: "stations", export: "reportCommand" },
  credentials: { module: "credentials", export: "credentialsCommand" },
  backup: { module: "backup", export: "backupCommand" },
  restore: { module: "backup", export: "restoreCommand" },
  firmware: { module: "firmware", export: "firmwareCommand" }
} as const

export type SubcommandName = keyof typeof SUBCOMMANDS

/** Whether the subcommand needs the WebServer service (app/WebServer.ts). */
export const needsWebServer = (name: SubcommandName): boolean => "web" in SUBCOMMANDS[name]

export const SUBCOMMAND_NAMES = Object.keys(SUBCOMMANDS) as ReadonlyArray<SubcommandName>

/**
 * The first argument that names a subcommand (`provision stage3 …`) → that
 * one; a bare `--version` → none; anything else (help, completions, a
 * mistyped name) → all, so the parser sees every command as before.
 */
export const subcommandsFor = (args: ReadonlyArray<string>): ReadonlyArray<SubcommandName> => {
  const named = args.find((arg): arg is SubcommandName => (SUBCOMMAND_NAMES as ReadonlyArray<string>).includes(arg))
  if (named !== undefined) return [named]
  if (args.length === 1 && args[0] === "--version") return []
  return SUBCOMMAND_NAMES
}
