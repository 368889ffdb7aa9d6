/**
 * Staged rollouts: the wave plan (pure) and the state that `--resume` reads.
 *
 * Waves are cumulative shares of the selected devices (`5%,25%,100%`: the
 * first wave takes 5 %, the second up to 25 %, the third the rest). Devices
 * are ordered by MAC, so the plan does not depend on the order of entries in
 * ip_state.json; with a group field (`--rollout-group room`) they are ordered
 * by group first, and a wave that would cut a group in two takes the whole
 * group, so a room is updated in one go.
 */
import { Either, Schema } from "effect"
import type { InventoryDevice, Json } from "../../inventory/Inventory.js"

/** `5%,25%,100%` (or a list of such items) → [5, 25, 100]. */
export const parseWaves = (spec: string | ReadonlyArray<string>): Either.Either<ReadonlyArray<number>, string> => {
  const items = (typeof spec === "string" ? spec.split(",") : spec.flatMap((s) => s.split(",")))
    .map((s) => s.trim())
    .filter((s) => s !== "")
  if (items.length === 0) return Either.left("no waves given (expected e.g. 5%,25%,100%)")
  const out: Array<number> = []
  for (const item of items) {
    const m = /^(\d+(?:\.\d+)?)%$/.exec(item)
    const value = m ? Number(m[1]) : NaN
    if (!(value > 0 && value <= 100)) return Either.left(`"${item}" is not a share of the fleet (expected 1%…100%, e.g. 5%,25%,100%)`)
    if (out.length > 0 && value <= out[out.length - 1]!) {
      return Either.left(`waves must grow: ${item} after ${out[out.length - 1]}% (each is the share updated by the end of that wave)`)
    }
    out.push(value)
  }
  return Either.right(out)
}

const groupOf = (device: InventoryDevice, field: string | undefined): string => {
  if (field === undefined) return ""
  const value: Json | undefined = device.record[field]
  return value === undefined || value === null ? "" : typeof value === "string" ? value : JSON.stringify(value)
}

/** The waves, as lists of devices; empty waves are left out. */
export const planWaves = (
  devices: ReadonlyArray<InventoryDevice>,
  percents: ReadonlyArray<number>,
  groupBy?: string | undefined
): ReadonlyArray<ReadonlyArray<InventoryDevice>> => {
  const ordered = [...devices].sort((a, b) => {
    const ga = groupOf(a, groupBy),
      gb = groupOf(b, groupBy)
    return ga < gb ? -1 : ga > gb ? 1 : a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0
  })
  const waves: Array<ReadonlyArray<InventoryDevice>> = []
  let start = 0
  for (const percent of percents) {
    let end = Math.min(ordered.length, Math.max(start, Math.ceil((ordered.length * percent) / 100 - 1e-9)))
    if (groupBy !== undefined && end > 0 && end < ordered.length) {
      const group = groupOf(ordered[end - 1]!, groupBy)
      while (end < ordered.length && groupOf(ordered[end]!, groupBy) === group) end++
    }
    if (end > start) waves.push(ordered.slice(start, end))
    start = end
  }
  return waves
}

// --- state file (var/rollout/state.json) -----------------------------------

export const WaveFailure = Schema.Struct({ mac: Schema.String, ip: Schema.String, error: Schema.String })
export type WaveFailure = typeof WaveFailure.Type

export const WaveState = Schema.Struct({
  index: Schema.Int,
  devices: Schema.Array(Schema.String),
  status: Schema.Literal("pending", "running", "done", "halted"),
  ok: Schema.Int,
  failed: Schema.Int,
  failures: Schema.Array(WaveFailure)
})
export type WaveState = typeof WaveState.Type

export const RolloutState = Schema.Struct({
  version: Schema.Literal(1),
  id: Schema.String,
  status: Schema.Literal("running", "halted", "done"),
  waves_spec: Schema.String,
  halt_after: Schema.Int,
  group_by: Schema.NullOr(Schema.String),
  /** What the rollout installs: the pinned targets, else the channel. */
  target: Schema.Record({ key: Schema.String, value: Schema.String }),
  channel: Schema.String,
  ip_state_file: Schema.String,
  started_at: Schema.String,
  updated_at: Schema.String,
  halt_reason: Schema.NullOr(Schema.String),
  waves: Schema.Array(WaveState)
})
export type RolloutState = typeof RolloutState.Type

/** The per-device mark in ip_state.json (`stage3.rollout`), read by `--resume`. */
export interface RolloutMark {
  readonly id: string
  readonly wave: number
  readonly result: "ok" | "failed"
}

export const rolloutMarkOf = (device: InventoryDevice): RolloutMark | undefined => {
  const stage3 = device.record.stage3
  if (typeof stage3 !== "object" || stage3 === null || Array.isArray(stage3)) return undefined
  const mark = (stage3 as { readonly [k: string]: Json }).rollout
  if (typeof mark !== "object" || mark === null || Array.isArray(mark)) return undefined
  const m = mark as { readonly [k: string]: Json }
  return typeof m.id === "string" && typeof m.wave === "number" && (m.result === "ok" || m.result === "failed")
    ? { id: m.id, wave: m.wave, result: m.result }
    : undefined
}

/** Stage 3 statuses that are a failure (as `isHardFailure`): `--retry-failed` picks these. */
const failedOta = new Set(["offline", "check_failed", "error"])

/** `--retry-failed`: devices whose last Stage 3 result (ip_state.json `stage3`) was a failure. */
export const lastRunFailed = (device: InventoryDevice): boolean => {
  const stage3 = device.record.stage3
  if (typeof stage3 !== "object" || stage3 === null || Array.isArray(stage3)) return false
  const s = stage3 as { readonly [k: string]: Json }
  return (typeof s.ota_status === "string" && failedOta.has(s.ota_status)) || s.friendly_status === "error"
}
