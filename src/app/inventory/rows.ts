// What the inventory views (CLI table, --json, web page) show of a device:
// a flat row read from the record, leaving the record itself untouched.
import { printable } from "../../domain/printable.js"
import type { InventoryDevice, Json } from "../../inventory/Inventory.js"

export interface InventoryRow {
  readonly mac: string
  /** The key as spelled in ip_state.json. */
  readonly key: string
  readonly ip: string
  readonly model: string
  readonly app: string
  readonly fw: string
  readonly friendlyName: string
  /** `stageN.<x>_status` values and `stage1/2.status`, by their dotted path. */
  readonly statuses: { readonly [path: string]: string }
  readonly lastRun: string
}

const text = (value: Json | undefined): string =>
  typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : ""

const isObject = (value: Json | undefined): value is { readonly [key: string]: Json } =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const statusesOf = (record: { readonly [key: string]: Json }): { [path: string]: string } => {
  const out: { [path: string]: string } = {}
  for (const stage of ["stage1", "stage2", "stage3"]) {
    const section = record[stage]
    if (!isObject(section)) continue
    for (const [key, value] of Object.entries(section)) {
      if ((key === "status" || key.endsWith("_status")) && typeof value === "string") out[`${stage}.${key}`] = value
    }
  }
  return out
}

const lastRunOf = (record: { readonly [key: string]: Json }): string =>
  ["stage3", "stage2", "stage1"]
    .map((stage) => record[stage])
    .map((section) => (isObject(section) ? text(section["last_run"]) : ""))
    .filter((value) => value !== "")
    .sort()
    .at(-1) ?? ""

export const toRow = (device: InventoryDevice, friendlyField: string): InventoryRow => ({
  mac: device.mac,
  key: device.key,
  ip: text(device.record["ip"]),
  model: text(device.record["model"]),
  app: text(device.record["app"]),
  fw: text(device.record["fw"]),
  friendlyName: text(device.record[friendlyField]),
  statuses: statusesOf(device.record),
  lastRun: lastRunOf(device.record)
})

export interface RowFilter {
  /** Matches `model` or `app`, case-insensitive. */
  readonly model?: string | undefined
  /** Matches any status value (e.g. `update_available`, `ok`), case-insensitive. */
  readonly status?: string | undefined
  /** Free text over MAC, IP, model, app, fw and friendly name. */
  readonly search?: string | undefined
}

export const matchesFilter = (row: InventoryRow, filter: RowFilter): boolean => {
  const lower = (s: string) => s.toLowerCase()
  if (filter.model !== undefined && filter.model !== "") {
    const want = lower(filter.model)
    if (lower(row.model) !== want && lower(row.app) !== want) return false
  }
  if (filter.status !== undefined && filter.status !== "") {
    const want = lower(filter.status)
    if (!Object.values(row.statuses).some((value) => lower(value) === want)) return false
  }
  if (filter.search !== undefined && filter.search.trim() !== "") {
    const want = lower(filter.search.trim())
    const hay = [row.mac, row.key, row.ip, row.model, row.app, row.fw, row.friendlyName].map(lower)
    if (!hay.some((field) => field.includes(want))) return false
  }
  return true
}

const statusSummary = (row: InventoryRow): string =>
  Object.entries(row.statuses)
    .map(([path, value]) => `${path.replace(/^stage(\d)\./, "s$1.").replace(/_status$/, "")}=${value}`)
    .join(" ")

/**
 * A plain text table, columns padded to their widest cell. `online` adds a
 * column when the caller probed the devices.
 */
export const formatTable = (rows: ReadonlyArray<InventoryRow>, online?: ReadonlyMap<string, boolean>): ReadonlyArray<string> => {
  const header = ["MAC", "IP", "MODEL", "FW", "NAME", ...(online ? ["ONLINE"] : []), "STATUS", "LAST RUN"]
  // Cells come from a file devices helped write: shown with controls escaped.
  const body = rows.map((row) =>
    [
      row.key,
      row.ip,
      row.app !== "" ? row.app : row.model,
      row.fw,
      row.friendlyName,
      ...(online ? [online.get(row.mac) === true ? "yes" : "no"] : []),
      statusSummary(row),
      row.lastRun
    ].map(printable)
  )
  const widths = header.map((cell, i) => Math.max([...cell].length, ...body.map((line) => [...line[i]!].length)))
  const render = (cells: ReadonlyArray<string>) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + " ".repeat(widths[i]! - [...cell].length)))
      .join("  ")
      .trimEnd()
  return [render(header), ...body.map(render)]
}
