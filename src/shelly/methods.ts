/**
 * Typed helpers over `ShellyRpc.call`, one per RPC method the stages use.
 * Each returns `Effect<Result, RpcFailure, ShellyRpc>` and takes the call's
 * `CallOptions` last (timeout, transport).
 */
import { Duration, Effect, Redacted, Schema } from "effect"
import type { RpcFailure } from "../domain/errors/shelly.js"
import { ha1For } from "./digest.js"
import { type CallOptions, type DeviceTarget, ShellyRpc } from "./ShellyRpc.js"
import {
  BleConfig,
  CheckForUpdateResult,
  CloudConfig,
  DeviceInfo,
  DeviceStatus,
  EmptyResult,
  MqttConfig,
  SetConfigResult,
  SysConfig,
  SysStatus,
  type UpdateStage,
  WifiConfig,
  WifiScanResult,
  WifiStatus
} from "./schemas.js"

type Rpc<A> = Effect.Effect<A, RpcFailure, ShellyRpc>
type Params = Readonly<Record<string, unknown>>

/**
 * The least time a method gets, whatever timeout the caller passes (a stage's
 * general RPC timeout fits quick calls, not these). WiFi.Scan takes about 20 s
 * on a real device (shared/reference/shelly-rpc.md §3); aioshelly gives it 30 s.
 */
export const methodMinTimeouts: Readonly<Record<string, Duration.Duration>> = {
  "WiFi.Scan": Duration.seconds(30)
}

/** The call's options with the method's floor applied to its timeout. */
export const withMethodTimeout = (method: string, options: CallOptions | undefined): CallOptions | undefined => {
  const floor = methodMinTimeouts[method]
  if (floor === undefined) return options
  const asked = options?.timeout === undefined ? undefined : Duration.decode(options.timeout)
  return { ...options, timeout: asked === undefined ? floor : Duration.max(asked, floor) }
}

const call = <A, I>(
  target: DeviceTarget,
  method: string,
  params: Params | undefined,
  schema: Schema.Schema<A, I>,
  options?: CallOptions
): Rpc<A> => Effect.flatMap(ShellyRpc, (rpc) => rpc.call(target, method, params, schema, withMethodTimeout(method, options)))

/**
 * Passwords stay Redacted up to the moment they go on the wire; JSON of a
 * Redacted would send "<redacted>" to the device.
 */
const revealPass = <T extends { readonly pass?: Redacted.Redacted<string> | null }>(section: T) =>
  section.pass === undefined || section.pass === null ? section : { ...section, pass: Redacted.value(section.pass) }

/**
 * Calls that carry a secret (WiFi and MQTT passwords, the admin HA1) always go
 * as a POST body: a GET puts its params in the URL, which proxies, device
 * logs and our own error excerpts may keep.
 */
const secretBearing = (options: CallOptions | undefined): CallOptions => ({ ...options, transport: "post" })

/** A partial config object as `*.SetConfig` takes it (only the keys to change). */
export type ConfigPatch = Params

interface StaPatch {
  readonly ssid?: string | null
  /** Write-only on the device; never read back. */
  readonly pass?: Redacted.Redacted<string> | null
  readonly enable?: boolean
  readonly ipv4mode?: "dhcp" | "static"
  readonly ip?: string | null
  readonly netmask?: string | null
  readonly gw?: string | null
  readonly nameserver?: string | null
}

export interface WifiConfigPatch {
  readonly ap?: {
    readonly enable?: boolean
    readonly ssid?: string
    readonly pass?: Redacted.Redacted<string> | null
    readonly is_open?: boolean
  }
  readonly sta?: StaPatch
  readonly sta1?: StaPatch
  readonly roam?: { readonly rssi_thr?: number; readonly interval?: number }
}

export interface CloudConfigPatch {
  readonly enable?: boolean
  readonly server?: string | null
}

export interface BleConfigPatch {
  readonly enable?: boolean
  readonly rpc?: { readonly enable?: boolean }
  readonly observer?: { readonly enable?: boolean }
}

export interface MqttConfigPatch {
  readonly enable?: boolean
  readonly server?: string | null
  readonly client_id?: string | null
  readonly user?: string | null
  /** Write-only on the device. */
  readonly pass?: Redacted.Redacted<string> | null
  readonly topic_prefix?: string | null
  readonly ssl_ca?: string | null
  readonly rpc_ntf?: boolean
  readonly status_ntf?: boolean
  readonly enable_rpc?: boolean
  readonly enable_control?: boolean
}

// --- Shelly.* ---------------------------------------------------------------

export const getDeviceInfo = (target: DeviceTarget, options?: CallOptions): Rpc<DeviceInfo> =>
  call(target, "Shelly.GetDeviceInfo", undefined, DeviceInfo, options)

export const getStatus = (target: DeviceTarget, options?: CallOptions): Rpc<DeviceStatus> =>
  call(target, "Shelly.GetStatus", undefined, DeviceStatus, options)

export const checkForUpdate = (target: DeviceTarget, options?: CallOptions): Rpc<CheckForUpdateResult> =>
  call(target, "Shelly.CheckForUpdate", undefined, CheckForUpdateResult, options)

/** Starts an OTA update from the vendor's channel; the device reboots when done. */
export const update = (target: DeviceTarget, stage: UpdateStage, options?: CallOptions): Rpc<EmptyResult> =>
  call(target, "Shelly.Update", { stage }, EmptyResult, options)

/**
 * Starts an OTA update from a package at `url` (docs: Shelly.Update `url`; a
 * LAN server such as `provision serve`); the device downloads, flashes, reboots.
 * Sent as a POST frame, so the URL needs no query-string escaping.
 */
export const updateFromUrl = (target: DeviceTarget, url: string, options?: CallOptions): Rpc<EmptyResult> =>
  call(target, "Shelly.Update", { url }, EmptyResult, { transport: "post", ...options })

export const reboot = (target: DeviceTarget, delayMs?: number, options?: CallOptions): Rpc<EmptyResult> =>
  call(target, "Shelly.Reboot", delayMs === undefined ? undefined : { delay_ms: delayMs }, EmptyResult, options)

/**
 * Sets (or with `null` clears) the admin password. The device stores only
 * ha1 = sha256(`admin:<realm>:<password>`); the realm is the device id.
 */
export const setAuth = (
  target: DeviceTarget,
  deviceId: string,
  password: Redacted.Redacted<string> | null,
  options?: CallOptions
): Rpc<EmptyResult> =>
  call(
    target,
    "Shelly.SetAuth",
    { user: "admin", realm: deviceId, ha1: password === null ? null : ha1For(deviceId, Redacted.value(password)) },
    EmptyResult,
    secretBearing(options)
  )

// --- Sys.* ------------------------------------------------------------------

export const sysGetStatus = (target: DeviceTarget, options?: CallOptions): Rpc<SysStatus> =>
  call(target, "Sys.GetStatus", undefined, SysStatus, options)

export const sysGetConfig = (target: DeviceTarget, options?: CallOptions): Rpc<SysConfig> =>
  call(target, "Sys.GetConfig", undefined, SysConfig, options)

export const sysSetConfig = (target: DeviceTarget, config: ConfigPatch, options?: CallOptions): Rpc<SetConfigResult> =>
  call(target, "Sys.SetConfig", { config }, SetConfigResult, options)

/**
 * The runbook's write path (§7.2): `GET /rpc/Sys.SetConfig?config={"device":{"name":…}}`
 * with compact JSON, since spaces in the query make some firmware answer HTTP 500.
 */
export const setDeviceName = (target: DeviceTarget, name: string, options?: CallOptions): Rpc<SetConfigResult> =>
  sysSetConfig(target, { device: { name } }, options)

// --- WiFi.* -----------------------------------------------------------------

export const wifiGetStatus = (target: DeviceTarget, options?: CallOptions): Rpc<WifiStatus> =>
  call(target, "WiFi.GetStatus", undefined, WifiStatus, options)

export const wifiGetConfig = (target: DeviceTarget, options?: CallOptions): Rpc<WifiConfig> =>
  call(target, "WiFi.GetConfig", undefined, WifiConfig, options)

export const wifiSetConfig = (target: DeviceTarget, config: WifiConfigPatch, options?: CallOptions): Rpc<SetConfigResult> =>
  call(
    target,
    "WiFi.SetConfig",
    {
      config: {
        ...config,
        ...(config.ap && { ap: revealPass(config.ap) }),
        ...(config.sta && { sta: revealPass(config.sta) }),
        ...(config.sta1 && { sta1: revealPass(config.sta1) })
      }
    },
    SetConfigResult,
    secretBearing(options)
  )

/** Can take about 20 s on a real device: at least 30 s whatever the caller asks (`methodMinTimeouts`). */
export const wifiScan = (target: DeviceTarget, options?: CallOptions): Rpc<WifiScanResult> =>
  call(target, "WiFi.Scan", undefined, WifiScanResult, options)

// --- Cloud / BLE / MQTT -------------------------------------------------------

export const cloudGetConfig = (target: DeviceTarget, options?: CallOptions): Rpc<CloudConfig> =>
  call(target, "Cloud.GetConfig", undefined, CloudConfig, options)

export const cloudSetConfig = (target: DeviceTarget, config: CloudConfigPatch, options?: CallOptions): Rpc<SetConfigResult> =>
  call(target, "Cloud.SetConfig", { config }, SetConfigResult, options)

export const bleGetConfig = (target: DeviceTarget, options?: CallOptions): Rpc<BleConfig> =>
  call(target, "BLE.GetConfig", undefined, BleConfig, options)

export const bleSetConfig = (target: DeviceTarget, config: BleConfigPatch, options?: CallOptions): Rpc<SetConfigResult> =>
  call(target, "BLE.SetConfig", { config }, SetConfigResult, options)

export const mqttGetConfig = (target: DeviceTarget, options?: CallOptions): Rpc<MqttConfig> =>
  call(target, "MQTT.GetConfig", undefined, MqttConfig, options)

export const mqttSetConfig = (target: DeviceTarget, config: MqttConfigPatch, options?: CallOptions): Rpc<SetConfigResult> =>
  call(target, "MQTT.SetConfig", { config: revealPass(config) }, SetConfigResult, secretBearing(options))
