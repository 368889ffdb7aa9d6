/**
 * `provision credentials rotate`: a new random password per device, set,
 * verified, then stored. Order (see DeviceCredentials) makes a crash at any
 * point harmless: the device always has a password the file holds.
 *
 *   1. reach     GET Shelly.GetDeviceInfo (open): the MAC at the address is the device's
 *   2. current   which known password (stored, pending, fleet) the device accepts;
 *                the file is brought in line (a pending one that works is confirmed,
 *                one that does not is dropped)
 *   3. staged    the new password on disk as pending, beside the current one
 *   4. sent      Shelly.SetAuth (POST frame; ha1 only) signed with the current one
 *   5. verified  an authenticated call with the new password alone succeeds
 *   6. confirmed the new password is the stored one
 *
 * Password checks use the plain client passed in (`raw`), not the decorated
 * one: a decorated call would fall back to the other stored passwords and
 * prove nothing about the one under test.
 */
import { Effect, Option, Redacted } from "effect"
import { RotationFailed } from "../domain/errors/credentials.js"
import type { StateWriteError } from "../domain/errors/inventory.js"
import { describeError } from "../domain/errors/base.js"
import type { RpcFailure } from "../domain/errors/shelly.js"
import type { Mac } from "../domain/mac.js"
import { parseMac } from "../domain/mac.js"
import { ha1For } from "../shelly/digest.js"
import type { CallOptions, DeviceTarget, DeviceTls, ShellyRpcService } from "../shelly/ShellyRpc.js"
import type { AddressCertificate } from "../shelly/certPins.js"
import { DeviceInfo, EmptyResult, SysStatus } from "../shelly/schemas.js"
import { DeviceCredentials } from "./DeviceCredentials.js"
import { generateDevicePassword } from "./password.js"

export type RotationStep = "reconciled" | "staged" | "sent" | "verified" | "confirmed"

export interface RotationDevice {
  readonly mac: Mac
  readonly host: string
  readonly port: number
  /**
   * `stage1.https` on: the device's certificate (its MAC's pin, or any one on
   * the first read, pinned once the device has answered with its MAC). Nothing
   * but that first read goes out before the certificate is settled.
   */
  readonly certificate?: AddressCertificate | undefined
}

export interface RotationOptions {
  /** The fleet password (secrets.yaml device.admin_password): a device without an entry may still have it. */
  readonly fleetPassword?: Redacted.Redacted<string> | undefined
  readonly timeout: CallOptions["timeout"]
  /**
   * Called after each step. The CLI passes a crash-injection point here
   * (PROVISION_CRASH_AT, for the SIGKILL tests); everything else passes nothing.
   */
  readonly checkpoint?: ((step: RotationStep, mac: Mac) => Effect.Effect<void>) | undefined
}

const reason = (error: RpcFailure) => describeError(error)

export const rotateDevice = (raw: ShellyRpcService, device: RotationDevice, options: RotationOptions) =>
  Effect.gen(function* () {
    const credentials = yield* DeviceCredentials
    const checkpoint = (step: RotationStep) => options.checkpoint?.(step, device.mac) ?? Effect.void
    let tls: DeviceTls | undefined = device.certificate?.tls
    const at = (password: Redacted.Redacted<string> | undefined): DeviceTarget => ({
      host: device.host,
      port: device.port,
      password,
      ...(tls === undefined ? {} : { tls })
    })
    const call = { timeout: options.timeout, transport: "post" as const }
    const fail = (step: RotationFailed["step"], why: string) => Effect.fail(new RotationFailed({ mac: device.mac, step, reason: why }))

    const info = yield* raw
      .call(at(undefined), "Shelly.GetDeviceInfo", undefined, DeviceInfo, call)
      .pipe(Effect.catchAll((e) => fail("reach", reason(e))))
    const reported = Option.getOrUndefined(Option.getRight(parseMac(info.mac)))
    if (reported !== device.mac) return yield* fail("reach", `the device at ${device.host} reports MAC ${info.mac}`)
    if (device.certificate !== undefined)
      tls = yield* device.certificate.confirm(device.mac, device.host).pipe(Effect.catchAll((e) => fail("reach", describeError(e))))

    /** Whether the device accepts exactly this password (auth on: a wrong one is refused). */
    const accepts = (password: Redacted.Redacted<string>) =>
      raw.call(at(password), "Sys.GetStatus", undefined, SysStatus, call).pipe(
        Effect.as(true),
        Effect.catchTag("AuthRequired", () => Effect.succeed(false))
      )

    const entry = yield* credentials.get(device.mac)
    const stored = Option.flatMap(entry, (e) => Option.fromNullable(e.password))
    const pending = Option.flatMap(entry, (e) => Option.fromNullable(e.pending))
    let current: Redacted.Redacted<string> | undefined
    if (info.auth_en) {
      const known = [Option.getOrUndefined(stored), Option.getOrUndefined(pending), options.fleetPassword].filter(
        (p): p is Redacted.Redacted<string> => p !== undefined
      )
      for (const password of known) {
        if (yield* accepts(password).pipe(Effect.catchAll((e) => fail("reach", reason(e))))) {
          current = password
          break
        }
      }
      if (current === undefined) return yield* fail("reach", "the device accepts none of the known passwords (stored, pending, fleet)")
      const isPending = Option.isSome(pending) && Redacted.value(pending.value) === Redacted.value(current)
      if (isPending) yield* credentials.confirm(device.mac, current)
      else if (Option.isSome(pending)) yield* credentials.dropPending(device.mac)
    }
    yield* checkpoint("reconciled")

    const next = generateDevicePassword()
    yield* credentials.stagePending(device.mac, next)
    yield* checkpoint("staged")

    yield* raw
      .call(at(current), "Shelly.SetAuth", { user: "admin", realm: info.id, ha1: ha1For(info.id, Redacted.value(next)) }, EmptyResult, call)
      .pipe(Effect.catchAll((e) => fail("set", reason(e))))
    yield* checkpoint("sent")

    const verified = yield* accepts(next).pipe(Effect.catchAll((e) => fail("verify", reason(e))))
    const authOn = yield* raw.call(at(undefined), "Shelly.GetDeviceInfo", undefined, DeviceInfo, call).pipe(
      Effect.map((after) => after.auth_en),
      Effect.catchAll((e) => fail("verify", reason(e)))
    )
    if (!verified || !authOn) return yield* fail("verify", "the device does not accept the new password")
    yield* checkpoint("verified")

    yield* credentials.confirm(device.mac, next)
    yield* checkpoint("confirmed")
  })

export type RotationError = RotationFailed | StateWriteError
