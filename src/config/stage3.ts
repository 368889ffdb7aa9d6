// config.yaml `stage3:` — runbook Stage 3 §2 plus the successor's own knobs.
import { Schema } from "effect"
import { FilePath, Millis, Port, PositiveInt, Seconds, withDefaults } from "./fields.js"

export const OtaMode = Schema.Literal("check_only", "check_and_update")
export type OtaMode = typeof OtaMode.Type

export const Stage3Ota = Schema.Struct({
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  mode: Schema.optionalWith(OtaMode, { default: () => "check_only" as const }),
  /** Seconds for the OTA RPCs (Shelly.CheckForUpdate, Shelly.Update). */
  timeout: Schema.optionalWith(Seconds, { default: () => 20 })
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
  /**
   * Heap in use (MB) above which a run asks V8 for a full collection, so a
   * 10,000-device run stays small on a Pi (src/runtime/heapBudget.ts); 0 = off.
   */
  heap_budget_mb: Schema.optionalWith(Schema.NonNegativeInt, { default: () => 96 })
})
export type Stage3Config = typeof Stage3Config.Type
