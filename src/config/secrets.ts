// data/secrets.yaml (git-ignored; data/secrets.example.yaml documents it).
// Every password/token is decoded into Redacted, and problems in this file
// never quote a value.
import type { FileSystem } from "@effect/platform"
import { Effect, Schema } from "effect"
import { ConfigInvalid } from "../domain/errors/config.js"
import type { ConfigMissing } from "../domain/errors/config.js"
import { loadYaml } from "./load.js"
import type { Loaded } from "./load.js"
import { DEFAULT_SECRETS_PATH, SECRETS_EXAMPLE_PATH } from "./paths.js"

const Secret = Schema.Redacted(Schema.NonEmptyString)

export const WifiNetwork = Schema.Struct({
  ssid: Schema.NonEmptyString,
  /** Left out for an open network. */
  password: Schema.optional(Secret)
})
export type WifiNetwork = typeof WifiNetwork.Type

export const Secrets = Schema.Struct({
  wifi: Schema.optionalWith(
    Schema.Struct({
      /** Primary production network. */
      sta: Schema.optional(WifiNetwork),
      /** Optional secondary network (the device's `sta1`). */
      sta1: Schema.optional(WifiNetwork)
    }),
    { default: () => ({}) }
  ),
  mqtt: Schema.optional(Schema.Struct({ user: Schema.optional(Schema.NonEmptyString), password: Schema.optional(Secret) })),
  /** Admin password set on devices (Shelly.SetAuth) and used for digest auth. */
  device: Schema.optional(Schema.Struct({ admin_password: Schema.optional(Secret) })),
  /** Bearer token of the provisioning backend (factory). */
  backend: Schema.optional(Schema.Struct({ token: Schema.optional(Secret) })),
  /** Password of the shared PostgreSQL (when database.url in factory-config.yaml leaves it out). */
  database: Schema.optional(Schema.Struct({ password: Schema.optional(Secret) })),
  /** Password of the web UI's admin. */
  web: Schema.optional(Schema.Struct({ admin_password: Schema.optional(Secret) }))
})
export type Secrets = typeof Secrets.Type

export const noSecrets = (): Secrets => Schema.decodeUnknownSync(Secrets)({})

export interface LoadedSecrets extends Loaded<Secrets> {
  /** The file read, or undefined when the default file is absent and nothing was loaded. */
  readonly file: string | undefined
}

/**
 * Loads the secrets. An explicitly named file (`-f FILE`) must exist; the
 * default `data/secrets.yaml` may be absent (then every secret is unset, which
 * is fine for Stage 3 — a stage that needs one says so).
 */
export const loadSecrets = (file?: string): Effect.Effect<LoadedSecrets, ConfigInvalid | ConfigMissing, FileSystem.FileSystem> => {
  const path = file ?? DEFAULT_SECRETS_PATH
  return loadYaml(path, Secrets, { secret: true, example: SECRETS_EXAMPLE_PATH }).pipe(
    Effect.map((loaded): LoadedSecrets => ({ ...loaded, file: path })),
    Effect.catchIf(
      (error): error is ConfigMissing => error._tag === "ConfigMissing" && file === undefined,
      () => Effect.succeed<LoadedSecrets>({ value: noSecrets(), warnings: [], file: undefined })
    )
  )
}

/** For a stage that cannot run without a secret, e.g. `missingSecret(undefined, "wifi.sta", "Stage 1")`. */
export const missingSecret = (file: string | undefined, field: string, neededBy: string): ConfigInvalid =>
  new ConfigInvalid({
    file: file ?? DEFAULT_SECRETS_PATH,
    problems: [`${field}: required by ${neededBy} but not set (see ${SECRETS_EXAMPLE_PATH})`]
  })
