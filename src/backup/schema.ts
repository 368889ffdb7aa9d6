/**
 * One backup file, var/backups/<MAC>/<timestamp>.json: everything of a
 * device's configuration that RPC can read back. Passwords are never in it
 * (the device does not return write-only fields such as `pass`, nor its ha1).
 */
import { Schema } from "effect"

const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown })
export type JsonObject = typeof JsonObject.Type

export const BackupScript = Schema.Struct({
  id: Schema.Number,
  name: Schema.String,
  enable: Schema.Boolean,
  running: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  code: Schema.String
})
export type BackupScript = typeof BackupScript.Type

export const BACKUP_FORMAT = "fleet-provision-backup/1"

export const DeviceBackup = Schema.Struct({
  format: Schema.Literal(BACKUP_FORMAT),
  mac: Schema.String,
  id: Schema.String,
  model: Schema.String,
  app: Schema.optional(Schema.String),
  fw: Schema.String,
  taken_at: Schema.String,
  /** Shelly.GetConfig: every component's configuration. */
  config: JsonObject,
  scripts: Schema.Array(BackupScript),
  /** Webhook.List hooks as returned (ids are the device's, not restored). */
  webhooks: Schema.Array(JsonObject),
  /** Schedule.List jobs as returned. */
  schedules: Schema.Array(JsonObject)
})
export type DeviceBackup = typeof DeviceBackup.Type

// RPC result shapes read by `readDevice` (docs cited in sim/shelly/automation.ts).
const Rest = Schema.Record({ key: Schema.String, value: Schema.Unknown })
export const ScriptList = Schema.Struct({
  scripts: Schema.Array(
    Schema.Struct(
      { id: Schema.Number, name: Schema.NullOr(Schema.String), enable: Schema.Boolean, running: Schema.optional(Schema.Boolean) },
      Rest
    )
  )
})
export const ScriptCode = Schema.Struct({ data: Schema.String, left: Schema.Number })
export const CreatedId = Schema.Struct({ id: Schema.Number }, Rest)
export const WebhookList = Schema.Struct({ hooks: Schema.Array(JsonObject) }, Rest)
export const ScheduleList = Schema.Struct({ jobs: Schema.Array(JsonObject) }, Rest)
export const AnyResult = Schema.Unknown
