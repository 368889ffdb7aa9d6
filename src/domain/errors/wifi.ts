// Errors of the wifi area (see base.ts for the convention).
// Messages name the interface and the SSID; passwords never appear (they are
// held as Redacted and nmcli's own stderr is not copied when it could echo one).
import { Data } from "effect"
import type { Cause } from "effect"
import type { OperatorError } from "./base.js"

/** What `operatorError` builds: the constructor of a tagged error with these fields. */
type OperatorErrorClass<Tag extends string, Fields> = new (
  fields: { readonly [K in keyof Fields]: Fields[K] }
) => Cause.YieldableError & { readonly _tag: Tag } & Readonly<Fields> & OperatorError

/**
 * The shape every error here shares: a tag, a stable code, and hint and
 * message worked out from the fields. Written once so each error below states
 * only what differs.
 */
const operatorError =
  <const Tag extends string>(tag: Tag, code: string) =>
  <Fields extends Record<string, unknown>>(text: {
    readonly hint: (fields: Fields) => string
    readonly message: (fields: Fields) => string
  }): OperatorErrorClass<Tag, Fields> => {
    class Described extends Data.TaggedError(tag)<Record<string, unknown>> {
      readonly code = code
      get hint() {
        return text.hint(this as unknown as Fields)
      }
      override get message() {
        return text.message(this as unknown as Fields)
      }
    }
    return Described as unknown as OperatorErrorClass<Tag, Fields>
  }

/** `nmcli` is not installed or not on PATH. */
export class NmcliMissing extends operatorError(
  "NmcliMissing",
  "nmcli_missing"
)<{ readonly reason: string }>({
  hint: () => "install NetworkManager (apt install network-manager) and make sure nmcli is on PATH",
  message: (e) => `nmcli could not be started (${e.reason})`
}) {}

/** The configured WiFi interface does not exist or is not a WiFi device. */
export class WifiInterfaceMissing extends operatorError(
  "WifiInterfaceMissing",
  "wifi_interface_missing"
)<{
  readonly iface: string
  readonly available: ReadonlyArray<string>
}>({
  hint: (e) =>
    e.available.length > 0
      ? `set stage1.wifi_interface to one of: ${e.available.join(", ")}`
      : "plug in / enable a WiFi adapter (nmcli dev status) and set stage1.wifi_interface",
  message: (e) => `WiFi interface ${e.iface} not found`
}) {}

/** NetworkManager refused the operation for lack of privileges (polkit). */
export class WifiNotAuthorized extends operatorError(
  "WifiNotAuthorized",
  "wifi_not_authorized"
)<{
  readonly iface: string
  readonly operation: string
}>({
  hint: () => "run with sudo, or allow this user to control NetworkManager (netdev group / polkit rule)",
  message: (e) => `${e.operation} on ${e.iface}: not authorised by NetworkManager`
}) {}

/** Joining a network failed: wrong password, network out of range, timeout. */
export class WifiConnectFailed extends operatorError(
  "WifiConnectFailed",
  "wifi_connect_failed"
)<{
  readonly iface: string
  readonly ssid: string
  readonly reason: string
}>({
  hint: () => "check that the network is in range and, for a protected network, the password in secrets.yaml",
  message: (e) => `connecting ${e.iface} to "${e.ssid}" failed: ${e.reason}`
}) {}

/** Any other failure of the WiFi tool (unexpected exit code or output). */
export class WifiCommandFailed extends operatorError(
  "WifiCommandFailed",
  "wifi_command_failed"
)<{
  readonly iface: string
  readonly operation: string
  readonly reason: string
}>({
  hint: () => "check `nmcli general status` and `journalctl -u NetworkManager`",
  message: (e) => `${e.operation} on ${e.iface} failed: ${e.reason}`
}) {}

// --- Stage 1 (runbook "Typical Errors & Resolutions") -------------------------

/** No factory AP matching the pattern appeared in time. */
export class ApNotFound extends operatorError(
  "ApNotFound",
  "ap_not_found"
)<{
  readonly iface: string
  readonly pattern: string
  readonly waitedS: number
}>({
  hint: () => "power on a factory-new device (or reset it) near the Pi; check stage1.ap_ssid_pattern",
  message: (e) => `no Shelly AP matching ${e.pattern} seen on ${e.iface} within ${e.waitedS} s`
}) {}

/** Joined the device's AP but its RPC does not answer (runbook error 1). */
export class ApUnreachable extends operatorError(
  "ApUnreachable",
  "ap_unreachable"
)<{
  readonly ssid: string
  readonly device: string
  readonly reason: string
}>({
  hint: () => "is the Pi's WiFi enabled and not bound to your normal WLAN? (ensure the Pi's WiFi interface is free for the Shelly AP)",
  message: (e) => `Sys.GetStatus on ${e.device} via AP ${e.ssid}: ConnectTimeout (${e.reason})`
}) {}

/** The device rebooted into the production WiFi but never showed up there. */
export class DeviceNeverJoined extends operatorError(
  "DeviceNeverJoined",
  "device_never_joined"
)<{
  readonly mac: string
  readonly ssid: string
  readonly waitedS: number
}>({
  hint: (e) =>
    `check the WiFi password for "${e.ssid}" in secrets.yaml (wifi.sta) and stage1.production_subnets; the device returns to AP mode after a failed join`,
  message: (e) => `device ${e.mac} did not appear on the production network within ${e.waitedS} s`
}) {}

/** The device restarts on its own every ~90 s (runbook error 2, seen on I4 units). */
export class RebootLoopDetected extends operatorError(
  "RebootLoopDetected",
  "reboot_loop"
)<{
  readonly mac: string
  readonly uptimeS: number
}>({
  hint: () => "do the 10 s reset (short press), not the factory reset (long press), then provision it again",
  message: (e) => `device ${e.mac} is in a reboot loop (restarted on its own after ${e.uptimeS} s)`
}) {}

/**
 * Firmware 1.8+ (EU RED, EN 18031-1) accepts setup over the AP only for a
 * while after power-on (15 minutes: kb.shelly.cloud "Network Design Guide
 * for Shelly Gen2+ Devices", FW 1.8 notes); after that, writes are refused.
 */
export class SetupWindowClosed extends operatorError(
  "SetupWindowClosed",
  "setup_window_closed"
)<{
  readonly mac: string
  readonly ver: string
  readonly uptimeS: number
  readonly windowS: number
}>({
  hint: (e) =>
    `power-cycle the device (switch it off and on again) and run Stage 1 within ${Math.round(e.windowS / 60)} minutes of power-on; firmware ${e.ver} accepts setup over its AP only in that window`,
  message: (e) =>
    `device ${e.mac} has been up ${e.uptimeS} s: its setup window (${Math.round(e.windowS / 60)} min after power-on) has closed`
}) {}

export type WifiError = NmcliMissing | WifiInterfaceMissing | WifiNotAuthorized | WifiConnectFailed | WifiCommandFailed
