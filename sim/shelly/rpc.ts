/**
 * RPC methods of a simulated device: result shapes from
 * `shared/reference/shelly-rpc.md` §3, errors as `{code, message}`.
 * Transport (GET/POST/frame, auth, faults) is `http.ts`'s job.
 */
import { Either } from "effect"
import { isLoopback, parseIpv4 } from "../../src/domain/ipv4.js"
import type { Json, JsonObject, SimDevice, WifiNetwork } from "./device.js"
import { isJsonObject, mergeConfig, publicConfig } from "./device.js"
import { fwIdFor } from "./models.js"
import { checkUpdateUrl } from "./ota.js"

export type RpcOutcome =
  | { readonly ok: true; readonly result: Json }
  | { readonly ok: false; readonly code: number; readonly message: string }

export interface ScanResult {
  readonly ssid: string
  readonly bssid: string
  readonly auth: number
  readonly channel: number
  readonly rssi: number
}

/** What a device needs from the fleet around it. */
export interface RpcEnv {
  readonly network: () => WifiNetwork
  readonly scan: (self: SimDevice) => ReadonlyArray<ScanResult>
  /** Reboot after `delayMs` (scaled by the fleet); optionally installing a version on the way. */
  readonly reboot: (device: SimDevice, delayMs: number) => void
  /** Download + install `version`, then reboot. */
  readonly update: (device: SimDevice, version: string) => void
  /** Download the package at `url`, check it, install, reboot (ota.ts). */
  readonly updateFromUrl: (device: SimDevice, url: string) => void
}

export interface RpcRequest {
  readonly method: string
  readonly params: JsonObject
  readonly via: "sta" | "ap"
}

const ok = (result: Json): RpcOutcome => ({ ok: true, result })
const fail = (code: number, message: string): RpcOutcome => ({ ok: false, code, message })
const invalid = (message: string): RpcOutcome => fail(-103, message)

export const deviceInfo = (d: SimDevice): JsonObject => ({
  name: d.name,
  id: d.reportedId,
  mac: d.reportedMac,
  slot: 0,
  model: d.model.model,
  gen: d.model.gen,
  fw_id: d.fwId,
  ver: d.ver,
  app: d.model.app,
  auth_en: d.authEnabled,
  auth_domain: d.authEnabled ? d.reportedId : null
})

const availableUpdates = (d: SimDevice): JsonObject => {
  const out: JsonObject = {}
  if (d.pending.stable) out.stable = { version: d.pending.stable }
  if (d.pending.beta) out.beta = { version: d.pending.beta }
  return out
}

const sysStatus = (d: SimDevice): JsonObject => {
  const unixtime = Math.floor(Date.now() / 1000)
  const cfgRev = d.configTouched ? d.config.sys.cfg_rev ?? 10 : 10
  return {
    mac: d.reportedMac, restart_required: false, time: new Date(unixtime * 1000).toISOString().slice(11, 16),
    unixtime, last_sync_ts: unixtime - 60, uptime: d.uptimeS(), ram_size: 260_000, ram_free: 150_000,
    ram_min_free: 120_000, fs_size: 1_048_576, fs_free: 600_000, cfg_rev: cfgRev, kvs_rev: 0, schedule_rev: 0,
    webhook_rev: 0, btrelay_rev: 0, available_updates: availableUpdates(d), reset_reason: 3, utc_offset: 3600
  }
}

const wifiStatus = (d: SimDevice, env: RpcEnv, via: "sta" | "ap"): JsonObject => {
  const joined = d.staIp !== null
  const status: JsonObject = joined
    ? { sta_ip: d.staIp, status: "got ip", ssid: env.network().ssid, bssid: "02:00:5e:10:00:01", rssi: d.rssi, sta_ip6: [] }
    : { sta_ip: null, status: "disconnected", ssid: null, rssi: 0 }
  if (d.apActive) status.ap_client_count = via === "ap" ? 1 : 0
  return status
}

const components = (d: SimDevice, kind: "status" | "config"): JsonObject => {
  const out: JsonObject = {}
  for (let id = 0; id < d.model.inputs; id++) {
    out[`input:${id}`] = kind === "status"
      ? { id, state: false }
      : { id, name: null, type: "switch", enable: true, invert: false, factory_reset: true }
  }
  for (let id = 0; id < d.model.switches; id++) {
    out[`switch:${id}`] = kind === "status"
      ? { id, source: "init", output: false, apower: 0, voltage: 229.8, current: 0, aenergy: { total: 0 }, temperature: { tC: 41.2, tF: 106.2 } }
      : { id, name: null, in_mode: "follow", initial_state: "match_input", auto_on: false, auto_off: false, power_limit: 4480 }
  }
  return out
}

const setConfigOf = (d: SimDevice, section: "sys" | "cloud" | "ble" | "mqtt" | "wifi", params: JsonObject): RpcOutcome => {
  const patch = params.config
  if (patch === undefined) return invalid("Argument 'config' is missing")
  if (!isJsonObject(patch)) return invalid("Argument 'config' is invalid")
  // Validate on a copy so a rejected call changes nothing.
  const next = structuredClone(d.config[section])
  const error = mergeConfig(next, patch, "config.")
  if (error) return invalid(error)
  if (section === "wifi") {
    for (const key of ["sta", "sta1"] as const) {
      const sta = next[key]
      if (!isJsonObject(sta)) continue
      if (sta.ipv4mode !== "dhcp" && sta.ipv4mode !== "static") return invalid(`Argument 'config.${key}.ipv4mode' is invalid`)
      if (sta.ipv4mode === "static" && (typeof sta.ip !== "string" || Either.isLeft(parseIpv4(sta.ip)))) {
        return invalid(`Argument 'config.${key}.ip' is invalid`)
      }
      if (typeof sta.pass === "string") sta.is_open = sta.pass.length === 0
    }
  }
  d.config[section] = next
  d.bumpCfgRev()
  return ok({ restart_required: section === "wifi" })
}

const methods: Record<string, (d: SimDevice, env: RpcEnv, req: RpcRequest) => RpcOutcome> = {
  "Shelly.GetDeviceInfo": (d) => ok(deviceInfo(d)),
  "Shelly.GetStatus": (d, env, req) =>
    ok({
      ble: {}, cloud: { connected: false }, mqtt: { connected: false }, sys: sysStatus(d),
      wifi: wifiStatus(d, env, req.via), ws: { connected: false }, ...components(d, "status")
    }),
  "Shelly.GetConfig": (d) =>
    ok({
      ble: publicConfig(d.config.ble), cloud: publicConfig(d.config.cloud), mqtt: publicConfig(d.config.mqtt),
      sys: publicConfig(d.config.sys), wifi: publicConfig(d.config.wifi),
      ws: { enable: false, server: null, ssl_ca: "ca.pem" }, ...components(d, "config")
    }),
  "Shelly.ListMethods": () => ok({ methods: Object.keys(methods) }),
  "Shelly.CheckForUpdate": (d) => {
    const out: JsonObject = {}
    if (d.pending.stable) out.stable = { version: d.pending.stable, build_id: fwIdFor(d.pending.stable).split("/")[0]! }
    if (d.pending.beta) out.beta = { version: d.pending.beta, build_id: fwIdFor(d.pending.beta).split("/")[0]! }
    return ok(out)
  },
  "Shelly.Update": (d, env, { params }) => {
    if (d.updating) return fail(-109, "Update already in progress")
    const { stage, url } = params
    let version: string | undefined
    if (url !== undefined) {
      // The package's own manifest names the version; the device reads it after the download (ota.ts).
      if (stage !== undefined) return invalid("Give either 'stage' or 'url'")
      const bad = typeof url === "string" ? checkUpdateUrl(url) : "Argument 'url' is invalid"
      if (bad !== undefined || typeof url !== "string") return invalid(bad ?? "Argument 'url' is invalid")
      env.updateFromUrl(d, url)
      return ok(null)
    } else if (stage === undefined || stage === "stable" || stage === "beta") {
      const channel = stage === "beta" ? "beta" : "stable"
      version = d.pending[channel]
      if (version === undefined) return fail(-109, `No ${channel} update available`)
    } else {
      return invalid("Argument 'stage' is invalid")
    }
    env.update(d, version)
    return ok(null)
  },
  "Shelly.Reboot": (d, env, { params }) => {
    const delay = params.delay_ms
    if (delay !== undefined && (typeof delay !== "number" || delay < 0)) return invalid("Argument 'delay_ms' is invalid")
    env.reboot(d, Math.max(500, typeof delay === "number" ? delay : 1000))
    return ok(null)
  },
  "Shelly.FactoryReset": (d, env) => {
    d.factoryReset()
    env.reboot(d, 500)
    return ok(null)
  },
  "Shelly.SetAuth": (d, _env, { params }) => {
    const { ha1, realm, user } = params
    if (user !== undefined && user !== "admin") return invalid("Argument 'user' is invalid")
    if (realm !== d.reportedId) return invalid("Argument 'realm' is invalid")
    if (ha1 === null) {
      d.ha1 = null
      d.nonces = undefined
      return ok(null)
    }
    if (typeof ha1 !== "string" || !/^[0-9a-fA-F]{64}$/.test(ha1)) return invalid("Argument 'ha1' is invalid")
    d.ha1 = ha1.toLowerCase()
    return ok(null)
  },
  "Sys.GetStatus": (d) => ok(sysStatus(d)),
  "Sys.GetConfig": (d) => ok(publicConfig(d.config.sys)),
  "Sys.SetConfig": (d, _env, { params }) => setConfigOf(d, "sys", params),
  "WiFi.GetStatus": (d, env, req) => ok(wifiStatus(d, env, req.via)),
  "WiFi.GetConfig": (d) => ok(publicConfig(d.config.wifi)),
  "WiFi.SetConfig": (d, _env, { params }) => setConfigOf(d, "wifi", params),
  "WiFi.Scan": (d, env) => ok({ results: env.scan(d).map((ap) => ({ ...ap })) }),
  "Cloud.GetStatus": () => ok({ connected: false }),
  "Cloud.GetConfig": (d) => ok(publicConfig(d.config.cloud)),
  "Cloud.SetConfig": (d, _env, { params }) => setConfigOf(d, "cloud", params),
  "BLE.GetConfig": (d) => ok(publicConfig(d.config.ble)),
  "BLE.SetConfig": (d, _env, { params }) => setConfigOf(d, "ble", params),
  "MQTT.GetStatus": () => ok({ connected: false }),
  "MQTT.GetConfig": (d) => ok(publicConfig(d.config.mqtt)),
  "MQTT.SetConfig": (d, _env, { params }) => setConfigOf(d, "mqtt", params)
}

const byLowerName = new Map(Object.keys(methods).map((name) => [name.toLowerCase(), name]))

/** The method's canonical spelling (Mongoose matches names case-insensitively), or undefined. */
export const knownMethod = (method: string): string | undefined => byLowerName.get(method.toLowerCase())

/** Methods that answer without auth when a password is set. */
export const isOpenMethod = (canonical: string | undefined): boolean => canonical === "Shelly.GetDeviceInfo"

export const dispatch = (d: SimDevice, env: RpcEnv, req: RpcRequest): RpcOutcome => {
  const canonical = knownMethod(req.method)
  if (canonical === undefined) return fail(404, `No handler for ${req.method}`)
  if (d.failsMethod(canonical)) return fail(-114, `${canonical} failed (simulated fault)`)
  return methods[canonical]!(d, env, { ...req, method: canonical })
}

/** For static addresses: only loopback may be bound by the simulator. */
export const usableStaticIp = (ip: Json): string | undefined =>
  typeof ip !== "string"
    ? undefined
    : Either.match(parseIpv4(ip), { onLeft: () => undefined, onRight: (valid) => (isLoopback(valid) ? valid : undefined) })
