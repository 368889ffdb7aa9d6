/**
 * `provision backup [--ip IP…] [--mac MAC…]` and
 * `provision restore MAC [FILE] [--to-mac NEW] [--ip IP] [--dry-run]`: the
 * flags, and the lines on stdout/stderr; the runs are src/app/backup.ts.
 * Exit codes: 0 ok, 1 a device failed (or differs after the restore), 2 bad
 * input, 3 lock held, 4 file error.
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect } from "effect"
import { backupLayer, backupProgram, restoreProgram } from "../app/backup.js"
import { TerminalRunOutput } from "../report/runOutputLive.js"
import { reportRun } from "./operatorErrors.js"

const configOption = Options.text("config").pipe(
  Options.optional,
  Options.withDescription(
    "Config file (default data/config.yaml); ip_state_file and device_port come from stage3, HTTPS and its pins from stage1.https."
  )
)

export const backupCommand = Command.make(
  "backup",
  {
    config: configOption,
    ips: Options.text("ip").pipe(Options.repeated, Options.withDescription("Back up the device at this address (repeatable).")),
    macs: Options.text("mac").pipe(
      Options.repeated,
      Options.withDescription("Back up this inventory device (repeatable). Default: every inventory device with an address.")
    )
  },
  (f) => reportRun(backupProgram(f)).pipe(Effect.provide([backupLayer, TerminalRunOutput]))
).pipe(
  Command.withDescription(
    "Save each device's whole configuration (settings, scripts, webhooks, schedules) to var/backups/<MAC>/<time>.json."
  )
)

export const restoreCommand = Command.make(
  "restore",
  {
    config: configOption,
    mac: Args.text({ name: "MAC" }).pipe(Args.withDescription("The device the backup is of.")),
    file: Args.file({ name: "FILE", exists: "yes" }).pipe(Args.optional, Args.withDescription("Backup file (default: the newest of MAC).")),
    toMac: Options.text("to-mac").pipe(Options.optional, Options.withDescription("Restore onto this device instead (a replacement).")),
    ip: Options.text("ip").pipe(
      Options.optional,
      Options.withDescription("Address of the device to restore onto (default: from the inventory).")
    ),
    dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Show the differences only; write nothing."))
  },
  (f) => reportRun(restoreProgram(f)).pipe(Effect.provide([backupLayer, TerminalRunOutput]))
).pipe(
  Command.withDescription(
    "Put a backup back onto its device (or, with --to-mac, onto a replacement): differences first, then applied and verified."
  )
)
