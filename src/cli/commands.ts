// Registry of subcommands. Each lives in its own file under src/cli/.
// Add one line per subcommand (import + entry in `subcommands`).
import { stage1Command } from "./stage1.js"
import { stage2Command } from "./stage2.js"
import { stage3Command } from "./stage3.js"
import { simCommand } from "./sim.js"
import { flashRootCommand } from "./flash.js"
import { demoCommand } from "./demo.js"
import { inventoryCommand } from "./inventory.js"
import { serveCommand } from "./serve.js"
import { reportCommand, stationsCommand } from "./stations.js"
import { credentialsCommand } from "./credentials.js"
import { firmwareCommand } from "./firmware.js"
import { backupCommand, restoreCommand } from "./backup.js"

export const subcommands = [stage1Command, stage2Command, stage3Command, simCommand, flashRootCommand, inventoryCommand, serveCommand, demoCommand, stationsCommand, reportCommand, credentialsCommand, backupCommand, restoreCommand, firmwareCommand] as const
