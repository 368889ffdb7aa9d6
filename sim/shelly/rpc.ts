/**
 * RPC methods of a simulated device: result shapes from
 * `shared/reference/shelly-rpc.md` §3, errors as `{code, message}`.
 * Transport (GET/POST/frame, auth, faults) is `http.ts`'s job.
 */
import { Either } from "effect"
import { isLoopback, parseIpv4 } from "../../src/domain/ipv4.js"
import type { Json, JsonObject, SimDevice } from "./device.js"
import type { RpcEnv, RpcOutcome, RpcRequest } from "./rpcTypes.js"
import { fail, ok } from "./rpcTypes.js"
import { isJsonObject, mergeConfig, publicConfig } from "./device.js"
import { modelComponents } from "./components.js"
import { fwIdFor } from "./models.js"
import { automationMethods, automationRevs, withComponentSettings } from "./automation.js"
import { checkUpdateUrl } from "./ota.js"

export type { Relink, RpcEnv, RpcOutcome, RpcRequest, ScanResult } from "./rpcTypes.js"

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
  ...(d.model.profile === undefined ? {} : { profile: d.model.profile }),
  auth_en: d.authEnabled,
  auth_domain: d.authEnabled ? d.reportedId : null,
  ...(d.model.matter === undefined ? {} : { matter: d.model.matter }),
  // The value of the published dump (matterbridge-shelly shelly1pmg3 mock); other values are not documented.
  ...(d.model.provision === true ? { provision: "complete" } : {})
})

const availableUpdates = (d: SimDevice): JsonObject => {
  const out: JsonObject = {}
  if (d.pending.stable) out.stable = { version: d.pending.stable }
  if (d.pending.beta) out.beta = { version: d.pending.beta }
  return out
}

const sysStatus = (d: SimDevice): JsonObject => {
  const unixtime = Math.floor(Date.now() / 1000)
  const cfgRev = d.configTouched ? (d.config.sys.cfg_rev ?? 10) : 10
  return {
    mac: d.reportedMac,
    restart_required: false,
    time: new Date(unixtime * 1000).toISOString().slice(11, 16),
    unixtime,
    last_sync_ts: unixtime - 60,
    uptime: d.uptimeS(),
    ram_size: 260_000,
    ram_free: 150_000,
    ram_min_free: 120_000,
    fs_size: 1_048_576,
    fs_free: 600_000,
    cfg_rev: cfgRev,
    kvs_rev: 0,
    ...automationRevs(d),
    btrelay_rev: 0,
    available_updates: availableUpdates(d),
    reset_reason: 3,
    utc_offset: 3600
  }
}

const wifiStatus = (d: SimDevice, env: RpcEnv, via: "sta" | "ap"): JsonObject => {
  const joined = d.staIp !== null
  const status: JsonObject = joined
    ? { sta_ip: d.staIp, status: "got ip", ssid: env.network().ssid, bssid: "02:00:5e:10:00:01", rssi: d.rssi, sta_ip6: [] }
    : { sta_ip: null, status: d.staConnecting ? "connecting" : "disconnected", ssid: null, rssi: 0 }
  if (d.apActive) status.ap_client_count = via === "ap" ? 1 : 0
  return status
}

const components = (d: SimDevice, kind: "status" | "config"): JsonObject => modelComponents(d.model, kind)

const fullStatus = (d: SimDevice, env: RpcEnv, via: "sta" | "ap"): JsonObject => ({
  ble: {},
  cloud: { connected: false },
  mqtt: { connected: false },
  sys: sysStatus(d),
  wifi: wifiStatus(d, env, via),
  ws: { connected: false },
  ...components(d, "status")
})

const fullConfig = (d: SimDevice): JsonObject => ({
  ble: publicConfig(d.config.ble),
  cloud: publicConfig(d.config.cloud),
  mqtt: publicConfig(d.config.mqtt),
  sys: publicConfig(d.config.sys),
  wifi: publicConfig(d.config.wifi),
  ws: { enable: false, server: null, ssl_ca: "ca.pem" },
  ...withComponentSettings(d, components(d, "config"))
})

/**
 * Shelly.GetComponents (docs gen2/ComponentsAndServices/Shelly): params
 * `offset`, `include` (["status","config"]), `keys`; result
 * `{components:[{key, status?, config?}], cfg_rev, offset, total}`.
 */
const getComponents = (d: SimDevice, env: RpcEnv, req: RpcRequest): RpcOutcome => {
  const { include, keys, offset } = req.params
  if (offset !== undefined && (typeof offset !== "number" || !Number.isInteger(offset) || offset < 0))
    return invalid("Argument 'offset' is invalid")
  if (include !== undefined && (!Array.isArray(include) || include.some((i) => i !== "status" && i !== "config"))) {
    return invalid("Argument 'include' is invalid")
  }
  if (keys !== undefined && (!Array.isArray(keys) || keys.some((k) => typeof k !== "string"))) return invalid("Argument 'keys' is invalid")
  const wanted = new Set(Array.isArray(include) ? include : [])
  const status = fullStatus(d, env, req.via)
  const config = fullConfig(d)
  const all = Object.keys(config).filter((key) => !Array.isArray(keys) || keys.includes(key))
  const start = typeof offset === "number" ? offset : 0
  const listed = all.slice(start).map(
    (key): JsonObject => ({
      key,
      ...(wanted.has("status") && status[key] !== undefined ? { status: status[key]! } : {}),
      ...(wanted.has("config") ? { config: config[key]! } : {})
    })
  )
  const sys = config.sys
  return ok({
    components: listed,
    cfg_rev: isJsonObject(sys) && typeof sys.cfg_rev === "number" ? sys.cfg_rev : 0,
    offset: start,
    total: all.length
  })
}

/**
 * WiFi.ListAPClients (docs gen2/ComponentsAndServices/WiFi): `{ts, ap_clients:[{mac, ip, ip_static, mport, since}]}`.
 * The simulated AP has one client, the provisioning host, while a request came over it.
 */
const listApClients = (d: SimDevice, req: RpcRequest): RpcOutcome => {
  const ts = Math.floor(Date.now() / 1000)
  const clients: Array<Json> =
    d.apActive && req.via === "ap" ? [{ mac: "02:00:5e:33:00:02", ip: "192.168.33.2", ip_static: false, mport: 0, since: ts - 5 }] : []
  return ok({ ts, ap_clients: clients })
}

type Section = "sys" | "cloud" | "ble" | "mqtt" | "wifi"

const sameJson = (a: Json | undefined, b: Json | undefined): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null)

/**
 * `restart_required` of a *.SetConfig as real firmware reports it, per component:
 * - WiFi: false — applied live (the captures; aioshelly `wifi_setconfig`
 *   uses the answer without rebooting; shelly-homekit#850: "At this point the
 *   shelly connects to the network ... and returns an IP" after a plain save).
 * - Sys (name, location, sntp): false — the RPC Protocol doc's example result.
 * - BLE: true when `enable` changes — aioshelly `ble/async_ensure_ble_enabled`
 *   reboots the device when BLE.SetConfig answers `restart_required` after
 *   switching BLE on (the Bluetooth stack starts at boot).
 * - MQTT: true when anything changes — the MQTT client connects at boot
 *   (the device web UI asks for a restart after saving MQTT; unverified by capture).
 * - Cloud: false — the cloud connection follows `enable` at runtime (unverified by capture).
 */
const restartRequired = (section: Section, before: JsonObject, after: JsonObject): boolean => {
  switch (section) {
    case "ble":
      return !sameJson(before.enable, after.enable)
    case "mqtt":
      return !sameJson(before, after)
    default:
      return false
  }
}

const setConfigOf = (d: SimDevice, env: RpcEnv, section: Section, params: JsonObject, via: "sta" | "ap"): RpcOutcome => {
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
  const before = d.config[section]
  d.config[section] = next
  d.bumpCfgRev()
  const result = { restart_required: restartRequired(section, before, next) }
  return section === "wifi" ? { ok: true, result, relink: env.applyWifi(d, before, via) } : ok(result)
}

const methods: Record<string, (d: SimDevice, env: RpcEnv, req: RpcRequest) => RpcOutcome> = {
  "Shelly.GetDeviceInfo": (d) => ok(deviceInfo(d)),
  "Shelly.GetStatus": (d, env, req) => ok(fullStatus(d, env, req.via)),
  "Shelly.GetConfig": (d) => ok(fullConfig(d)),
  "Shelly.GetComponents": (d, env, req) => getComponents(d, env, req),
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
  "Sys.SetConfig": (d, env, { params, via }) => setConfigOf(d, env, "sys", params, via),
  "WiFi.GetStatus": (d, env, req) => ok(wifiStatus(d, env, req.via)),
  "WiFi.GetConfig": (d) => ok(publicConfig(d.config.wifi)),
  "WiFi.SetConfig": (d, env, { params, via }) => setConfigOf(d, env, "wifi", params, via),
  "WiFi.ListAPClients": (d, _env, req) => listApClients(d, req),
  "WiFi.Scan": (d, env) => ok({ results: env.scan(d).map((ap) => ({ ...ap })) }),
  "Cloud.GetStatus": () => ok({ connected: false }),
  "Cloud.GetConfig": (d) => ok(publicConfig(d.config.cloud)),
  "Cloud.SetConfig": (d, env, { params, via }) => setConfigOf(d, env, "cloud", params, via),
  "BLE.GetConfig": (d) => ok(publicConfig(d.config.ble)),
  "BLE.SetConfig": (d, env, { params, via }) => setConfigOf(d, env, "ble", params, via),
  "MQTT.GetStatus": () => ok({ connected: false }),
  "MQTT.GetConfig": (d) => ok(publicConfig(d.config.mqtt)),
  "MQTT.SetConfig": (d, env, { params, via }) => setConfigOf(d, env, "mqtt", params, via),
  // Script.*, Webhook.*, Schedule.*, Switch/Input.Get/SetConfig: automation.ts.
  ...automationMethods((d) => components(d, "config"))
}

const byLowerName = new Map(Object.keys(methods).map((name) => [name.toLowerCase(), name]))

/** The method's canonical spelling (Mongoose matches names case-insensitively), or undefined. */
export const knownMethod = (method: string): string | undefined => byLowerName.get(method.toLowerCase())

/** Methods that answer without auth when a password is set (reference §2: GetDeviceInfo; WiFi.ListAPClients per the docs' WiFi page). */
export const isOpenMethod = (canonical: string | undefined): boolean =>
  canonical === "Shelly.GetDeviceInfo" || canonical === "WiFi.ListAPClients"

/** Firmware 1.8+ (or the `setup_window` trait): setup over the AP only within this long after power-on. */
export const setupWindowS = 15 * 60

const versionAtLeast18 = (ver: string): boolean => {
  const m = /^(\d+)\.(\d+)/.exec(ver)
  return m !== null && (Number(m[1]) > 1 || (Number(m[1]) === 1 && Number(m[2]) >= 8))
}

/**
 * EU firmware 1.8+ (RED, EN 18031-1): "adds a 15-minute setup window"
 * (kb.shelly.cloud, Network Design Guide for Shelly Gen2+ Devices). Modelled:
 * writes over the AP without auth are refused once the device has been up
 * longer than that; a power cycle reopens it. The refusal's exact code and
 * text are not documented — -109 FAILED_PRECONDITION is our choice.
 */
const setupWindowClosed = (d: SimDevice, req: RpcRequest, canonical: string): boolean =>
  req.via === "ap" &&
  d.ha1 === null &&
  (versionAtLeast18(d.ver) || d.has("setup_window")) &&
  (canonical.endsWith(".SetConfig") || canonical === "Shelly.SetAuth") &&
  d.uptimeS() >= setupWindowS

export const dispatch = (d: SimDevice, env: RpcEnv, req: RpcRequest): RpcOutcome => {
  const canonical = knownMethod(req.method)
  if (canonical === undefined) return fail(404, `No handler for ${req.method}`)
  if (d.failsMethod(canonical)) return fail(-114, `${canonical} failed (simulated fault)`)
  if (setupWindowClosed(d, req, canonical)) return fail(-109, "Setup window closed: power cycle the device to configure it over its AP")
  return methods[canonical]!(d, env, { ...req, method: canonical })
}

/** For static addresses: only loopback may be bound by the simulator. */
export const usableStaticIp = (ip: Json): string | undefined =>
  typeof ip !== "string"
    ? undefined
    : Either.match(parseIpv4(ip), { onLeft: () => undefined, onRight: (valid) => (isLoopback(valid) ? valid : undefined) })
