/**
 * The RPC client with per-device passwords: a decorator over any
 * `ShellyRpcService`, so the digest client itself stays as it is.
 *
 * A device's digest realm is its id, which ends in its MAC
 * (`shellyplus1pm-a8032ab12345`; shared/reference/shelly-rpc.md "Digest auth").
 * So a call that the device refuses with 401 names the device, whatever
 * address the caller knew it by: the decorator then looks the MAC up in
 * data/device-secrets.yaml, remembers host → MAC, and repeats the call with
 * the stored password, then the pending one (a 401 means the device did not
 * run the call, so repeating it is safe). Later calls to that host carry the
 * stored password from the start: one extra exchange per device and run.
 * Callers keep passing the fleet password (secrets.yaml `device.admin_password`);
 * it stays the fallback for devices without an entry.
 */
import { Effect, Layer, Option, Redacted } from "effect"
import type { FileSystem, Path } from "@effect/platform"
import type { ConfigInvalid } from "../domain/errors/config.js"
import type { AuthRequired, RpcFailure } from "../domain/errors/shelly.js"
import { type Mac, parseMac } from "../domain/mac.js"
import { type DeviceTarget, ShellyRpc, type ShellyRpcService } from "../shelly/ShellyRpc.js"
import { layer as shellyRpcLayer } from "../shelly/ShellyRpcLive.js"
import { DeviceCredentials, type DeviceCredentialsService } from "./DeviceCredentials.js"
import { deviceCredentialsLayer } from "./DeviceCredentialsLive.js"

/** The MAC at the end of a device id / digest realm, if it has one. */
export const macOfRealm = (realm: string | null | undefined): Mac | undefined => {
  const tail = /-([0-9A-Fa-f]{12})$/.exec(realm ?? "")?.[1]
  return tail === undefined ? undefined : Option.getOrUndefined(Option.getRight(parseMac(tail)))
}

const same = (a: Redacted.Redacted<string> | undefined, b: Redacted.Redacted<string> | undefined) =>
  a !== undefined && b !== undefined && Redacted.value(a) === Redacted.value(b)

export const withDeviceCredentials = (inner: ShellyRpcService, credentials: DeviceCredentialsService): ShellyRpcService => {
  /** host:port → MAC, learned from realms. Bounded by the devices one run talks to. */
  const learned = new Map<string, Mac>()
  const keyOf = (target: DeviceTarget) => `${target.host}:${target.port}`

  /** After a 401: the device's other known passwords, each tried once, in order. */
  const retryWithStored = <A>(
    target: DeviceTarget,
    sent: Redacted.Redacted<string> | undefined,
    refused: AuthRequired,
    attempt: (password: Redacted.Redacted<string>) => Effect.Effect<A, RpcFailure>
  ): Effect.Effect<A, RpcFailure> =>
    Effect.gen(function* () {
      const mac = macOfRealm(refused.realm) ?? learned.get(keyOf(target))
      if (mac === undefined) return yield* Effect.fail(refused)
      learned.set(keyOf(target), mac)
      // Another process (Stage 1, a rotation) may have written the file since we read it.
      yield* credentials.reload.pipe(Effect.ignore)
      const stored = yield* credentials.candidates(mac)
      const others = [...stored, ...(target.password === undefined ? [] : [target.password])].filter(
        (p, i, all) => !same(p, sent) && all.findIndex((q) => same(p, q)) === i
      )
      let failure: RpcFailure = refused
      for (const password of others) {
        const outcome = yield* Effect.either(attempt(password))
        if (outcome._tag === "Right") return outcome.right
        failure = outcome.left
        if (failure._tag !== "AuthRequired") break
      }
      return yield* Effect.fail(failure)
    })

  // Stage 3 makes thousands of calls: a host never refused (no 401 seen) goes
  // straight to the client with the caller's password, with no extra effect step.
  const call: ShellyRpcService["call"] = (target, method, params, schema, options) => {
    const attempt = (password: Redacted.Redacted<string> | undefined) =>
      inner
        .call({ ...target, password }, method, params, schema, options)
        .pipe(
          Effect.catchTag("AuthRequired", (refused) =>
            retryWithStored(target, password, refused, (other) =>
              inner.call({ ...target, password: other }, method, params, schema, options)
            )
          )
        )
    const mac = learned.get(keyOf(target))
    return mac === undefined
      ? attempt(target.password)
      : Effect.flatMap(credentials.candidates(mac), ([stored]) => attempt(stored ?? target.password))
  }

  return { call, getShelly: inner.getShelly, probe: inner.probe }
}

/** `ShellyRpc` over the given client layer, consulting `DeviceCredentials`. */
export const withDeviceCredentialsLayer = <E, R>(client: Layer.Layer<ShellyRpc, E, R>): Layer.Layer<ShellyRpc, E, R | DeviceCredentials> =>
  Layer.effect(
    ShellyRpc,
    Effect.gen(function* () {
      const credentials = yield* DeviceCredentials
      return withDeviceCredentials(yield* ShellyRpc, credentials)
    })
  ).pipe(Layer.provide(client))

/**
 * What the CLI commands provide in place of `ShellyRpcLive`: the live client
 * with data/device-secrets.yaml behind it (and `DeviceCredentials` itself, for
 * Stage 1 and `provision credentials`).
 */
export const ShellyRpcWithCredentialsLive: Layer.Layer<ShellyRpc | DeviceCredentials, ConfigInvalid, FileSystem.FileSystem | Path.Path> =
  withDeviceCredentialsLayer(shellyRpcLayer()).pipe(Layer.provideMerge(deviceCredentialsLayer()))
