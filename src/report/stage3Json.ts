import type { Stage3DeviceResult, Stage3Summary } from "../stages/stage3/result.js"

/**
 * `provision stage3 --json` writes one JSON object per line (JSON Lines):
 * one `"type":"device"` object per device, then one `"type":"summary"` object.
 * Field names are stable (README "JSON output"); absent values are `null`,
 * never missing, so scripts can index them without guards.
 */
export interface Stage3DeviceJson {
  readonly type: "device"
  readonly mac: string
  readonly key: string
  readonly ip: string
  readonly model: string
  readonly fw: string | null
  readonly hostname: string | null
  readonly ota_status: string
  readonly ota_version: string | null
  readonly friendly_status: string | null
  readonly friendly_name: string | null
  readonly errors: ReadonlyArray<string>
  readonly found_mac: string | null
  readonly wrote_name: boolean
  readonly started_update: boolean
  readonly ok: boolean
}

export interface Stage3SummaryJson {
  readonly type: "summary"
  readonly total: number
  readonly ok: number
  readonly failed: number
  readonly dry_run: boolean
}

export const stage3DeviceJson = (r: Stage3DeviceResult): Stage3DeviceJson => ({
  type: "device",
  mac: r.mac,
  key: r.key,
  ip: r.ip,
  model: r.label,
  fw: r.metadata?.fw ?? null,
  hostname: r.metadata?.hostname ?? null,
  ota_status: r.ota,
  ota_version: r.otaVersion ?? null,
  friendly_status: r.friendly ?? null,
  friendly_name: r.friendlyName ?? null,
  errors: r.errors,
  found_mac: r.foundMac ?? null,
  wrote_name: r.wroteName,
  started_update: r.startedUpdate,
  ok: !r.failed
})

export const stage3SummaryJson = (s: Stage3Summary, dryRun: boolean): Stage3SummaryJson => ({
  type: "summary",
  total: s.total,
  ok: s.ok,
  failed: s.failed,
  dry_run: dryRun
})
