import { Schema } from "effect"

/**
 * One device registration as the provisioning service receives it (and as the
 * outage queue stores it). The secret and token are Redacted in memory and
 * become plain strings only when encoded for the backend or the queue file.
 */
export const Registration = Schema.Struct({
  device_id: Schema.String,
  identity: Schema.Struct({ kind: Schema.Literal("mac", "uid", "serial"), value: Schema.String }),
  platform: Schema.String,
  board: Schema.String,
  board_model: Schema.String,
  firmware_version: Schema.String,
  station_id: Schema.String,
  batch_id: Schema.String,
  device_secret: Schema.Redacted(Schema.String),
  provisioning_token: Schema.Redacted(Schema.String)
})
export type Registration = typeof Registration.Type

export const RegistrationResult = Schema.Struct({
  device_id: Schema.String,
  created: Schema.Boolean
})
export type RegistrationResult = typeof RegistrationResult.Type

export const BatchInfo = Schema.Struct({
  batch_id: Schema.String,
  device_count: Schema.Number,
  first_registered_at: Schema.String,
  last_registered_at: Schema.String
})
export type BatchInfo = typeof BatchInfo.Type
