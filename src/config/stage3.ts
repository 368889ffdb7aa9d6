// config.yaml `stage3:` — runbook Stage 3 §2 plus the successor's own knobs.
import { Schema } from "effect"
import { FilePath, Millis, NonNegativeInt, Port, PositiveInt, Seconds, withDefaults } from "./fields.js"

export const OtaMode = Schema.Literal("check_only", "check_and_update")
export type OtaMode = typeof OtaMode.Type

export const OtaChannel = Schema.Literal("stable", "beta")
export type OtaChannel = typeof OtaChannel.Type

const FirmwareVersionText = Schema.String.pipe(
  Schema.filter(
    (v) => /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/.test(v) || `expected a firmware version such as 1.7.5 or 1.8.0-beta1, found "${v}"`
  )
)

const HttpBaseUrl = Schema.String.pipe(
  Schema.filter((v) => /^http:\/\/[^/\s?#]+(?::\d+)?\/?$/.test(v) || `expected http://HOST:PORT of provision serve (no path), found "${v}"`)
)

/** Waves as cumulative shares of the selected devices: `5%,25%,100%` (a string or a list). */
const WaveList = Schema.Union(Schema.String, Schema.Array(Schema.String))

/**
 * `stage3.rollout` (and `--rollout/--halt-after/--rollout-group`): staged
 * updates that stop when a wave goes wrong (src/stages/stage3/rollout.ts).
 */
export const Stage3Rollout = Schema.Struct({
  /** Empty: no rollout (all devices at once, as the runbook does). */
  waves: Schema.optionalWith(WaveList, { default: () => [] as ReadonlyArray<string> }),
  /** A wave with more than this many failed devices halts the rollout. */
  halt_after: Schema.optionalWith(NonNegativeInt, { default: () => 0 }),
  /** Inventory field that groups devices (e.g. `room`): ordered by it, and a wave that would cut a group takes all of it. */
  group_by: Schema.optional(Schema.NonEmptyTrimmedString),
  /** Where the rollout's plan and progress live (safe write), for `--resume`. */
  state_file: Schema.optionalWith(FilePath, { default: () => "var/rollout/state.json" })
})

export const Stage3Ota = Schema.Struct({
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  mode: Schema.optionalWith(OtaMode, { default: () => "check_only" as const }),
  /** Seconds for the OTA RPCs (Shelly.CheckForUpdate, Shelly.Update). */
  timeout: Schema.optionalWith(Seconds, { default: () => 20 }),
  /** Vendor channel for `Shelly.Update {stage}` when no version is pinned (`--channel`). */
  channel: Schema.optionalWith(OtaChannel, { default: () => "stable" as const }),
  /**
   * Pinned versions: model (app such as S2PMG3, or model code) → version. A
   * device of that model on another version gets exactly this one, from the
   * firmware cache (`provision firmware add`), served by `provision serve`.
   */
  target: Schema.optionalWith(Schema.Record({ key: Schema.String, value: FirmwareVersionText }), { default: () => ({}) }),
  /** Pinned versions older than the device's are refused unless this (or `--allow-downgrade`) is set. */
  allow_downgrade: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** The firmware cache folder (`provision firmware add/list`). */
  firmware_dir: Schema.optionalWith(FilePath, { default: () => "var/firmware" }),
  /**
   * How devices reach this machine's `provision serve` (e.g. http://192.168.1.2:8080);
   * pinned updates send `<firmware_url>/firmware/<sha256>.zip`. Needed for pinned versions.
   */
  firmware_url: Schema.optional(HttpBaseUrl)
})

export const Stage3Friendly = Schema.Struct({
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /** Field of the ip_state.json entry that holds the name. */
  field_name: Schema.optionalWith(Schema.NonEmptyTrimmedString, { default: () => "friendly_name" }),
  /** true: the device's name wins (only empty names are filled); false: the JSON wins. */
  backfill: Schema.optionalWith(Schema.Boolean, { default: () => false })
})

/**
 * After Shelly.Update, poll until the device reports the new version, so the
 * status can say `updated` (off by default: the runbook keeps `update_available`).
 */
export const Stage3UpdateWait = Schema.Struct({
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** Seconds to wait for the new version per device. */
  timeout: Schema.optionalWith(Seconds, { default: () => 180 }),
  /** Seconds between polls. */
  interval: Schema.optionalWith(Seconds, { default: () => 5 })
})

export const Stage3Logging = Schema.Struct({
  /** The Stage 3 log file (rotated per `logging.max_file_size` / `backup_count`). */
  base_path: Schema.optionalWith(FilePath, { default: () => "var/log/stage3.log" })
})

export const Stage3Config = Schema.Struct({
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  ip_state_file: Schema.optionalWith(FilePath, { default: () => "data/ip_state.json" }),
  ota: withDefaults(Stage3Ota),
  friendly: withDefaults(Stage3Friendly),
  logging: withDefaults(Stage3Logging),
  /**
   * Devices handled at once (the runbook's pool had 8). Waiting costs no CPU
   * and each device sees at most two requests, so many can wait at once: a
   * device that accepts but never answers then holds one of 256 slots for its
   * fallback timeout instead of one of a few.
   */
  concurrency: Schema.optionalWith(PositiveInt, { default: () => 256 }),
  /** HTTP port of the devices (80 on real ones; simulators use high ports). */
  device_port: Schema.optionalWith(Port, { default: () => 80 }),
  /** TCP reachability in place of ping: the identity call must connect within this. */
  probe_timeout_ms: Schema.optionalWith(Millis, { default: () => 250 }),
  /** The runbook's 1 s HTTP fallback: Shelly.GetDeviceInfo must answer within this, else offline. */
  fallback_timeout_ms: Schema.optionalWith(Millis, { default: () => 1000 }),
  update_wait: withDefaults(Stage3UpdateWait),
  rollout: withDefaults(Stage3Rollout),
  /**
   * Heap in use (MB) above which a run asks V8 for a full collection, so a
   * 10,000-device run stays small on a Pi (src/runtime/heapBudget.ts); 0 = off.
   */
  heap_budget_mb: Schema.optionalWith(Schema.NonNegativeInt, { default: () => 96 })
})
export type Stage3Config = typeof Stage3Config.Type
