/**
 * `provision stage2`: flags → the whole run in app/stage2.ts, on the terminal
 * or as JSON Lines (`--json`). Exit codes as Stage 3 (0 ok, 1 a device
 * failed, 2 config, 3 lock held, 4 state file).
 */
import { Command, Options } from "@effect/cli"
import { Effect } from "effect"
import { stage2Layer, stage2Program } from "../app/stage2.js"
import { runOutputFor } from "../report/runOutputLive.js"
import { ExitCodes, ExitWith } from "./exit.js"

const flags = {
  dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Show the planned address and name per device; change nothing.")),
  mac: Options.text("mac").pipe(Options.repeated, Options.withDescription("Only these devices (repeatable or comma-separated).")),
  json: Options.boolean("json").pipe(Options.withDescription("JSON Lines: one object per device and a summary.")),
  config: Options.file("config").pipe(Options.optional, Options.withDescription("Config file (default data/config.yaml)."))
}

export const stage2Command = Command.make("stage2", flags, (f) =>
  Effect.gen(function* () {
    const code = yield* stage2Program({ dryRun: f.dryRun, macs: f.mac, json: f.json, config: f.config }).pipe(
      Effect.provide(runOutputFor(f.json))
    )
    if (code !== ExitCodes.ok) return yield* new ExitWith({ exitCode: code })
  }).pipe(Effect.provide(stage2Layer))
).pipe(Command.withDescription("Stage 2: static addresses (plan file or pool) and names for adopted devices."))
