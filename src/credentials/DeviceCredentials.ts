import type { Effect, Option, Redacted } from "effect"
import { Context } from "effect"
import type { ConfigInvalid } from "../domain/errors/config.js"
import type { StateWriteError } from "../domain/errors/inventory.js"
import type { Mac } from "../domain/mac.js"
import type { DeviceSecret } from "./file.js"

/**
 * Per-device admin passwords (data/device-secrets.yaml), for the RPC client's
 * auth (credentials/rpc.ts), Stage 1 (`stage1.auth: per_device`) and
 * `provision credentials`.
 *
 * A password change is crash-safe by order: the new password is written to the
 * file as `pending` beside the old one before it is sent to the device, and
 * only after the device accepted it is it made the stored one (`confirm`).
 * Whenever the process dies, one of the two is the device's and both are on
 * disk; `candidates` offers both, the stored one first.
 */
export interface DeviceCredentialsService {
  /** The file behind the service (for messages). */
  readonly file: string
  /** The entry of one device, if any. */
  readonly get: (mac: Mac) => Effect.Effect<Option.Option<DeviceSecret>>
  /** Every MAC with an entry, sorted. */
  readonly macs: Effect.Effect<ReadonlyArray<Mac>>
  /** Passwords to try for the device, in order: the stored one, then a pending one. */
  readonly candidates: (mac: Mac) => Effect.Effect<ReadonlyArray<Redacted.Redacted<string>>>
  /** Records `password` as pending beside the stored one; on disk before it returns. */
  readonly stagePending: (mac: Mac, password: Redacted.Redacted<string>) => Effect.Effect<void, StateWriteError>
  /** The pending password (equal to `password`) becomes the stored one; the old one is dropped. */
  readonly confirm: (mac: Mac, password: Redacted.Redacted<string>) => Effect.Effect<void, StateWriteError>
  /** Drops the pending password (the device proved to still have the stored one). */
  readonly dropPending: (mac: Mac) => Effect.Effect<void, StateWriteError>
  /** Re-reads the file (another process may have written it). */
  readonly reload: Effect.Effect<void, ConfigInvalid>
}

export class DeviceCredentials extends Context.Tag("fleet-provision/DeviceCredentials")<DeviceCredentials, DeviceCredentialsService>() {}
