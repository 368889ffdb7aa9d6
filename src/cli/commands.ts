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
import { firmwareCommand } from "./firmware.js"

export const subcommands = [stage1Command, stage2Command, stage3Command, simCommand, flashRootCommand, inventoryCommand, serveCommand, demoCommand, firmwareCommand] as const
