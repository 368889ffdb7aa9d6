import type { Effect, Option, Redacted } from "effect"
import { Context } from "effect"
import type { WifiError } from "../domain/errors/wifi.js"

/** One network seen by a scan. */
export interface AccessPoint {
  readonly ssid: string
  /** `AA:BB:CC:DD:EE:FF` (upper case). */
  readonly bssid: string
  /** Signal quality 0–100 (nmcli's SIGNAL column). */
  readonly signal: number
  /** `open`, or the security in nmcli's words (`WPA2`, `WPA1 WPA2`, `WPA3` …). */
  readonly security: string
}

export const isOpen = (ap: AccessPoint): boolean => ap.security === "open"

export interface WifiCredentials {
  readonly ssid: string
  /** Left out for an open network (a factory Shelly AP). */
  readonly password?: Redacted.Redacted<string> | undefined
}

/** What the interface is connected to now. */
export interface WifiConnection {
  readonly ssid: string
  /** NetworkManager's connection profile name (what `restore` brings back up). */
  readonly profile: string
}

/**
 * The provisioning WiFi interface (the Pi's `wlan0`). Every operation acts on
 * that one interface only, so the operator's uplink (Ethernet or another
 * WLAN) is never touched.
 */
export interface WifiService {
  readonly iface: string
  readonly scan: () => Effect.Effect<ReadonlyArray<AccessPoint>, WifiError>
  readonly connect: (network: WifiCredentials) => Effect.Effect<WifiConnection, WifiError>
  readonly current: () => Effect.Effect<Option.Option<WifiConnection>, WifiError>
  /** Back to what `current` returned before provisioning (none → disconnect). */
  readonly restore: (previous: Option.Option<WifiConnection>) => Effect.Effect<void, WifiError>
}

export class Wifi extends Context.Tag("fleet-provision/Wifi")<Wifi, WifiService>() {}
