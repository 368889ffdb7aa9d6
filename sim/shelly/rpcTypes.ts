/**
 * The shapes a simulated device's RPC handlers share (the dispatcher in
 * rpc.ts and the handler groups beside it, e.g. automation.ts), apart so the
 * groups need not import the dispatcher that imports them.
 */
import type { Json, JsonObject, SimDevice, WifiNetwork } from "./device.js"

export type RpcOutcome =
  | {
      readonly ok: true
      readonly result: Json
      /**
       * A change of the link the call came over (AP taken down, address moved)
       * that real firmware applies at once: by default after the answer has
       * gone out; with the `drop_before_answer` fault before it, so the answer
       * is lost (both orders happen on real devices).
       */
      readonly relink?: Relink | undefined
    }
  | { readonly ok: false; readonly code: number; readonly message: string }

/** A link change of a call and whether it cuts the link that very call came over. */
export interface Relink {
  readonly run: () => void
  readonly cutsCaller: boolean
}

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
  /**
   * Applies a WiFi configuration live (no reboot): the station joins within
   * seconds, a static address moves at once, `ap.enable: false` drops the AP.
   * Returns the link change to run around the answer.
   */
  readonly applyWifi: (device: SimDevice, before: JsonObject, via: "sta" | "ap") => Relink
  /** Download the package at `url`, check it, install, reboot (ota.ts). */
  readonly updateFromUrl: (device: SimDevice, url: string) => void
}

export interface RpcRequest {
  readonly method: string
  readonly params: JsonObject
  readonly via: "sta" | "ap"
}

/** A successful answer. */
export const ok = (result: Json): RpcOutcome => ({ ok: true, result })
/** An RPC error answer (`code`, `message`), as the firmware's error object. */
export const fail = (code: number, message: string): RpcOutcome => ({ ok: false, code, message })
