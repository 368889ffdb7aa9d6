/**
 * Stage 3 (runbook stage3-runbook.de.md §5): per device, reachability, OTA
 * check/update and friendly-name sync; then the results go into
 * ip_state.json in one safe write (`applyStage3Results`, done by the caller).
 *
 * Order per device: the two reads (Shelly.CheckForUpdate, Sys.GetConfig) run
 * together; the name is written and read back; Shelly.Update is sent last,
 * because the device reboots into the new firmware and would drop a later write.
 */
import { Clock, Duration, Effect, Either, Option } from "effect"
import { describeError } from "../domain/errors/base.js"
import type { RpcFailure } from "../domain/errors/shelly.js"
import { mergeRecord } from "../inventory/edit.js"
import type { DeviceRecord, InventoryDevice, InventoryDocument, Json } from "../inventory/Inventory.js"
import * as Methods from "../shelly/methods.js"
import type { DeviceInfo } from "../shelly/schemas.js"
import type { DeviceTarget, ShellyRpc } from "../shelly/ShellyRpc.js"
import { friendlyTexts, friendlyWanted, type NameOnDevice, syncFriendlyName, type WantedName } from "./stage3/friendly.js"
import { type Identity, identify } from "./stage3/identity.js"
import { pinnedVersionFor } from "./stage3/ota.js"
import { type OtaReads, otaTexts, syncOta } from "./stage3/otaStep.js"
import { type DeviceMetadata, isHardFailure, type Stage3DeviceResult } from "./stage3/result.js"
import type { Stage3Settings } from "./stage3/settings.js"
import { shortRpcError } from "./stage3/shortError.js"

export * from "./stage3/result.js"
export type { Stage3Settings } from "./stage3/settings.js"
export { decideNameWrite } from "./stage3/friendly.js"

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

/** What the line needs of every device, whatever happened to it. */
interface DeviceBase {
  readonly key: string
  readonly mac: InventoryDevice["mac"]
  readonly ip: string
  readonly label: string
}

/** A device's result from its parts; `failed` from the statuses and errors. */
const deviceResult = (
  base: DeviceBase,
  fields: Omit<Stage3DeviceOutcome, keyof DeviceBase | "failed" | "errors" | "details" | "wroteName" | "startedUpdate"> &
    Partial<Pick<Stage3DeviceOutcome, "label" | "errors" | "details" | "wroteName" | "startedUpdate">>
): Stage3DeviceOutcome => ({
  ...base,
  wroteName: false,
  startedUpdate: false,
  errors: [],
  details: [],
  ...fields,
  failed: isHardFailure(fields.ota, fields.friendly) || (fields.errors?.length ?? 0) > 0
})

/** The line of a device that was not identified: no other step ran. */
const unidentifiedResult = (
  base: DeviceBase,
  device: InventoryDevice,
  identity: Exclude<Identity, { readonly _tag: "Identified" }>
): Stage3DeviceOutcome => {
  switch (identity._tag) {
    case "NoValidIp":
      return deviceResult(base, { ota: "error", errors: [`inventory: no valid "ip" (${identity.raw ?? "missing"})`] })
    case "Offline": {
      const { cause } = identity
      return deviceResult(base, {
        ota: "offline",
        details: [cause._tag === "DeviceUnreachable" ? `TCP probe: no connection (${cause.reason})` : describeError(cause)]
      })
    }
    case "IdentityFailed":
      return deviceResult(base, {
        ota: "error",
        errors: [`identity: ${shortRpcError(identity.error)}`],
        details: [describeError(identity.error)]
      })
    case "PinFailed":
      return deviceResult(base, {
        ota: "error",
        errors: [`certificate: ${identity.error._tag === "CertificateChanged" ? "certificate changed" : identity.error.code}`],
        details: [describeError(identity.error)]
      })
    case "MacMismatch": {
      const { target, info } = identity
      return deviceResult(base, {
        ota: "error",
        label: info.app,
        foundMac: info.mac,
        errors: [`mac mismatch (found ${info.mac})`],
        details: [`${target.host}:${target.port} reports MAC ${info.mac} (${info.id}), inventory key is ${device.key}`]
      })
    }
  }
}

/** What the two reads found, and what they were asked for. */
interface DeviceReads extends OtaReads {
  readonly wanted: WantedName
  readonly nameOnDevice: Either.Either<NameOnDevice, RpcFailure> | undefined
}

/**
 * The reads: Shelly.CheckForUpdate (unless OTA is off or the model has a
 * pinned version) and the device's name. Shelly.GetDeviceInfo already
 * carries `name` (= Sys.GetConfig device.name, null when unset), which saves
 * one request per device; Sys.GetConfig is asked only when a firmware leaves
 * `name` out, and then both reads run together.
 */
const readDevice = (
  target: DeviceTarget,
  info: DeviceInfo,
  device: InventoryDevice,
  settings: Stage3Settings
): Effect.Effect<DeviceReads, never, ShellyRpc> => {
  const wanted = friendlyWanted(device.record, settings)
  const needsName = settings.friendly.enabled && wanted !== undefined && Either.isRight(wanted)
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
  const both =
    needsName && info.name === undefined ? Effect.all([checkRead, nameRead], { concurrency: 2 }) : Effect.zip(checkRead, nameRead)
  return Effect.map(both, ([check, nameOnDevice]) => ({ wanted, pinnedVersion, check, nameOnDevice }))
}

const metadataOf = (info: DeviceInfo): DeviceMetadata => ({ model: info.model, fw: info.ver, hostname: info.id })

/**
 * One device: identity → reads → friendly name (decision + write) → OTA
 * (decision + start: last, the device reboots) → its result, assembled here
 * from the steps' values.
 */
const processDevice = (device: InventoryDevice, settings: Stage3Settings): Effect.Effect<Stage3DeviceOutcome, never, ShellyRpc> =>
  Effect.gen(function* () {
    const rawIp = recordString(device.record, "ip")
    const base: DeviceBase = {
      key: device.key,
      mac: device.mac,
      ip: rawIp ?? "-",
      label: recordString(device.record, "app") ?? recordString(device.record, "model") ?? "Shelly"
    }
    const identity = yield* identify(device, rawIp, settings)
    if (identity._tag !== "Identified") return unidentifiedResult(base, device, identity)
    const { target, info } = identity

    const reads = yield* readDevice(target, info, device, settings)
    const friendly = settings.friendly.enabled ? yield* syncFriendlyName(target, reads.wanted, reads.nameOnDevice, settings) : undefined
    const ota = yield* syncOta(target, info, reads, settings)

    const otaText = otaTexts(ota)
    const friendlyText = friendly === undefined ? undefined : friendlyTexts(friendly)
    const errors: Array<string> = []
    const details: Array<string> = []
    if (otaText.error !== undefined) errors.push(otaText.error)
    if (otaText.detail !== undefined) details.push(otaText.detail)
    if (friendlyText?.error !== undefined) errors.push(friendlyText.error)
    if (friendlyText !== undefined) details.push(...friendlyText.details)
    return deviceResult(base, {
      ota: ota.status,
      otaVersion: ota.version,
      friendly: friendly?.status,
      friendlyName: friendly?.name,
      label: info.app,
      metadata: metadataOf(ota.installed ?? info),
      wroteName: friendly?.wroteName ?? false,
      startedUpdate: ota.startedUpdate,
      errors,
      details
    })
  })

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
