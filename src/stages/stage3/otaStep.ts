/**
 * Stage 3's OTA step: decide from the CheckForUpdate read (or a pinned
 * version, ota.ts) and, when the mode allows, start Shelly.Update; with
 * `--wait-update` the update counts only once the device reports the new
 * version. Sent last in a device's turn: the device reboots into the new
 * firmware and would drop a later write. Problems stay typed (`OtaProblem`)
 * until the device's line is assembled (`otaTexts`).
 */
import { Data, Duration, Effect, Either, Option, Schedule } from "effect"
import { describeError } from "../../domain/errors/base.js"
import type { RpcFailure } from "../../domain/errors/shelly.js"
import * as Methods from "../../shelly/methods.js"
import type { CheckForUpdateResult, DeviceInfo } from "../../shelly/schemas.js"
import type { DeviceTarget, ShellyRpc } from "../../shelly/ShellyRpc.js"
import { offeredUpdate, pinnedOta } from "./ota.js"
import type { OtaStatus } from "./result.js"
import type { Stage3Settings } from "./settings.js"
import { shortRpcError } from "./shortError.js"

export type OtaProblem = Data.TaggedEnum<{
  /** Shelly.CheckForUpdate failed. */
  CheckFailed: { readonly error: RpcFailure }
  /** Shelly.Update was refused or not answered. */
  UpdateFailed: { readonly error: RpcFailure }
  /** `--wait-update`: the device did not report `version` in time. */
  NotInstalled: { readonly version: string; readonly timeout: Duration.DurationInput }
  /** A pinned-version update (ota.ts) with its own texts. */
  Pinned: { readonly error: string | undefined; readonly detail: string | undefined }
}>

export const OtaProblem = Data.taggedEnum<OtaProblem>()

export interface OtaStepOutcome {
  readonly status: OtaStatus
  /** The version offered (or pinned, or installed). */
  readonly version?: string | undefined
  readonly startedUpdate: boolean
  /** The identity read back after a verified update (its metadata replaces the first read's). */
  readonly installed?: DeviceInfo | undefined
  readonly problem?: OtaProblem | undefined
}

/** What the reads step found for OTA: the pinned version, else the CheckForUpdate answer (undefined: OTA off). */
export interface OtaReads {
  readonly pinnedVersion: string | undefined
  readonly check: Either.Either<CheckForUpdateResult, RpcFailure> | undefined
}

export const syncOta = (
  target: DeviceTarget,
  info: DeviceInfo,
  reads: OtaReads,
  settings: Stage3Settings
): Effect.Effect<OtaStepOutcome, never, ShellyRpc> => {
  const { pinnedVersion, check } = reads
  if (pinnedVersion !== undefined && settings.pinned !== undefined) {
    return Effect.map(
      pinnedOta(target, info, pinnedVersion, {
        pinned: settings.pinned,
        mode: settings.ota.mode,
        dryRun: settings.dryRun,
        rpcTimeout: settings.ota.timeout,
        identityTimeout: settings.identityTimeout
      }),
      (pinned) => ({
        status: pinned.status,
        version: pinned.version,
        startedUpdate: pinned.startedUpdate,
        installed: pinned.installed,
        problem:
          pinned.error === undefined && pinned.detail === undefined
            ? undefined
            : OtaProblem.Pinned({ error: pinned.error, detail: pinned.detail })
      })
    )
  }
  if (check === undefined) return Effect.succeed({ status: "skipped", startedUpdate: false })
  if (Either.isLeft(check))
    return Effect.succeed({ status: "check_failed", startedUpdate: false, problem: OtaProblem.CheckFailed({ error: check.left }) })
  const offered = offeredUpdate(check.right, settings.channel ?? "stable")
  if (offered === undefined) return Effect.succeed({ status: "up_to_date", startedUpdate: false })
  const version = offered.version
  if (settings.ota.mode !== "check_and_update" || settings.dryRun) {
    return Effect.succeed({ status: "update_available", version, startedUpdate: false })
  }
  return Effect.gen(function* () {
    const started = yield* Methods.update(target, offered.stage, { timeout: settings.ota.timeout }).pipe(Effect.either)
    if (Either.isLeft(started))
      return { status: "error", version, startedUpdate: false, problem: OtaProblem.UpdateFailed({ error: started.left }) }
    if (settings.waitUpdate === undefined) return { status: "update_available", version, startedUpdate: true }
    const installed = yield* waitForVersion(target, version, settings, settings.waitUpdate)
    return Option.isSome(installed)
      ? { status: "updated", version, startedUpdate: true, installed: installed.value }
      : {
          status: "error",
          version,
          startedUpdate: true,
          problem: OtaProblem.NotInstalled({ version, timeout: settings.waitUpdate.timeout })
        }
  })
}

/** Polls the identity until the device runs `version` (it is offline while it reboots). */
const waitForVersion = (
  target: DeviceTarget,
  version: string,
  settings: Stage3Settings,
  wait: NonNullable<Stage3Settings["waitUpdate"]>
): Effect.Effect<Option.Option<DeviceInfo>, never, ShellyRpc> => {
  const polls = Math.ceil(Duration.toMillis(wait.timeout) / Math.max(1, Duration.toMillis(wait.interval))) + 1
  return Methods.getDeviceInfo(target, { timeout: settings.identityTimeout }).pipe(
    Effect.filterOrFail(
      (info) => info.ver === version,
      () => "not yet" as const
    ),
    Effect.retry(Schedule.spaced(wait.interval).pipe(Schedule.intersect(Schedule.recurs(polls)))),
    Effect.timeout(wait.timeout),
    Effect.option
  )
}

/** The outcome's texts for the line (`ERR=OTA: …`) and the log. */
export const otaTexts = (outcome: OtaStepOutcome): { readonly error?: string | undefined; readonly detail?: string | undefined } => {
  if (outcome.problem === undefined) return {}
  return OtaProblem.$match(outcome.problem, {
    CheckFailed: ({ error }) => ({ error: `OTA: ${shortRpcError(error)}`, detail: describeError(error) }),
    UpdateFailed: ({ error }) => ({ error: `OTA: ${shortRpcError(error)}`, detail: describeError(error) }),
    NotInstalled: ({ version, timeout }) => ({ error: `OTA: not on ${version} after ${Duration.format(timeout)}` }),
    Pinned: ({ error, detail }) => ({ error, detail })
  })
}
