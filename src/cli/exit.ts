// Exit codes and ExitWith live in app/exit.ts (the whole runs return them); re-exported for the subcommands.
export { ExitCodes, ExitWith } from "../app/exit.js"
