/**
 * Stage 3 (runbook stage3-runbook.de.md §5): per device, reachability, OTA
 * check/update and friendly-name sync; then the results go into
 * ip_state.json in one safe write (`applyStage3Results`, done by the caller).
 *
 * Order per device: the two reads (Shelly.CheckForUpdate, Sys.GetConfig) run
 * together; the name is written and read back; Shelly.Update is sent last,
 * because the device reboots into the new firmware and would drop a later write.
 */
import { Clock, Duration, Effect, Either, Option, Schedule } from "effect"
import type { Redacted } from "effect"
import { describeError } from "../domain/errors/base.js"
import type { RpcFailure } from "../domain/errors/shelly.js"
import { parseIpv4 } from "../domain/ipv4.js"
import { parseMac } from "../domain/mac.js"
import { mergeRecord } from "../inventory/edit.js"
import type { DeviceRecord, InventoryDevice, InventoryDocument, Json } from "../inventory/Inventory.js"
import * as Methods from "../shelly/methods.js"
import type { DeviceInfo } from "../shelly/schemas.js"
import { type DeviceTarget, ShellyRpc } from "../shelly/ShellyRpc.js"
import { normalizeFriendlyName } from "./friendlyName.js"
import { type DeviceMetadata, type FriendlyStatus, isHardFailure, type OtaStatus, type Stage3DeviceResult } from "./stage3/result.js"
import { offeredUpdate, type OtaChannel, pinnedOta, pinnedVersionFor, type PinnedSettings } from "./stage3/ota.js"
import { shortRpcError } from "./stage3/shortError.js"

export * from "./stage3/result.js"

export interface Stage3Settings {
  /** HTTP port of every device (80 on real devices; the simulator's port in tests). */
  readonly devicePort: number
  readonly password?: Redacted.Redacted<string> | undefined
  readonly dryRun: boolean
  /** Devices processed at once (each device sees at most two requests at a time). */
  readonly concurrency: number
  /** TCP connect probe, in place of ICMP ping (runbook: 0.25 s). */
  readonly probeTimeout: Duration.DurationInput
  /** Shelly.GetDeviceInfo, the identity call (runbook: 1 s HTTP fallback). */
  readonly identityTimeout: Duration.DurationInput
  /** Sys.GetConfig / Sys.SetConfig. */
  readonly friendlyTimeout: Duration.DurationInput
  readonly ota: {
    readonly enabled: boolean
    readonly mode: "check_only" | "check_and_update"
    /** Shelly.CheckForUpdate / Shelly.Update (config `ota.timeout`). */
    readonly timeout: Duration.DurationInput
  }
  readonly friendly: {
    readonly enabled: boolean
    readonly fieldName: string
    /** true: the device's name wins, write only when it has none; false: the inventory wins. */
    readonly backfill: boolean
  }
  /** Vendor channel for Shelly.Update {stage} (stage3.ota.channel / --channel); default stable. */
  readonly channel?: OtaChannel | undefined
  /** Pinned versions from the firmware cache (stage3.ota.target); src/stages/stage3/ota.ts. */
  readonly pinned?: PinnedSettings | undefined
  /** `--wait-update`: poll Shelly.GetDeviceInfo until the new version shows (→ `updated`). */
  readonly waitUpdate?: { readonly timeout: Duration.DurationInput; readonly interval: Duration.DurationInput } | undefined
}

/** The runbook's timeouts; the CLI fills in the rest from config.yaml and flags. */
export const defaultTimeouts = {
  probeTimeout: Duration.millis(250),
  identityTimeout: Duration.seconds(1),
  friendlyTimeout: Duration.seconds(5)
} as const

const recordString = (record: DeviceRecord, field: string): string | undefined => {
  const value = record[field]
  return typeof value === "string" && value !== "" ? value : undefined
}

type Outcome<S> = { readonly status: S; readonly error?: string; readonly detail?: string }

/** Reads that are allowed to fail (runbook §7.1: a Sys.GetConfig error is not fatal). */
type NameOnDevice = Option.Option<string>

const processDevice = (device: InventoryDevice, settings: Stage3Settings) =>
  Effect.gen(function* () {
    const storedModel = recordString(device.record, "app") ?? recordString(device.record, "model")
    const rawIp = recordString(device.record, "ip")
    const base = {
      key: device.key,
      mac: device.mac,
      ip: rawIp ?? "-",
      label: storedModel ?? "Shelly",
      wroteName: false,
      startedUpdate: false
    }
    const done = (
      fields: Omit<Stage3DeviceResult, keyof typeof base | "failed" | "errors"> & {
        readonly errors?: ReadonlyArray<string>
        readonly details?: ReadonlyArray<string>
      } & Partial<typeof base>
    ): Stage3DeviceResult & { readonly details: ReadonlyArray<string> } => ({
      ...base,
      errors: [],
      details: [],
      ...fields,
      failed: isHardFailure(fields.ota, fields.friendly) || (fields.errors?.length ?? 0) > 0
    })

    if (rawIp === undefined || Either.isLeft(parseIpv4(rawIp))) {
      return done({ ota: "error", errors: [`inventory: no valid "ip" (${rawIp ?? "missing"})`] })
    }
    const target: DeviceTarget = { host: rawIp, port: settings.devicePort, password: settings.password }

    // Reachability (runbook: ping, then a 1 s HTTP fallback): the identity
    // call's TCP handshake is the probe — no connection within the probe
    // timeout → offline — so a live device costs one connection, not two.
    // A blackholed device (accepts, never answers) runs out the identity timeout.
    const identity = yield* Methods.getDeviceInfo(target, {
      connectTimeout: settings.probeTimeout,
      timeout: settings.identityTimeout
    }).pipe(Effect.either)
    if (Either.isLeft(identity)) {
      const error = identity.left
      if (error._tag === "DeviceUnreachable") {
        return done({ ota: "offline", details: [`TCP probe: no connection (${error.reason})`] })
      }
      if (error._tag === "RpcTimeout") return done({ ota: "offline", details: [describeError(error)] })
      // A Gen1 device has no /rpc: `GET /shelly` tells it apart, so its line says Gen1 instead of "invalid response".
      const noRpc = (error._tag === "RpcError" && error.rpcCode === 404) || error._tag === "ResponseInvalid"
      const gen1 = noRpc
        ? yield* ShellyRpc.pipe(
            Effect.flatMap((rpc) => rpc.getShelly(target, { timeout: settings.identityTimeout })),
            Effect.flip,
            Effect.option,
            Effect.map(Option.filter((e: RpcFailure) => e._tag === "Gen1Unsupported"))
          )
        : Option.none<RpcFailure>()
      const shown = Option.getOrElse(gen1, () => error)
      return done({ ota: "error", errors: [`identity: ${shortRpcError(shown)}`], details: [describeError(shown)] })
    }
    const info = identity.right
    const reported = parseMac(info.mac)
    if (Either.isLeft(reported) || reported.right !== device.mac) {
      // Another device answers at this address (DHCP moved it): touch nothing.
      return done({
        ota: "error",
        label: info.app,
        foundMac: info.mac,
        errors: [`mac mismatch (found ${info.mac})`],
        details: [`${target.host}:${target.port} reports MAC ${info.mac} (${info.id}), inventory key is ${device.key}`]
      })
    }
    const metadata: DeviceMetadata = { model: info.model, fw: info.ver, hostname: info.id }

    // --- reads ---------------------------------------------------------------
    // Shelly.GetDeviceInfo already carries `name` (= Sys.GetConfig device.name,
    // null when unset), which saves one request per device; Sys.GetConfig is
    // asked only when a firmware leaves `name` out. Both reads run together.
    const wantedName = friendlyWanted(device.record, settings)
    const needsName = settings.friendly.enabled && wantedName !== undefined && Either.isRight(wantedName)
    const pinnedVersion = settings.ota.enabled ? pinnedVersionFor(info, settings.pinned) : undefined
    const checkRead =
      settings.ota.enabled && pinnedVersion === undefined
        ? Methods.checkForUpdate(target, { timeout: settings.ota.timeout }).pipe(Effect.either)
        : Effect.succeed(undefined)
    const nameRead: Effect.Effect<Either.Either<NameOnDevice, RpcFailure> | undefined, never, ShellyRpc> = !needsName
      ? Effect.succeed(undefined)
      : info.name !== undefined
        ? Effect.succeed(Either.right(Option.some(info.name ?? "")))
        : Methods.sysGetConfig(target, { timeout: settings.friendlyTimeout }).pipe(
            Effect.map((config): NameOnDevice => Option.some(config.device.name ?? "")),
            Effect.either
          )
    const [check, nameOnDevice] =
      needsName && info.name === undefined
        ? yield* Effect.all([checkRead, nameRead], { concurrency: 2 })
        : ([yield* checkRead, yield* nameRead] as const)

    const details: Array<string> = []
    const errors: Array<string> = []

    // --- friendly ----------------------------------------------------------
    let friendly: Outcome<FriendlyStatus> | undefined
    let friendlyName: string | undefined
    let wroteName = false
    if (settings.friendly.enabled) {
      if (wantedName === undefined) {
        friendly = { status: "no_value" }
      } else if (Either.isLeft(wantedName)) {
        friendly = { status: "error", error: `friendly: ${wantedName.left.message}` }
        friendlyName = wantedName.left.shown
      } else {
        const name = wantedName.right
        friendlyName = name
        let current: NameOnDevice = Option.none()
        if (nameOnDevice !== undefined && Either.isRight(nameOnDevice)) current = nameOnDevice.right
        else if (nameOnDevice !== undefined && Either.isLeft(nameOnDevice)) {
          details.push(`Sys.GetConfig failed, device name unknown: ${describeError(nameOnDevice.left)}`)
        }
        const decision = decideNameWrite(name, current, settings.friendly.backfill)
        if (decision._tag === "keep") {
          friendly = { status: "ok" }
          friendlyName = decision.name
        } else if (decision._tag === "refuse") {
          friendly = { status: "error", error: `friendly: ${decision.reason}` }
        } else if (settings.dryRun) {
          friendly = { status: "pending" }
        } else {
          const written = yield* writeName(target, name, settings)
          wroteName = written.wrote
          friendly = written.outcome
        }
      }
      if (friendly.error !== undefined) errors.push(friendly.error)
      if (friendly.detail !== undefined) details.push(friendly.detail)
    }

    // --- OTA -----------------------------------------------------------------
    let ota: Outcome<OtaStatus>
    let otaVersion: string | undefined
    let startedUpdate = false
    let finalMetadata = metadata
    const offered = check !== undefined && Either.isRight(check) ? offeredUpdate(check.right, settings.channel ?? "stable") : undefined
    if (pinnedVersion !== undefined && settings.pinned !== undefined) {
      const pinned = yield* pinnedOta(target, info, pinnedVersion, {
        pinned: settings.pinned,
        mode: settings.ota.mode,
        dryRun: settings.dryRun,
        rpcTimeout: settings.ota.timeout,
        identityTimeout: settings.identityTimeout
      })
      ota = { status: pinned.status, error: pinned.error, detail: pinned.detail }
      otaVersion = pinned.version
      startedUpdate = pinned.startedUpdate
      if (pinned.installed !== undefined) {
        finalMetadata = { model: pinned.installed.model, fw: pinned.installed.ver, hostname: pinned.installed.id }
      }
    } else if (check === undefined) {
      ota = { status: "skipped" }
    } else if (Either.isLeft(check)) {
      ota = { status: "check_failed", error: `OTA: ${shortRpcError(check.left)}`, detail: describeError(check.left) }
    } else if (offered === undefined) {
      ota = { status: "up_to_date" }
    } else {
      otaVersion = offered.version
      if (settings.ota.mode !== "check_and_update" || settings.dryRun) {
        ota = { status: "update_available" }
      } else {
        const started = yield* Methods.update(target, offered.stage, { timeout: settings.ota.timeout }).pipe(Effect.either)
        if (Either.isLeft(started)) {
          ota = { status: "error", error: `OTA: ${shortRpcError(started.left)}`, detail: describeError(started.left) }
        } else {
          startedUpdate = true
          if (settings.waitUpdate === undefined) {
            ota = { status: "update_available" }
          } else {
            const installed = yield* waitForVersion(target, otaVersion, settings, settings.waitUpdate)
            if (Option.isSome(installed)) {
              ota = { status: "updated" }
              finalMetadata = { model: installed.value.model, fw: installed.value.ver, hostname: installed.value.id }
            } else {
              ota = {
                status: "error",
                error: `OTA: not on ${otaVersion} after ${Duration.format(settings.waitUpdate.timeout)}`
              }
            }
          }
        }
      }
    }
    if (ota.error !== undefined) errors.unshift(ota.error)
    if (ota.detail !== undefined) details.unshift(ota.detail)

    return done({
      ota: ota.status,
      otaVersion,
      friendly: friendly?.status,
      friendlyName,
      label: info.app,
      metadata: finalMetadata,
      wroteName,
      startedUpdate,
      errors,
      details
    })
  })

interface NameProblem {
  readonly message: string
  /** What to show in `Friendly=error (<name>)`. */
  readonly shown: string | undefined
}

/** The inventory's name for the device: absent → `no_value`; unusable → an error to report. */
const friendlyWanted = (record: DeviceRecord, settings: Stage3Settings): Either.Either<string, NameProblem> | undefined => {
  const value: Json | undefined = record[settings.friendly.fieldName]
  if (value === undefined || value === null || value === "") return undefined
  if (typeof value !== "string") {
    return Either.left({ message: `"${settings.friendly.fieldName}" is not text (${JSON.stringify(value)})`, shown: undefined })
  }
  return Either.mapLeft(normalizeFriendlyName(value), (message) => ({ message, shown: value.replace(/[\p{C}]/gu, "?") }))
}

type NameDecision =
  | { readonly _tag: "keep"; readonly name: string }
  | { readonly _tag: "write" }
  | { readonly _tag: "refuse"; readonly reason: string }

/**
 * Runbook §2.2: `backfill: true` keeps a name the device already has;
 * `backfill: false` makes the inventory win. A name already equal is never
 * rewritten. With backfill on and the device's name unreadable we do not
 * write: we cannot know whether we would overwrite the device's own name.
 */
export const decideNameWrite = (wanted: string, current: Option.Option<string>, backfill: boolean): NameDecision => {
  if (Option.isSome(current) && current.value === wanted) return { _tag: "keep", name: wanted }
  if (!backfill) return { _tag: "write" }
  if (Option.isNone(current)) return { _tag: "refuse", reason: "name unreadable" }
  return current.value.trim() === "" ? { _tag: "write" } : { _tag: "keep", name: current.value }
}

/** Sys.SetConfig, then Sys.GetConfig: a name counts only once the device reads it back. */
const writeName = (target: DeviceTarget, name: string, settings: Stage3Settings) =>
  Effect.gen(function* () {
    const options = { timeout: settings.friendlyTimeout }
    const set = yield* Methods.setDeviceName(target, name, options).pipe(Effect.either)
    if (Either.isLeft(set)) {
      return { wrote: false, outcome: failedName(set.left, "") }
    }
    const readBack = yield* Methods.sysGetConfig(target, options).pipe(Effect.either)
    if (Either.isLeft(readBack)) return { wrote: true, outcome: failedName(readBack.left, "read back: ") }
    const now = readBack.right.device.name ?? ""
    return now === name
      ? { wrote: true, outcome: { status: "ok" as const } }
      : {
          wrote: true,
          outcome: {
            status: "error" as const,
            error: `friendly: read back ${JSON.stringify(now)}`,
            detail: `Sys.SetConfig accepted ${JSON.stringify(name)} but Sys.GetConfig reads ${JSON.stringify(now)}`
          }
        }
  })

const failedName = (error: RpcFailure, step: string): Outcome<FriendlyStatus> => ({
  status: "error",
  error: `friendly: ${step}${shortRpcError(error)}`,
  detail: describeError(error)
})

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

export type Stage3DeviceOutcome = Stage3DeviceResult & {
  /** Full error messages (for the log file), beyond the short `ERR=` texts. */
  readonly details: ReadonlyArray<string>
}

/**
 * Runs Stage 3 over `devices` with bounded concurrency. Devices are worked on
 * in whatever order they finish (a blackholed device never holds a worker
 * slot hostage), but `onResult` sees them in inventory order: finished
 * results wait in a small buffer until every earlier device is done (at most
 * about one identity timeout's worth). Never fails: every device error
 * becomes a status on that device's result.
 */
export const runStage3 = (
  devices: ReadonlyArray<InventoryDevice>,
  settings: Stage3Settings,
  onResult: (result: Stage3DeviceOutcome) => Effect.Effect<void> = () => Effect.void
): Effect.Effect<ReadonlyArray<Stage3DeviceOutcome>, never, ShellyRpc> =>
  Effect.suspend(() => {
    const results: Array<Stage3DeviceOutcome | undefined> = new Array(devices.length)
    let nextToEmit = 0
    const emitReady = Effect.suspend(() => {
      const ready: Array<Stage3DeviceOutcome> = []
      while (nextToEmit < results.length && results[nextToEmit] !== undefined) ready.push(results[nextToEmit++]!)
      return Effect.forEach(ready, onResult, { discard: true })
    })
    // One emitter at a time, so lines leave in inventory order even when
    // `onResult` is itself asynchronous (log file, SSE).
    const emitter = Effect.unsafeMakeSemaphore(1)
    return Effect.forEach(
      devices,
      (device, index) =>
        Effect.flatMap(processDevice(device, settings), (result) => {
          results[index] = result
          return emitter.withPermits(1)(emitReady)
        }),
      { concurrency: Math.max(1, settings.concurrency), discard: true }
    ).pipe(Effect.as(results as ReadonlyArray<Stage3DeviceOutcome>))
  })

/** `--ip`: the devices whose inventory `ip` is one of `ips`, plus the IPs nobody has. */
export const selectByIp = (
  devices: ReadonlyArray<InventoryDevice>,
  ips: ReadonlyArray<string>
): { readonly selected: ReadonlyArray<InventoryDevice>; readonly unknown: ReadonlyArray<string> } => {
  const wanted = new Set(ips)
  const selected = devices.filter((d) => wanted.has(String(d.record.ip ?? "")))
  const found = new Set(selected.map((d) => String(d.record.ip)))
  return { selected, unknown: ips.filter((ip) => !found.has(ip)) }
}

/**
 * The results as changes to ip_state.json: `stage3{ota_status,
 * friendly_status, last_run}` and `model`/`fw`/`hostname` from the device.
 * Offline keeps the friendly status (runbook §5.1); a MAC mismatch records
 * the error but no metadata (it came from another device). Every other field
 * and the key order stay as they were; new keys go last.
 */
export const applyStage3Results = (
  document: InventoryDocument,
  results: ReadonlyArray<Stage3DeviceResult>,
  lastRun: string
): InventoryDocument => {
  const byMac = new Map(results.map((r) => [r.mac as string, r]))
  return {
    ...document,
    devices: document.devices.map((device) => {
      const result = byMac.get(device.mac)
      if (result === undefined) return device
      const stage3: { [key: string]: Json } = { ota_status: result.ota }
      if (result.friendly !== undefined && result.friendly !== "pending") stage3.friendly_status = result.friendly
      stage3.last_run = lastRun
      const patch: { [key: string]: Json } = result.metadata === undefined ? {} : { ...result.metadata }
      patch.stage3 = stage3
      return { ...device, record: mergeRecord(device.record, patch) }
    })
  }
}

/** The run's timestamp for `stage3.last_run` (ISO 8601, UTC). */
export const runTimestamp = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())
