/**
 * The firmware/rollout flags of `provision stage3` and how they become a
 * rollout plan (kept apart from cli/stage3.ts, which others change too).
 */
import { Options } from "@effect/cli"
import type { Stage3Config } from "../config/stage3.js"
import type { RolloutPlan } from "../app/rollout.js"
import type { InventoryDevice } from "../inventory/Inventory.js"
import { Either } from "effect"
import { lastRunFailed, parseWaves } from "../stages/stage3/rollout.js"

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

export interface RolloutFlagValues {
  readonly rollout?: string | undefined
  readonly haltAfter?: number | undefined
  readonly rolloutGroup?: string | undefined
  readonly resume?: boolean | undefined
}

/** Flag combinations that cannot work, as an error text (checked before anything is loaded). */
export const rolloutFlagProblem = (flags: RolloutFlagValues & { readonly retryFailed?: boolean | undefined }, withIps: boolean): string | undefined => {
  if (flags.haltAfter !== undefined && flags.haltAfter < 0) return `--halt-after must be 0 or more (got ${flags.haltAfter})`
  if (flags.rollout !== undefined) {
    const waves = parseWaves(flags.rollout)
    if (Either.isLeft(waves)) return `--rollout: ${waves.left}`
  }
  if (flags.resume === true) {
    if (flags.rollout !== undefined) return "--resume continues the saved rollout; leave out --rollout"
    if (withIps) return "--resume continues the saved rollout's devices; leave out --ip"
    if (flags.retryFailed === true) return "--resume and --retry-failed are separate runs: resume first, then retry the failures"
  }
  return undefined
}

/** `--resume`, a new plan (flags over config), or no rollout at all. */
export const rolloutPlanOf = (flags: RolloutFlagValues, config: Stage3Config): RolloutPlan | "resume" | undefined => {
  if (flags.resume === true) return "resume"
  const configured = config.rollout.waves
  const spec = flags.rollout ?? (typeof configured === "string" ? configured : configured.join(","))
  if (spec.trim() === "") return undefined
  return {
    spec,
    haltAfter: flags.haltAfter ?? config.rollout.halt_after,
    groupBy: flags.rolloutGroup ?? config.rollout.group_by
  }
}

/** `--retry-failed`: the picked devices whose last result was a failure. */
export const retryFailedOnly = <T extends { readonly selected: ReadonlyArray<InventoryDevice>; readonly unknown: ReadonlyArray<string> }>(
  picked: T,
  err: (line: string) => void
): T => {
  const selected = picked.selected.filter(lastRunFailed)
  err(`retry-failed: ${selected.length} of ${picked.selected.length} devices whose last Stage 3 result was a failure`)
  return { ...picked, selected }
}
