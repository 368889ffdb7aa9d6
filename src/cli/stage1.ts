/**
 * `provision stage1`: flags → the whole run in app/stage1.ts on the terminal.
 * Exit codes: 0 every device ok, 1 a device failed or stayed unverified (its
 * reboot-loop watch did not finish), 2 bad flags/config, 3 lock held, 130
 * Ctrl+C (after WiFi restore, lock release and the summary).
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { stage1Layer, stage1Program } from "../app/stage1.js"
import { TerminalRunOutput } from "../report/runOutputLive.js"
import { ExitCodes, ExitWith } from "./exit.js"

const flags = {
  secrets: Options.file("secrets").pipe(
    Options.withAlias("f"),
    Options.optional,
    Options.withDescription("secrets.yaml with the WiFi credentials (default data/secrets.yaml).")
  ),
  config: Options.file("config").pipe(Options.optional, Options.withDescription("Config file (default data/config.yaml).")),
  dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Simulate only: no WiFi switching, no RPC writes.")),
  log: Options.file("log").pipe(Options.optional, Options.withDescription("Log file (default stage1.log_path, var/log/stage1.log).")),
  once: Options.boolean("once").pipe(Options.withDescription("Provision one device, then exit (overrides stage1.loop_mode).")),
  loop: Options.boolean("loop").pipe(Options.withDescription("Provision devices until Ctrl+C (overrides stage1.loop_mode).")),
  wifiSim: Options.text("wifi-sim").pipe(
    Options.optional,
    Options.withDescription("Control URL of `provision sim shelly`: use the simulated WiFi instead of nmcli (demo, tests).")
  )
}

export const stage1Command = Command.make("stage1", flags, (f) =>
  Effect.gen(function* () {
    if (f.once && f.loop) {
      yield* Console.error("error: --once and --loop exclude each other")
      return yield* new ExitWith({ exitCode: ExitCodes.invalidInput })
    }
    const code = yield* stage1Program({
      secrets: f.secrets,
      config: f.config,
      dryRun: f.dryRun,
      log: f.log,
      loop: f.once ? Option.some(false) : f.loop ? Option.some(true) : Option.none(),
      wifiSim: f.wifiSim
    }).pipe(Effect.provide(TerminalRunOutput))
    if (code !== ExitCodes.ok) return yield* new ExitWith({ exitCode: code })
  }).pipe(Effect.provide(stage1Layer))
).pipe(Command.withDescription("Stage 1: factory-new Shelly devices from their AP onto the production WiFi (runbook stage1-runbook.md)."))
