/**
 * Result shapes of the Shelly Gen2+ RPC methods this project calls (facts in
 * shared/reference/shelly-rpc.md §3). Firmware adds keys over versions, so
 * every struct tolerates unknown keys; config objects keep them (index
 * signature) so a read-modify-write round trip loses nothing.
 */
import { Schema } from "effect"

const Rest = Schema.Record({ key: Schema.String, value: Schema.Unknown })
const NullableString = Schema.NullOr(Schema.String)
const optional = Schema.optional

/** `{}` or `null`: methods that return nothing (Shelly.Update, Reboot, SetAuth). */
export const EmptyResult = Schema.Union(Schema.Null, Schema.Struct({}, Rest))
export type EmptyResult = typeof EmptyResult.Type

// --- identity ---------------------------------------------------------------

/** Shelly.GetDeviceInfo; `GET /shelly` returns the same object without auth. */
export const DeviceInfo = Schema.Struct(
  {
    name: optional(NullableString),
    id: Schema.String,
    mac: Schema.String,
    slot: optional(Schema.Number),
    model: Schema.String,
    /** 2, 3, 4…; treat `gen >= 2` as Gen2+. */
    gen: Schema.Number,
    fw_id: Schema.String,
    ver: Schema.String,
    app: Schema.String,
    profile: optional(Schema.String),
    auth_en: Schema.Boolean,
    auth_domain: optional(NullableString),
    matter: optional(Schema.Boolean),
    provision: optional(Schema.String)
  },
  Rest
)
export type DeviceInfo = typeof DeviceInfo.Type

/** `GET /shelly`: the identity a device announces to anyone, used by discovery. */
export const ShellyIdentity = DeviceInfo
export type ShellyIdentity = DeviceInfo

export const isGen2Plus = (info: { readonly gen: number }): boolean => info.gen >= 2

// --- Sys --------------------------------------------------------------------

const UpdateChannel = Schema.Struct({ version: Schema.String, build_id: optional(Schema.String) }, Rest)
export type UpdateChannel = typeof UpdateChannel.Type

/** `{}` when up to date; a key per channel with a newer build. */
export const AvailableUpdates = Schema.Struct({ stable: optional(UpdateChannel), beta: optional(UpdateChannel) }, Rest)
export type AvailableUpdates = typeof AvailableUpdates.Type

export const SysStatus = Schema.Struct(
  {
    mac: Schema.String,
    restart_required: Schema.Boolean,
    time: optional(NullableString),
    unixtime: optional(Schema.NullOr(Schema.Number)),
    uptime: optional(Schema.Number),
    ram_size: optional(Schema.Number),
    ram_free: optional(Schema.Number),
    fs_size: optional(Schema.Number),
    fs_free: optional(Schema.Number),
    cfg_rev: optional(Schema.Number),
    available_updates: optional(AvailableUpdates)
  },
  Rest
)
export type SysStatus = typeof SysStatus.Type

export const SysDeviceConfig = Schema.Struct(
  {
    name: optional(NullableString),
    mac: optional(Schema.String),
    fw_id: optional(Schema.String),
    discoverable: optional(Schema.Boolean),
    eco_mode: optional(Schema.Boolean)
  },
  Rest
)

export const SysConfig = Schema.Struct({ device: SysDeviceConfig, cfg_rev: optional(Schema.Number) }, Rest)
export type SysConfig = typeof SysConfig.Type

/** Result of Sys.SetConfig and every `<Component>.SetConfig`. */
export const SetConfigResult = Schema.Struct({ restart_required: Schema.Boolean }, Rest)
export type SetConfigResult = typeof SetConfigResult.Type

// --- Shelly.* ---------------------------------------------------------------

export const WifiStatusValue = Schema.Literal("disconnected", "connecting", "connected", "got ip")

export const WifiStatus = Schema.Struct(
  {
    sta_ip: optional(NullableString),
    status: Schema.String,
    ssid: optional(NullableString),
    bssid: optional(NullableString),
    rssi: optional(Schema.Number)
  },
  Rest
)
export type WifiStatus = typeof WifiStatus.Type

/** Shelly.GetStatus: an object keyed by component (`sys`, `wifi`, `switch:0`…). */
export const DeviceStatus = Schema.Struct(
  {
    sys: SysStatus,
    wifi: optional(WifiStatus),
    cloud: optional(Schema.Struct({ connected: Schema.Boolean }, Rest)),
    mqtt: optional(Schema.Struct({ connected: Schema.Boolean }, Rest))
  },
  Rest
)
export type DeviceStatus = typeof DeviceStatus.Type

/** Shelly.CheckForUpdate: `{}` when up to date. */
export const CheckForUpdateResult = AvailableUpdates
export type CheckForUpdateResult = AvailableUpdates

export const UpdateStage = Schema.Literal("stable", "beta")
export type UpdateStage = typeof UpdateStage.Type

// --- WiFi -------------------------------------------------------------------

const StaConfig = Schema.Struct(
  {
    ssid: optional(NullableString),
    is_open: optional(Schema.Boolean),
    enable: optional(Schema.Boolean),
    ipv4mode: optional(Schema.Literal("dhcp", "static")),
    ip: optional(NullableString),
    netmask: optional(NullableString),
    gw: optional(NullableString),
    nameserver: optional(NullableString)
  },
  Rest
)

export const WifiConfig = Schema.Struct(
  {
    ap: optional(
      Schema.Struct({ ssid: optional(NullableString), is_open: optional(Schema.Boolean), enable: optional(Schema.Boolean) }, Rest)
    ),
    sta: optional(StaConfig),
    sta1: optional(StaConfig),
    roam: optional(Schema.Struct({ rssi_thr: optional(Schema.Number), interval: optional(Schema.Number) }, Rest))
  },
  Rest
)
export type WifiConfig = typeof WifiConfig.Type

export const WifiScanResult = Schema.Struct(
  {
    results: Schema.Array(
      Schema.Struct(
        {
          ssid: NullableString,
          bssid: Schema.String,
          auth: Schema.Number,
          channel: Schema.Number,
          rssi: Schema.Number
        },
        Rest
      )
    )
  },
  Rest
)
export type WifiScanResult = typeof WifiScanResult.Type

// --- Cloud / BLE / MQTT -----------------------------------------------------

export const CloudConfig = Schema.Struct({ enable: Schema.Boolean, server: optional(NullableString) }, Rest)
export type CloudConfig = typeof CloudConfig.Type

/** Firmware 2.x answers BLE.GetConfig without `enable` (issue 11), so it is optional. */
export const BleConfig = Schema.Struct(
  { enable: optional(Schema.Boolean), rpc: optional(Schema.Struct({ enable: Schema.Boolean }, Rest)) },
  Rest
)
export type BleConfig = typeof BleConfig.Type

export const MqttConfig = Schema.Struct(
  {
    enable: Schema.Boolean,
    server: optional(NullableString),
    client_id: optional(NullableString),
    user: optional(NullableString),
    topic_prefix: optional(NullableString)
  },
  Rest
)
export type MqttConfig = typeof MqttConfig.Type

// --- wire frames --------------------------------------------------------------

/** The `{code,message}` body of an HTTP error and the `error` of a JSON-RPC frame. */
export const RpcErrorBody = Schema.Struct({ code: Schema.Number, message: Schema.String }, Rest)
export type RpcErrorBody = typeof RpcErrorBody.Type

/** A `POST /rpc` answer: `{id, src, dst, result}` or `{id, src, dst, error}`. */
export const ResponseFrame = Schema.Struct(
  {
    id: Schema.Union(Schema.Number, Schema.String),
    src: optional(Schema.String),
    dst: optional(Schema.String),
    result: optional(Schema.Unknown),
    error: optional(RpcErrorBody)
  },
  Rest
)
export type ResponseFrame = typeof ResponseFrame.Type
