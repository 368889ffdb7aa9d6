/**
 * How the firmware/rollout flags of Stage 3 become a rollout plan, and the
 * `--retry-failed` selection (the flags themselves: cli/stage3Rollout.ts).
 */
import type { Stage3Config } from "../config/stage3.js"
import type { RolloutPlan } from "./rollout.js"
import type { InventoryDevice } from "../inventory/Inventory.js"
import { Either } from "effect"
import { lastRunFailed, parseWaves } from "../stages/stage3/rollout.js"

export interface RolloutFlagValues {
  readonly rollout?: string | undefined
  readonly haltAfter?: number | undefined
  readonly rolloutGroup?: string | undefined
  readonly resume?: boolean | undefined
}

/** Flag combinations that cannot work, as an error text (checked before anything is loaded). */
export const rolloutFlagProblem = (
  flags: RolloutFlagValues & { readonly retryFailed?: boolean | undefined },
  withIps: boolean
): string | undefined => {
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
