/**
 * data/device-secrets.yaml: one admin password per device, keyed by MAC.
 *
 *   devices:
 *     A1B2C3D4E5F6:
 *       password: "…"        # the password the device has
 *       pending: "…"         # a new one being set (rotation, Stage 1); see DeviceCredentials
 *       updated: "2026-…Z"
 *
 * Passwords are decoded into Redacted at once; problems name the field,
 * never the value. Written with the project's safe write at mode 0600.
 */
import type { FileSystem, Path } from "@effect/platform"
import { Effect, Either, Redacted, Schema } from "effect"
import { stringify } from "yaml"
import { loadYaml } from "../config/load.js"
import { ConfigInvalid } from "../domain/errors/config.js"
import type { StateWriteError } from "../domain/errors/inventory.js"
import { type Mac, parseMac } from "../domain/mac.js"
import { safeWriteFile } from "../runtime/safeWrite.js"

export const DEFAULT_DEVICE_SECRETS_PATH = "data/device-secrets.yaml"

const Secret = Schema.Redacted(Schema.NonEmptyString)

export const DeviceSecret = Schema.Struct({
  password: Schema.optional(Secret),
  pending: Schema.optional(Secret),
  updated: Schema.optional(Schema.String)
})
export type DeviceSecret = typeof DeviceSecret.Type

const DeviceSecretsFile = Schema.Struct({
  devices: Schema.optionalWith(Schema.Record({ key: Schema.String, value: DeviceSecret }), { default: () => ({}) })
})

export type DeviceSecrets = ReadonlyMap<Mac, DeviceSecret>

/** Reads the file; an absent file is an empty store (it is created on the first write). */
export const readDeviceSecrets = (file: string): Effect.Effect<DeviceSecrets, ConfigInvalid, FileSystem.FileSystem> =>
  loadYaml(file, DeviceSecretsFile, { secret: true }).pipe(
    Effect.flatMap((loaded) => {
      const out = new Map<Mac, DeviceSecret>()
      const problems: Array<string> = []
      for (const [key, entry] of Object.entries(loaded.value.devices)) {
        Either.match(parseMac(key), {
          onLeft: (reason) => problems.push(`devices.${key}: ${reason}`),
          onRight: (mac) => out.set(mac, entry)
        })
      }
      return problems.length === 0 ? Effect.succeed<DeviceSecrets>(out) : Effect.fail(new ConfigInvalid({ file, problems }))
    }),
    Effect.catchTag("ConfigMissing", () => Effect.succeed<DeviceSecrets>(new Map()))
  )

const HEADER = [
  "# Per-device admin passwords of Shelly devices (user admin), keyed by MAC.",
  "# Written by `provision stage1` (stage1.auth: per_device) and `provision credentials rotate`.",
  "# `pending`: a password being set; until it is confirmed, either may be the device's.",
  "# Keep this file private (mode 0600) and out of version control; back it up with the inventory.",
  ""
].join("\n")

/** The whole file, in MAC order (stable diffs of the .bak). */
export const renderDeviceSecrets = (secrets: DeviceSecrets): string => {
  const devices: Record<string, Record<string, string>> = {}
  for (const mac of [...secrets.keys()].sort()) {
    const entry = secrets.get(mac)!
    const out: Record<string, string> = {}
    if (entry.password !== undefined) out.password = Redacted.value(entry.password)
    if (entry.pending !== undefined) out.pending = Redacted.value(entry.pending)
    if (entry.updated !== undefined) out.updated = entry.updated
    devices[mac] = out
  }
  return HEADER + stringify({ devices })
}

export const writeDeviceSecrets = (
  file: string,
  secrets: DeviceSecrets
): Effect.Effect<void, StateWriteError, FileSystem.FileSystem | Path.Path> =>
  safeWriteFile(file, renderDeviceSecrets(secrets), { mode: 0o600 })
