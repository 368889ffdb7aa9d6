/**
 * Firmware choice for Stage 3 beyond the runbook's `stage=stable`:
 *
 * - the vendor channel (`stage3.ota.channel`, `--channel`): with `beta` the
 *   device is sent `Shelly.Update {stage:"beta"}` when CheckForUpdate offers a
 *   newer beta (docs: the `beta` key is present only then), else the stable
 *   build it offers;
 * - pinned versions (`stage3.ota.target`: model → version): a device of that
 *   model on another version gets exactly that one, `Shelly.Update {url}`
 *   pointing at the firmware cache on `provision serve`; downgrades only when
 *   allowed; the version is always read back before the device counts as
 *   `updated` (a pinned update is never "accepted = done").
 */
import { Duration, Effect, Either, Option, Schedule } from "effect"
import { describeError } from "../../domain/errors/base.js"
import { type FirmwareEntry, findFirmware } from "../../firmware/cache.js"
import { compareVersions } from "../../firmware/version.js"
import * as Methods from "../../shelly/methods.js"
import type { AvailableUpdates, DeviceInfo, UpdateStage } from "../../shelly/schemas.js"
import type { DeviceTarget, ShellyRpc } from "../../shelly/ShellyRpc.js"
import type { OtaStatus } from "./result.js"
import { shortRpcError } from "./shortError.js"

export type OtaChannel = "stable" | "beta"

export interface PinnedSettings {
  /** Model (app or model code, any case) → version. */
  readonly targets: Readonly<Record<string, string>>
  readonly firmware: ReadonlyArray<FirmwareEntry>
  /** `http://host:port` of provision serve as devices reach it; undefined → pinned updates fail with a hint. */
  readonly baseUrl: string | undefined
  readonly allowDowngrade: boolean
  /** How long to wait for the pinned version to show (stage3.update_wait, always on for pinned updates). */
  readonly wait: WaitSettings
}

export interface WaitSettings {
  readonly timeout: Duration.DurationInput
  readonly interval: Duration.DurationInput
}

export interface OtaOutcome {
  readonly status: OtaStatus
  readonly version?: string | undefined
  readonly error?: string | undefined
  readonly detail?: string | undefined
  readonly startedUpdate: boolean
  /** The identity read back after a verified update. */
  readonly installed?: DeviceInfo | undefined
}

/** The pinned version for this device's model, if any (keys match app or model code, case-insensitively). */
export const pinnedVersionFor = (
  info: { readonly app: string; readonly model: string },
  pinned: PinnedSettings | undefined
): string | undefined => {
  if (pinned === undefined) return undefined
  const wanted = new Set([info.app.toLowerCase(), info.model.toLowerCase()])
  const key = Object.keys(pinned.targets).find((k) => wanted.has(k.trim().toLowerCase()))
  return key === undefined ? undefined : pinned.targets[key]
}

/** Channel choice over a CheckForUpdate answer: the version offered and the stage to send. */
export const offeredUpdate = (
  available: AvailableUpdates,
  channel: OtaChannel
): { readonly version: string; readonly stage: UpdateStage } | undefined => {
  if (channel === "beta" && available.beta !== undefined) return { version: available.beta.version, stage: "beta" }
  return available.stable === undefined ? undefined : { version: available.stable.version, stage: "stable" }
}

type Seen = { readonly _tag: "on"; readonly info: DeviceInfo } | { readonly _tag: "gone"; readonly why: string }

/**
 * Polls the identity until the device runs `version`. On time-out, says what
 * was seen last, so a failed update reads "came back on 1.6.2" or "did not
 * come back" rather than a bare timeout.
 */
export const awaitVersion = (
  target: DeviceTarget,
  version: string,
  wait: WaitSettings,
  identityTimeout: Duration.DurationInput
): Effect.Effect<Either.Either<DeviceInfo, Seen>, never, ShellyRpc> => {
  let last: Seen = { _tag: "gone", why: "no answer yet" }
  const polls = Math.ceil(Duration.toMillis(wait.timeout) / Math.max(1, Duration.toMillis(wait.interval))) + 1
  return Methods.getDeviceInfo(target, { timeout: identityTimeout }).pipe(
    Effect.tapBoth({
      onFailure: (e) =>
        Effect.sync(() => {
          last = { _tag: "gone", why: shortRpcError(e) }
        }),
      onSuccess: (info) =>
        Effect.sync(() => {
          last = { _tag: "on", info }
        })
    }),
    Effect.filterOrFail(
      (info) => info.ver === version,
      () => "not yet" as const
    ),
    Effect.retry(Schedule.spaced(wait.interval).pipe(Schedule.intersect(Schedule.recurs(polls)))),
    Effect.timeout(wait.timeout),
    Effect.option,
    Effect.map(Option.match({ onNone: () => Either.left(last), onSome: Either.right }))
  )
}

const notVerified = (version: string, seen: Seen, wait: WaitSettings): { error: string; detail: string } =>
  seen._tag === "on"
    ? {
        error: `OTA: still on ${seen.info.ver}`,
        detail: `after Shelly.Update the device runs ${seen.info.ver} (${seen.info.fw_id}); wanted ${version} within ${Duration.format(wait.timeout)}`
      }
    : {
        error: `OTA: not back on ${version} after ${Duration.format(wait.timeout)}`,
        detail: `after Shelly.Update the device did not answer as ${version} within ${Duration.format(wait.timeout)} (last: ${seen.why})`
      }

/** A pinned version for one device (the device answered as itself: `info`). */
export const pinnedOta = (
  target: DeviceTarget,
  info: DeviceInfo,
  version: string,
  context: {
    readonly pinned: PinnedSettings
    readonly mode: "check_only" | "check_and_update"
    readonly dryRun: boolean
    readonly rpcTimeout: Duration.DurationInput
    readonly identityTimeout: Duration.DurationInput
  }
): Effect.Effect<OtaOutcome, never, ShellyRpc> =>
  Effect.gen(function* () {
    if (info.ver === version) return { status: "up_to_date", version, startedUpdate: false }
    const order = compareVersions(version, info.ver)
    if (order === undefined) {
      return { status: "error", version, startedUpdate: false, error: `OTA: cannot compare ${info.ver} with pinned ${version}` }
    }
    if (order < 0 && !context.pinned.allowDowngrade) {
      return {
        status: "error",
        version,
        startedUpdate: false,
        error: `OTA: ${version} would downgrade ${info.ver}`,
        detail: `pinned ${version} is older than the device's ${info.ver}; run with --allow-downgrade (or stage3.ota.allow_downgrade: true) to install it`
      }
    }
    const entry = findFirmware(context.pinned.firmware, info, version)
    if (entry === undefined) {
      return {
        status: "error",
        version,
        startedUpdate: false,
        error: `OTA: ${version} not cached`,
        detail: `no cached file for ${info.app}/${info.model} ${version}: provision firmware add FILE --model ${info.app} --fw-version ${version}`
      }
    }
    if (context.mode !== "check_and_update" || context.dryRun) return { status: "update_available", version, startedUpdate: false }
    if (context.pinned.baseUrl === undefined) {
      return {
        status: "error",
        version,
        startedUpdate: false,
        error: "OTA: stage3.ota.firmware_url not set",
        detail: "pinned updates need stage3.ota.firmware_url: the http://HOST:PORT at which devices reach provision serve"
      }
    }
    const url = `${context.pinned.baseUrl.replace(/\/$/, "")}/firmware/${entry.file}`
    const started = yield* Methods.updateFromUrl(target, url, { timeout: context.rpcTimeout }).pipe(Effect.either)
    if (Either.isLeft(started)) {
      return {
        status: "error",
        version,
        startedUpdate: false,
        error: `OTA: ${shortRpcError(started.left)}`,
        detail: describeError(started.left)
      }
    }
    const seen = yield* awaitVersion(target, version, context.pinned.wait, context.identityTimeout)
    return Either.isRight(seen)
      ? { status: "updated", version, startedUpdate: true, installed: seen.right }
      : { status: "error", version, startedUpdate: true, ...notVerified(version, seen.left, context.pinned.wait) }
  })
