/** What the fleet shows of a simulated device and of the AP link (FleetHandle's data types). */
import type { AuthState } from "./auth.js"
import type { JsonObject, PendingUpdate, RpcLogEntry } from "./device.js"

export type DeviceMode = "sta" | "ap" | "joining" | "offline"

export interface DeviceView {
  readonly index: number
  readonly mac: string
  readonly id: string
  /** Production address; null while in factory/AP state. */
  readonly ip: string | null
  readonly port: number
  readonly app: string
  readonly model: string
  readonly gen: number
  readonly fw: string
  readonly fwId: string
  readonly name: string | null
  readonly friendlyName: string | null
  readonly apSsid: string
  readonly online: boolean
  readonly mode: DeviceMode
  readonly faults: ReadonlyArray<string>
  readonly pendingUpdate: PendingUpdate
  readonly authEnabled: boolean
  readonly reportedMac: string
}

export interface DeviceState extends DeviceView {
  /** Full configuration as the device holds it; write-only `pass` fields appear as `pass_set: true`. */
  readonly config: JsonObject
  readonly rpcLog: ReadonlyArray<RpcLogEntry>
  /** The last 100 HTTP request lines (method and target, query included) as the device received them. */
  readonly requestLines: ReadonlyArray<string>
  readonly reboots: number
  readonly lastError: string | null
  /** Digest auth counters: 401s sent, refused `nc` values, live nonces. */
  readonly auth: AuthState
}

export interface ApInfo {
  readonly ssid: string
  readonly bssid: string
  readonly signal: number
  readonly security: "open" | "wpa2"
  /** The device behind a Shelly AP (absent for the production network). */
  readonly mac?: string
}

export interface ApConnection {
  readonly ssid: string
  /** Where the device now answers (the AP address); null for the production network. */
  readonly ip: string | null
  readonly port: number
  readonly mac: string | null
}
