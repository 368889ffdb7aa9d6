/**
 * Stage 1 with `stage1.auth: per_device`: a fresh random admin password for
 * each device instead of the fleet's. Crash-safe by order (see
 * DeviceCredentials): on disk as pending → Shelly.SetAuth → confirmed.
 * SetAuth goes as a POST frame so the ha1 (as good as the password for
 * digest auth) stays out of URLs and access logs.
 */
import { Effect, Either } from "effect"
import type { StateWriteError } from "../domain/errors/inventory.js"
import { RotationFailed } from "../domain/errors/credentials.js"
import type { RpcFailure } from "../domain/errors/shelly.js"
import { parseMac } from "../domain/mac.js"
import * as Methods from "../shelly/methods.js"
import type { CallOptions, DeviceTarget, ShellyRpc } from "../shelly/ShellyRpc.js"
import { DeviceCredentials } from "./DeviceCredentials.js"
import { generateDevicePassword } from "./password.js"

export type SetDeviceAuth = (
  target: DeviceTarget,
  device: { readonly id: string; readonly mac: string },
  options: CallOptions
) => Effect.Effect<void, RpcFailure | StateWriteError | RotationFailed, ShellyRpc>

export const perDeviceAuth: Effect.Effect<SetDeviceAuth, never, DeviceCredentials> = Effect.map(
  DeviceCredentials,
  (credentials) => (target, device, options) =>
    Effect.gen(function* () {
      const mac = yield* Either.match(parseMac(device.mac), {
        onLeft: () => Effect.fail(new RotationFailed({ mac: device.mac, step: "set", reason: "the device reports no valid MAC" })),
        onRight: Effect.succeed
      })
      const password = generateDevicePassword()
      yield* credentials.stagePending(mac, password)
      yield* Methods.setAuth(target, device.id, password, { ...options, transport: "post" })
      yield* credentials.confirm(mac, password)
    })
)
