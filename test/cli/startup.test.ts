// Start-up: which subcommand modules a command line loads (src/cli/select.ts),
// the on-demand loader, and help text without colour codes where colours are off.
import type { Command } from "@effect/cli"
import type { NodeContext } from "@effect/platform-node"
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { describe, expect, it } from "vitest"
import { loadSubcommands } from "../../src/cli/commands.js"
import { demoCommand } from "../../src/cli/demo/command.js"
import { flashRootCommand } from "../../src/cli/flash.js"
import { inventoryCommand } from "../../src/cli/inventory.js"
import { SUBCOMMAND_NAMES, subcommandsFor } from "../../src/cli/select.js"
import { serveCommand } from "../../src/cli/serve.js"
import { provideWebServer } from "../../src/web/server.js"
import { simCommand } from "../../src/cli/sim.js"
import { stage1Command } from "../../src/cli/stage1.js"
import { stage2Command } from "../../src/cli/stage2.js"
import { stage3Command } from "../../src/cli/stage3.js"
import { stripAnsi } from "../../src/cli/helpColor.js"
import { backupCommand, restoreCommand } from "../../src/cli/backup.js"
import { credentialsCommand } from "../../src/cli/credentials.js"
import { firmwareCommand } from "../../src/cli/firmware.js"
import { reportCommand, stationsCommand } from "../../src/cli/stations.js"

// Compile-time: every subcommand runs on the platform layer the root provides.
const runsOnPlatform = <Name extends string, A>(command: Command.Command<Name, NodeContext.NodeContext, unknown, A>) => command
const platformCovered = [
  runsOnPlatform(stage1Command),
  runsOnPlatform(stage2Command),
  runsOnPlatform(stage3Command),
  runsOnPlatform(simCommand),
  runsOnPlatform(flashRootCommand),
  runsOnPlatform(inventoryCommand),
  // The entry points give these two the web server (src/main.ts, scripts/build.mjs).
  runsOnPlatform(provideWebServer(serveCommand)),
  runsOnPlatform(provideWebServer(demoCommand)),
  runsOnPlatform(stationsCommand),
  runsOnPlatform(reportCommand),
  runsOnPlatform(credentialsCommand),
  runsOnPlatform(backupCommand),
  runsOnPlatform(restoreCommand),
  runsOnPlatform(firmwareCommand)
]

const cli = resolve("bin/provision.mjs")
const run = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  spawnSync(process.execPath, [cli, ...args], {
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: "", FORCE_COLOR: "", ...env }
  })

describe("subcommandsFor", () => {
  it("loads only the subcommand named on the command line", () => {
    expect(subcommandsFor(["stage3", "--dry-run"])).toEqual(["stage3"])
    expect(subcommandsFor(["sim", "shelly", "--devices", "3"])).toEqual(["sim"])
    expect(subcommandsFor(["--log-level", "debug", "flash", "sync"])).toEqual(["flash"])
  })
  it("loads none for a bare --version and all for help, completions and unknown names", () => {
    expect(subcommandsFor(["--version"])).toEqual([])
    expect(subcommandsFor(["--help"])).toEqual(SUBCOMMAND_NAMES)
    expect(subcommandsFor(["--completions", "bash"])).toEqual(SUBCOMMAND_NAMES)
    expect(subcommandsFor(["stage9"])).toEqual(SUBCOMMAND_NAMES)
    expect(subcommandsFor([])).toEqual(SUBCOMMAND_NAMES)
  })
})

describe("loadSubcommands", () => {
  it("finds every registered subcommand under its own name", async () => {
    const loaded = await loadSubcommands(SUBCOMMAND_NAMES)
    expect(loaded).toHaveLength(platformCovered.length)
    expect(loaded).toEqual([
      stage1Command,
      stage2Command,
      stage3Command,
      simCommand,
      flashRootCommand,
      inventoryCommand,
      serveCommand,
      demoCommand,
      stationsCommand,
      reportCommand,
      credentialsCommand,
      backupCommand,
      restoreCommand,
      firmwareCommand
    ])
  })
})

describe("help output and colours", () => {
  it("has no ANSI escapes when stdout is a pipe, and keeps them when FORCE_COLOR asks", () => {
    const piped = run(["--help"], {})
    expect(piped.status).toBe(0)
    expect(piped.stdout).toContain("stage3")
    expect(piped.stdout).not.toMatch(/\u001b\[/)
    const forced = run(["--help"], { FORCE_COLOR: "1" })
    expect(forced.stdout).toMatch(/\u001b\[/)
    expect(stripAnsi(forced.stdout)).toBe(piped.stdout)
  })
  it("honours NO_COLOR over FORCE_COLOR, also for a subcommand's help and flag errors", () => {
    const help = run(["stage3", "--help"], { NO_COLOR: "1", FORCE_COLOR: "1" })
    expect(help.stdout).toContain("--dry-run")
    expect(help.stdout).not.toMatch(/\u001b\[/)
    const bad = run(["stage3", "--no-such-flag"], { NO_COLOR: "1" })
    expect(bad.status).toBe(2)
    expect(bad.stdout + bad.stderr).not.toMatch(/\u001b\[/)
  })
  it("prints the version and shell completions from the bundle", () => {
    const fast = run(["--version"], {})
    expect(fast.status).toBe(0)
    expect(fast.stdout.trim()).toBe(JSON.parse(readFileSync("package.json", "utf8")).version)
    // The recorded text is byte for byte what the root command itself prints, on every path.
    const fromBundle = spawnSync(process.execPath, [resolve("dist/version.cjs"), "--version"], { encoding: "utf8", timeout: 60_000 })
    const fromSource = run(["--version"], { PROVISION_FROM_SOURCE: "1" })
    expect(fromBundle.stdout).toBe(fast.stdout)
    expect(fromSource.stdout).toBe(fast.stdout)
    const bash = run(["--completions", "bash"], {})
    expect(bash.status).toBe(0)
    expect(bash.stdout).toContain("stage3")
  })
})

describe("a malformed environment variable", () => {
  it("is the operator's input: exit 2 naming the variable and the fix, not an internal error", () => {
    for (const value of ["abc", "5"]) {
      const result = run(["stage3", "--dry-run"], { PROVISION_MAX_RESPONSE_BYTES: value })
      expect(result.status).toBe(2)
      expect(result.stderr).toContain("PROVISION_MAX_RESPONSE_BYTES")
      expect(result.stderr).toContain("hint: correct that variable or unset it")
      expect(result.stderr).not.toMatch(/\n\s+at /)
    }
  })
})
