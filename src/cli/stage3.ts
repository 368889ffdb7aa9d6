/**
 * `provision stage3`: flags → the whole run in app/stage3.ts. Exit codes: 0
 * all devices ok, 1 a device hard-failed, 2 bad flags/config, 3 lock held,
 * 4 state file error.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { stage3Layer, stage3Program } from "../app/stage3.js"
import { runOutputFor } from "../report/runOutputLive.js"
import { ExitCodes, ExitWith } from "./exit.js"
import { emptyFlagValue, integerFlag } from "./flagValues.js"
import { rolloutFlags } from "./stage3Rollout.js"

const flags = {
  dryRun: Options.boolean("dry-run").pipe(
    Options.withDescription("Read only: no OTA update, no name write, ip_state.json is not written.")
  ),
  ip: Options.text("ip").pipe(
    Options.repeated,
    Options.withDescription("Only the devices with these inventory IPs (`--ip A B`, `--ip A --ip B` or `--ip A,B`).")
  ),
  moreIps: Args.text({ name: "IP" }).pipe(Args.repeated, Args.withDescription("More IPs for --ip (runbook form `--ip A B`).")),
  online: Options.boolean("online").pipe(
    Options.withDescription("Leave OTA=offline lines out of the output (they are still processed and counted).")
  ),
  quiet: Options.boolean("quiet").pipe(Options.withDescription("Only lines with ERR=… and the summary.")),
  json: Options.boolean("json").pipe(
    Options.withDescription('JSON Lines: one object per device (type "device") and a summary (type "summary").')
  ),
  concurrency: integerFlag("concurrency", { min: 1, max: 65_536 }).pipe(
    Options.optional,
    Options.withDescription("Devices handled at once (default: stage3.concurrency, 256).")
  ),
  config: Options.text("config").pipe(Options.optional, Options.withDescription("Config file (default data/config.yaml).")),
  waitUpdate: Options.boolean("wait-update").pipe(
    Options.withDescription(
      "After Shelly.Update, wait until the device runs the new firmware (OTA=updated); timeout/interval from stage3.update_wait."
    )
  ),
  ...rolloutFlags
}

export const stage3Command = Command.make("stage3", flags, (f) =>
  Effect.gen(function* () {
    // @effect/cli drops `--ip ""` (e.g. an unset shell variable) as if no
    // --ip were given, which would select the whole fleet.
    if (emptyFlagValue(process.argv, "ip")) {
      yield* Console.error(`error: --ip: no address given (an empty --ip would select the whole fleet; leave --ip out for that)`)
      return yield* new ExitWith({ exitCode: ExitCodes.invalidInput })
    }
    if (f.moreIps.length > 0 && f.ip.length === 0) {
      yield* Console.error(`error: unexpected argument ${f.moreIps[0]} (IPs go after --ip)`)
      return yield* new ExitWith({ exitCode: ExitCodes.invalidInput })
    }
    const code = yield* stage3Program({
      dryRun: f.dryRun,
      ips: [...f.ip, ...f.moreIps],
      online: f.online,
      quiet: f.quiet,
      json: f.json,
      concurrency: f.concurrency,
      config: f.config,
      waitUpdate: f.waitUpdate,
      channel: Option.getOrUndefined(f.channel),
      allowDowngrade: f.allowDowngrade,
      rollout: Option.getOrUndefined(f.rollout),
      haltAfter: Option.getOrUndefined(f.haltAfter),
      rolloutGroup: Option.getOrUndefined(f.rolloutGroup),
      resume: f.resume,
      retryFailed: f.retryFailed
    }).pipe(Effect.provide(runOutputFor(f.json)))
    if (code !== ExitCodes.ok) return yield* new ExitWith({ exitCode: code })
  }).pipe(Effect.provide(stage3Layer))
).pipe(
  Command.withDescription(
    "Stage 3: OTA check/update and friendly-name sync for every device in ip_state.json (runbook stage3-runbook.de.md)."
  )
)
