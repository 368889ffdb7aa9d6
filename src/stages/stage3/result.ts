import type { Mac } from "../../domain/mac.js"

/**
 * `ota_status` values as stored in ip_state.json (runbook §6), plus `updated`,
 * which only `--wait-update` produces once the device reports the new version.
 */
export type OtaStatus = "up_to_date" | "update_available" | "updated" | "skipped" | "offline" | "check_failed" | "error"

/**
 * `friendly_status` values (runbook §7.3), plus `pending`: only in `--dry-run`,
 * when a name would have been written (never stored; a dry run writes nothing).
 */
export type FriendlyStatus = "ok" | "no_value" | "error" | "pending"

/** Metadata from Shelly.GetDeviceInfo, stored on the inventory record. */
export interface DeviceMetadata {
  /** The model code (`model`, e.g. S3SW-002P16EU); lines show the short `app` name instead. */
  readonly model: string
  /** Firmware version (`ver`, e.g. 1.4.4). */
  readonly fw: string
  /** The device id, which is its mDNS hostname (e.g. shelly2pmg3-a1b2c3d4e5f6). */
  readonly hostname: string
}

export interface Stage3DeviceResult {
  /** Inventory key exactly as spelled in the file. */
  readonly key: string
  readonly mac: Mac
  readonly ip: string
  /** Label for the line: the device's `app` (S2PMG3), else the inventory's `app` or `model`, else `Shelly`. */
  readonly label: string
  readonly ota: OtaStatus
  /** Firmware offered by CheckForUpdate (stable), or installed after `--wait-update`. */
  readonly otaVersion?: string | undefined
  /** Absent when the friendly step did not run (disabled, offline, MAC mismatch). */
  readonly friendly?: FriendlyStatus | undefined
  /** The name shown in `Friendly=ok (<name>)`: the name the device has (or would get). */
  readonly friendlyName?: string | undefined
  /** Short error texts for `ERR=`: `OTA: HTTP 500`, `friendly: HTTP 500`, `mac mismatch (found …)`. */
  readonly errors: ReadonlyArray<string>
  /** Only when the device answered as the inventory's MAC. */
  readonly metadata?: DeviceMetadata | undefined
  /** What this run changed on the device (always false in a dry run). */
  readonly wroteName: boolean
  readonly startedUpdate: boolean
  /** Set when the device answered with another MAC than its inventory key. */
  readonly foundMac?: string | undefined
  /** Hard failure (runbook: "harter Fehler"): counts as failed in the summary and the exit code. */
  readonly failed: boolean
}

export interface Stage3Summary {
  readonly total: number
  readonly ok: number
  readonly failed: number
}

const hardOta: ReadonlySet<OtaStatus> = new Set(["offline", "check_failed", "error"])

/**
 * A device hard-failed when it was unreachable, its OTA step failed, its
 * friendly step failed, or another device answered at its address.
 */
export const isHardFailure = (ota: OtaStatus, friendly: FriendlyStatus | undefined): boolean => hardOta.has(ota) || friendly === "error"

export const summarize = (results: ReadonlyArray<Stage3DeviceResult>): Stage3Summary => {
  const failed = results.filter((r) => r.failed).length
  return { total: results.length, ok: results.length - failed, failed }
}
