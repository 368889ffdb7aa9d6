/**
 * One simulated device: identity, firmware, configuration and run state.
 * Configuration is materialised on first use so a 10,000-device fleet that is
 * only probed stays small.
 */
import type { Socket } from "node:net"
import { namesFor } from "../../src/shelly/identity.js"
import type { ModelSpec } from "./models.js"
import { fwIdFor, runsFirmware2x } from "./models.js"
import type { Fault } from "./rules.js"

export type Json = null | boolean | number | string | Array<Json> | JsonObject
export interface JsonObject {
  [key: string]: Json
}

export const isJsonObject = (value: unknown): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value)

export interface WifiNetwork {
  readonly ssid: string
  readonly password: string
}

export interface PendingUpdate {
  stable?: string | undefined
  beta?: string | undefined
}

export interface RpcLogEntry {
  readonly method: string
  readonly params: Json
  readonly via: "sta" | "ap"
  readonly transport: "get" | "post" | "frame" | "ws"
  readonly at: string
}

export interface NonceState {
  readonly expiresAt: number
  /** Highest `nc` accepted with this nonce; 0 before the first use. */
  highestNc: number
  /** Bit i set: `highestNc - 1 - i` was accepted too (the replay window below the highest). */
  window: number
  uses: number
}

const noFaults: ReadonlyArray<Fault> = []

export interface DeviceSeed {
  readonly index: number
  readonly mac: string
  readonly model: ModelSpec
  readonly factory: boolean
  readonly ip: string | null
  readonly name: string | null
  readonly friendlyName: string | undefined
  readonly pending: PendingUpdate
  readonly faults: ReadonlyArray<Fault>
  readonly rssi: number
  readonly network: WifiNetwork
}

export class SimDevice {
  readonly index: number
  readonly mac: string
  model: ModelSpec
  ver: string
  pending: PendingUpdate
  faults: ReadonlyArray<Fault>
  friendlyName: string | undefined
  readonly rssi: number
  /** HA1 of the admin password; null = auth off. */
  ha1: string | null = null
  nonces: Map<string, NonceState> | undefined
  /** Nominal nonce lifetime (firmware 2.x: 1 h), scaled by `timeScale` like every device-side delay. */
  nonceLifetimeMs = 60 * 60 * 1000
  /** Firmware 2.x throttling: times of recent 401 challenges, and until when 429 is answered. */
  recentChallenges: Array<number> = []
  throttledUntil = 0
  /** 401 challenges sent (each with a fresh nonce). */
  authChallenges = 0
  /** Signed requests refused for an `nc` already used with that nonce (a replay) or too far behind. */
  ncRefused = 0

  // run state
  up = true
  /** Address on the production network; null when in AP mode, joining or off. */
  staIp: string | null
  /** The DHCP lease this MAC holds (sticky across reboots). */
  lease: string | null
  joining = false
  /**
   * A live WiFi.SetConfig is bringing the station up (the AP stays up beside
   * it unless disabled): WiFi.GetStatus says "connecting".
   */
  staConnecting = false
  /** Bumped by every join attempt and power loss, so a stale join timer does nothing. */
  joinAttempt = 0
  /** Version to run after the next boot (set by Shelly.Update). */
  installOnBoot: string | null = null
  updating = false
  inFlight = 0
  sockets: Set<Socket> | undefined
  timers: Set<NodeJS.Timeout> | undefined
  bootedAt = Date.now()
  /** The fleet's time scale: uptime counts device seconds, so a compressed reboot loop shows in it as on a real device. */
  timeScale = 1
  reboots = 0
  lastError: string | null = null
  rpcLog: Array<RpcLogEntry> | undefined
  /** The last HTTP request lines as received (`GET /rpc/…?…`): lets tests see what travelled in URLs. */
  requestLines: Array<string> | undefined

  private initialName: string | null
  private initialFactory: boolean
  private initialNetwork: WifiNetwork
  private configValue: Record<"sys" | "wifi" | "cloud" | "ble" | "mqtt", JsonObject> | undefined

  constructor(seed: DeviceSeed) {
    this.index = seed.index
    this.mac = seed.mac
    this.model = seed.model
    this.ver = seed.model.ver
    this.pending = seed.pending
    this.faults = seed.faults.length === 0 ? noFaults : seed.faults
    this.friendlyName = seed.friendlyName
    this.rssi = seed.rssi
    this.staIp = seed.factory ? null : seed.ip
    this.lease = this.staIp
    this.initialName = seed.name
    this.initialFactory = seed.factory
    this.initialNetwork = seed.network
  }

  has(tag: Fault["_tag"]): boolean {
    return this.faults.some((f) => f._tag === tag)
  }

  slowMs(): number {
    return this.faults.reduce((ms, f) => (f._tag === "slow" ? Math.max(ms, f.ms) : ms), 0)
  }

  failsMethod(method: string): boolean {
    return this.faults.some((f) => f._tag === "fail" && f.method.toLowerCase() === method.toLowerCase())
  }

  get id(): string {
    return `${namesFor(this.model.app).idPrefix}-${this.mac.toLowerCase()}`
  }

  /** The MAC this device claims; `wrong_mac` makes another device's identity answer here. */
  get reportedMac(): string {
    if (!this.has("wrong_mac")) return this.mac
    const last = (parseInt(this.mac.slice(10), 16) ^ 0x5a).toString(16).toUpperCase().padStart(2, "0")
    return this.mac.slice(0, 10) + last
  }

  get reportedId(): string {
    return `${namesFor(this.model.app).idPrefix}-${this.reportedMac.toLowerCase()}`
  }

  get fwId(): string {
    return fwIdFor(this.ver, this.model.build)
  }

  /** The factory AP's SSID, `Shelly2PMG3-<MAC12>` (identity table in src/shelly/identity.ts). */
  get apSsid(): string {
    return `${namesFor(this.model.app).apPrefix}-${this.reportedMac}`
  }

  /** The AP's BSSID: the MAC with the locally administered bit set. */
  get apBssid(): string {
    const first = (parseInt(this.mac.slice(0, 2), 16) | 0x02).toString(16).padStart(2, "0")
    return (first + this.mac.slice(2)).toLowerCase().match(/../g)!.join(":")
  }

  get config(): Record<"sys" | "wifi" | "cloud" | "ble" | "mqtt", JsonObject> {
    if (this.configValue === undefined) this.configValue = this.defaultConfig()
    return this.configValue
  }

  get configTouched(): boolean {
    return this.configValue !== undefined
  }

  get name(): string | null {
    if (this.configValue === undefined) return this.initialName
    const device = this.configValue.sys.device
    return isJsonObject(device) && typeof device.name === "string" ? device.name : null
  }

  /**
   * AP visible and reachable: up, not busy joining after a boot, and either
   * enabled, or (fallback) the device has no station link and is not trying
   * to get one. `ap.enable: false` takes the AP down at once, also while a
   * live station join is under way (docs WiFi; shared/reference §5).
   */
  get apActive(): boolean {
    if (!this.up || this.joining || this.has("offline")) return false
    if (this.wifiBool("ap", "enable")) return true
    return this.staIp === null && !this.staConnecting
  }

  get authEnabled(): boolean {
    return this.ha1 !== null
  }

  wifiSection(section: "ap" | "sta" | "sta1"): JsonObject {
    const wifi = this.config.wifi[section]
    return isJsonObject(wifi) ? wifi : {}
  }

  private wifiBool(section: "ap" | "sta" | "sta1", key: string): boolean {
    if (this.configValue === undefined) {
      // Defaults without materialising: AP on only in factory state.
      return section === "ap" && key === "enable" ? this.initialFactory : !this.initialFactory
    }
    return this.wifiSection(section)[key] === true
  }

  uptimeS(): number {
    return Math.floor((Date.now() - this.bootedAt) / this.timeScale / 1000)
  }

  log(entry: RpcLogEntry): void {
    if (this.rpcLog === undefined) this.rpcLog = []
    this.rpcLog.push(entry)
    if (this.rpcLog.length > 50) this.rpcLog.shift()
  }

  logRequestLine(line: string): void {
    if (this.requestLines === undefined) this.requestLines = []
    this.requestLines.push(line)
    if (this.requestLines.length > 100) this.requestLines.shift()
  }

  bumpCfgRev(): void {
    const sys = this.config.sys
    sys.cfg_rev = (typeof sys.cfg_rev === "number" ? sys.cfg_rev : 0) + 1
  }

  private defaultConfig(): Record<"sys" | "wifi" | "cloud" | "ble" | "mqtt", JsonObject> {
    const production = !this.initialFactory
    const staBlank: JsonObject = {
      ssid: null,
      is_open: true,
      enable: false,
      ipv4mode: "dhcp",
      ip: null,
      netmask: null,
      gw: null,
      nameserver: null
    }
    const sta: JsonObject = production
      ? { ...staBlank, ssid: this.initialNetwork.ssid, pass: this.initialNetwork.password, is_open: false, enable: true }
      : staBlank
    // Firmware 2.x has no `ble.enable`: Shelly gen2 changelog 2.0.0, Removed "BLE: Remove global enable flag from
    // config"; docs gen2 BLE: only `rpc.enable` remains. Gen3 adds `observer`, which the published 1PM Gen4 dump lacks.
    const ble: JsonObject = runsFirmware2x(this.model, this.ver) ? { rpc: { enable: true } } : { enable: true, rpc: { enable: true } }
    if (this.model.gen === 3) ble.observer = { enable: false }
    return {
      sys: {
        device: { name: this.initialName, mac: this.reportedMac, fw_id: this.fwId, discoverable: true, eco_mode: false, addon_type: null },
        location: { tz: "Europe/Berlin", lat: 52.52, lon: 13.4 },
        debug: { level: 2, file_level: null, mqtt: { enable: false }, websocket: { enable: false }, udp: { addr: null } },
        ui_data: {},
        rpc_udp: { dst_addr: null, listen_port: null },
        sntp: { server: "time.cloudflare.com" },
        cfg_rev: 10
      },
      wifi: {
        ap: { ssid: this.apSsid, is_open: true, enable: !production, range_extender: { enable: false } },
        sta,
        sta1: { ...staBlank },
        roam: { rssi_thr: -80, interval: 60 }
      },
      cloud: { enable: true, server: "shelly-103-eu.shelly.cloud:6022/jrpc" },
      ble,
      mqtt: {
        enable: false,
        server: null,
        client_id: this.reportedId,
        user: null,
        ssl_ca: null,
        topic_prefix: this.reportedId,
        rpc_ntf: true,
        status_ntf: false,
        use_client_cert: false,
        enable_rpc: true,
        enable_control: true
      }
    }
  }

  /** Back to the box: factory configuration, AP mode, auth off. */
  factoryReset(): void {
    this.initialFactory = true
    this.initialName = null
    this.configValue = undefined
    this.ha1 = null
    this.nonces = undefined
    this.lease = null
  }
}

/** A deep copy with every `pass` field replaced by `pass_set: true` (write-only fields). */
export const withoutSecrets = (value: Json): Json => {
  if (Array.isArray(value)) return value.map(withoutSecrets)
  if (!isJsonObject(value)) return value
  const out: JsonObject = {}
  for (const [key, inner] of Object.entries(value)) {
    if (key === "pass") {
      if (typeof inner === "string" && inner.length > 0) out.pass_set = true
    } else out[key] = withoutSecrets(inner)
  }
  return out
}

/** Same shape as the device returns over RPC: write-only fields left out. */
export const publicConfig = (value: Json): Json => {
  if (Array.isArray(value)) return value.map(publicConfig)
  if (!isJsonObject(value)) return value
  const out: JsonObject = {}
  for (const [key, inner] of Object.entries(value)) if (key !== "pass") out[key] = publicConfig(inner)
  return out
}

/**
 * Merges `patch` into `target` the way *.SetConfig does: objects merge key by
 * key, anything else replaces. Keys the component does not have are refused
 * (real firmware answers -103 for them), except write-only `pass`.
 */
export const mergeConfig = (target: JsonObject, patch: JsonObject, path: string): string | undefined => {
  for (const [key, value] of Object.entries(patch)) {
    const current = target[key]
    if (!(key in target) && key !== "pass") return `Argument '${path}${key}' is invalid`
    if (isJsonObject(current) && isJsonObject(value)) {
      const error = mergeConfig(current, value, `${path}${key}.`)
      if (error) return error
    } else if (isJsonObject(current) && value !== null) {
      return `Argument '${path}${key}' is invalid`
    } else {
      target[key] = value
    }
  }
  return undefined
}
