// Errors of the wifi area (see base.ts for the convention).
// Messages name the interface and the SSID; passwords never appear (they are
// held as Redacted and nmcli's own stderr is not copied when it could echo one).
import { Data } from "effect"
import type { OperatorError } from "./base.js"

/** `nmcli` is not installed or not on PATH. */
export class NmcliMissing extends Data.TaggedError("NmcliMissing")<{ readonly reason: string }> implements OperatorError {
  readonly code = "nmcli_missing"
  get hint() {
    return "install NetworkManager (apt install network-manager) and make sure nmcli is on PATH"
  }
  override get message() {
    return `nmcli could not be started (${this.reason})`
  }
}

/** The configured WiFi interface does not exist or is not a WiFi device. */
export class WifiInterfaceMissing
  extends Data.TaggedError("WifiInterfaceMissing")<{ readonly iface: string; readonly available: ReadonlyArray<string> }>
  implements OperatorError
{
  readonly code = "wifi_interface_missing"
  get hint() {
    return this.available.length > 0
      ? `set stage1.wifi_interface to one of: ${this.available.join(", ")}`
      : "plug in / enable a WiFi adapter (nmcli dev status) and set stage1.wifi_interface"
  }
  override get message() {
    return `WiFi interface ${this.iface} not found`
  }
}

/** NetworkManager refused the operation for lack of privileges (polkit). */
export class WifiNotAuthorized
  extends Data.TaggedError("WifiNotAuthorized")<{ readonly iface: string; readonly operation: string }>
  implements OperatorError
{
  readonly code = "wifi_not_authorized"
  get hint() {
    return "run with sudo, or allow this user to control NetworkManager (netdev group / polkit rule)"
  }
  override get message() {
    return `${this.operation} on ${this.iface}: not authorised by NetworkManager`
  }
}

/** Joining a network failed: wrong password, network out of range, timeout. */
export class WifiConnectFailed
  extends Data.TaggedError("WifiConnectFailed")<{ readonly iface: string; readonly ssid: string; readonly reason: string }>
  implements OperatorError
{
  readonly code = "wifi_connect_failed"
  get hint() {
    return "check that the network is in range and, for a protected network, the password in secrets.yaml"
  }
  override get message() {
    return `connecting ${this.iface} to "${this.ssid}" failed: ${this.reason}`
  }
}

/** Any other failure of the WiFi tool (unexpected exit code or output). */
export class WifiCommandFailed
  extends Data.TaggedError("WifiCommandFailed")<{ readonly iface: string; readonly operation: string; readonly reason: string }>
  implements OperatorError
{
  readonly code = "wifi_command_failed"
  get hint() {
    return "check `nmcli general status` and `journalctl -u NetworkManager`"
  }
  override get message() {
    return `${this.operation} on ${this.iface} failed: ${this.reason}`
  }
}

// --- Stage 1 (runbook "Typical Errors & Resolutions") -------------------------

/** No factory AP matching the pattern appeared in time. */
export class ApNotFound
  extends Data.TaggedError("ApNotFound")<{ readonly iface: string; readonly pattern: string; readonly waitedS: number }>
  implements OperatorError
{
  readonly code = "ap_not_found"
  get hint() {
    return "power on a factory-new device (or reset it) near the Pi; check stage1.ap_ssid_pattern"
  }
  override get message() {
    return `no Shelly AP matching ${this.pattern} seen on ${this.iface} within ${this.waitedS} s`
  }
}

/** Joined the device's AP but its RPC does not answer (runbook error 1). */
export class ApUnreachable
  extends Data.TaggedError("ApUnreachable")<{ readonly ssid: string; readonly device: string; readonly reason: string }>
  implements OperatorError
{
  readonly code = "ap_unreachable"
  get hint() {
    return "is the Pi's WiFi enabled and not bound to your normal WLAN? (ensure the Pi's WiFi interface is free for the Shelly AP)"
  }
  override get message() {
    return `Sys.GetStatus on ${this.device} via AP ${this.ssid}: ConnectTimeout (${this.reason})`
  }
}

/** The device rebooted into the production WiFi but never showed up there. */
export class DeviceNeverJoined
  extends Data.TaggedError("DeviceNeverJoined")<{ readonly mac: string; readonly ssid: string; readonly waitedS: number }>
  implements OperatorError
{
  readonly code = "device_never_joined"
  get hint() {
    return `check the WiFi password for "${this.ssid}" in secrets.yaml (wifi.sta) and stage1.production_subnets; the device returns to AP mode after a failed join`
  }
  override get message() {
    return `device ${this.mac} did not appear on the production network within ${this.waitedS} s`
  }
}

/** The device restarts on its own every ~90 s (runbook error 2, seen on I4 units). */
export class RebootLoopDetected
  extends Data.TaggedError("RebootLoopDetected")<{ readonly mac: string; readonly uptimeS: number }>
  implements OperatorError
{
  readonly code = "reboot_loop"
  get hint() {
    return "do the 10 s reset (short press), not the factory reset (long press), then provision it again"
  }
  override get message() {
    return `device ${this.mac} is in a reboot loop (restarted on its own after ${this.uptimeS} s)`
  }
}

export type WifiError = NmcliMissing | WifiInterfaceMissing | WifiNotAuthorized | WifiConnectFailed | WifiCommandFailed
