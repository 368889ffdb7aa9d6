/**
 * The firmware/rollout flags of `provision stage3` (how they become a plan:
 * app/stage3Rollout.ts).
 */
import { Options } from "@effect/cli"

export const rolloutFlags = {
  channel: Options.choice("channel", ["stable", "beta"]).pipe(
    Options.optional,
    Options.withDescription("Vendor channel for updates without a pinned version (default stage3.ota.channel, stable).")
  ),
  allowDowngrade: Options.boolean("allow-downgrade").pipe(
    Options.withDescription("Install a pinned version (stage3.ota.target) even when it is older than the device's.")
  ),
  rollout: Options.text("rollout").pipe(
    Options.optional,
    Options.withDescription("Staged rollout: waves as cumulative shares, e.g. 5%,25%,100% (default stage3.rollout.waves).")
  ),
  haltAfter: Options.integer("halt-after").pipe(
    Options.optional,
    Options.withDescription("Halt the rollout when a wave has more than N failed devices (default stage3.rollout.halt_after, 0).")
  ),
  rolloutGroup: Options.text("rollout-group").pipe(
    Options.optional,
    Options.withDescription("Inventory field that keeps devices together in a wave, e.g. room (default stage3.rollout.group_by).")
  ),
  resume: Options.boolean("resume").pipe(
    Options.withDescription("Continue the halted or interrupted rollout in stage3.rollout.state_file (no device is updated twice).")
  ),
  retryFailed: Options.boolean("retry-failed").pipe(
    Options.withDescription("Only the devices whose last Stage 3 result in ip_state.json was a failure.")
  )
}
