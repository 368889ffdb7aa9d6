/**
 * Stage 3's first step per device: is it there, and is it the device the
 * inventory means? One Shelly.GetDeviceInfo whose TCP handshake is the
 * reachability probe (runbook: ping, then a 1 s HTTP fallback): no
 * connection within the probe timeout → offline, so a live device costs one
 * connection, not two; a blackholed device (accepts, never answers) runs out
 * the identity timeout. The outcome is a value; its line is made at the end.
 */
import { Data, Effect, Either, Option } from "effect"
import type { DeviceUnreachable, RpcFailure, RpcTimeout } from "../../domain/errors/shelly.js"
import { certificateOf, type PinFailure } from "../devicePins.js"
import { parseIpv4 } from "../../domain/ipv4.js"
import { parseMac } from "../../domain/mac.js"
import type { InventoryDevice } from "../../inventory/Inventory.js"
import * as Methods from "../../shelly/methods.js"
import type { DeviceInfo } from "../../shelly/schemas.js"
import { type DeviceTarget, ShellyRpc } from "../../shelly/ShellyRpc.js"
import type { Stage3Settings } from "./settings.js"

export type Identity = Data.TaggedEnum<{
  /** The device answered with the inventory's MAC: the later steps may talk to it. */
  Identified: { readonly target: DeviceTarget; readonly info: DeviceInfo }
  /** The inventory record has no usable `ip`. */
  NoValidIp: { readonly raw: string | undefined }
  /** No connection within the probe timeout, or no answer within the identity timeout. */
  Offline: { readonly cause: DeviceUnreachable | RpcTimeout }
  /** It answered, but not as a Gen2+ device (a Gen1 device, an error, an invalid response). */
  IdentityFailed: { readonly error: RpcFailure }
  /** Another device answers at this address (DHCP moved it): touch nothing. */
  MacMismatch: { readonly target: DeviceTarget; readonly info: DeviceInfo }
  /** Over HTTPS: its first-use certificate could not be pinned (two certificates seen, pin file not writable). */
  PinFailed: { readonly error: PinFailure }
}>

export const Identity = Data.taggedEnum<Identity>()

export const identify = (
  device: InventoryDevice,
  rawIp: string | undefined,
  settings: Stage3Settings
): Effect.Effect<Identity, never, ShellyRpc> =>
  Effect.gen(function* () {
    if (rawIp === undefined || Either.isLeft(parseIpv4(rawIp))) return Identity.NoValidIp({ raw: rawIp })
    // Over HTTPS the inventory's MAC names the pin to hold the device to from its first connection on.
    const certificate = certificateOf(settings.https, device.mac)
    const target: DeviceTarget = { host: rawIp, port: settings.devicePort, password: settings.password, tls: certificate?.tls }
    const identity = yield* Methods.getDeviceInfo(target, {
      connectTimeout: settings.probeTimeout,
      timeout: settings.identityTimeout
    }).pipe(Effect.either)
    if (Either.isLeft(identity)) {
      const error = identity.left
      if (error._tag === "DeviceUnreachable" || error._tag === "RpcTimeout") return Identity.Offline({ cause: error })
      return Identity.IdentityFailed({ error: yield* gen1OrElse(target, error, settings) })
    }
    const info = identity.right
    const reported = parseMac(info.mac)
    if (Either.isLeft(reported) || reported.right !== device.mac) return Identity.MacMismatch({ target, info })
    if (certificate === undefined) return Identity.Identified({ target, info })
    // Pinned (first use) or held to its pin before the later steps write anything.
    const tls = yield* Effect.either(certificate.confirm(`${rawIp}:${settings.devicePort}`))
    if (Either.isLeft(tls)) return Identity.PinFailed({ error: tls.left })
    return Identity.Identified({ target: { ...target, tls: tls.right }, info })
  })

/** A Gen1 device has no /rpc: `GET /shelly` tells it apart, so its line says Gen1 instead of "invalid response". */
const gen1OrElse = (target: DeviceTarget, error: RpcFailure, settings: Stage3Settings): Effect.Effect<RpcFailure, never, ShellyRpc> => {
  const noRpc = (error._tag === "RpcError" && error.rpcCode === 404) || error._tag === "ResponseInvalid"
  if (!noRpc) return Effect.succeed(error)
  return ShellyRpc.pipe(
    Effect.flatMap((rpc) => rpc.getShelly(target, { timeout: settings.identityTimeout })),
    Effect.flip,
    Effect.option,
    Effect.map(Option.filter((e: RpcFailure) => e._tag === "Gen1Unsupported")),
    Effect.map(Option.getOrElse(() => error))
  )
}
