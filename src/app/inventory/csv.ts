// CSV for `inventory import/export` (RFC 4180: comma or semicolon, double-quote
// escaping, CRLF or LF line ends). Import turns rows into validated patches
// first, so a bad row stops the import before anything is written.
import { Either } from "effect"
import { csvLine, type CsvTable } from "../../domain/csv.js"
import { parseIpv4 } from "../../domain/ipv4.js"
import { type Mac, parseMac } from "../../domain/mac.js"
import { normalizeFriendlyName } from "../../stages/friendlyName.js"
import type { DeviceRecord, InventoryDocument, Json } from "../../inventory/Inventory.js"
import { addDevice, findByMac } from "../../inventory/edit.js"
import type { InventoryRow } from "./rows.js"

// The codec itself is domain/csv.ts (shared with data/plan.csv and the factory records).
export { csvCell, type CsvTable, parseCsv } from "../../domain/csv.js"

export const exportColumns = (friendlyField: string) => ["mac", "ip", "model", "app", "fw", friendlyField, "status", "last_run"] as const

export const rowsToCsv = (rows: ReadonlyArray<InventoryRow>, friendlyField: string): string => {
  const lines = [csvLine(exportColumns(friendlyField))]
  for (const row of rows) {
    const status = Object.entries(row.statuses)
      .map(([path, value]) => `${path}=${value}`)
      .join(" ")
    lines.push(csvLine([row.key, row.ip, row.model, row.app, row.fw, row.friendlyName, status, row.lastRun]))
  }
  return `${lines.join("\n")}\n`
}

export interface ImportPatch {
  readonly line: number
  readonly mac: Mac
  readonly patch: DeviceRecord
}

/** Columns written by export that describe stage results; import skips them. */
const readOnlyColumns = new Set(["status", "last_run"])

/**
 * Rows → patches. Every problem is collected (file, line, column, why) so the
 * operator can fix them all in one go; an empty cell leaves the field as it is.
 */
export const csvToPatches = (
  file: string,
  table: CsvTable,
  friendlyField: string
): Either.Either<ReadonlyArray<ImportPatch>, ReadonlyArray<string>> => {
  const known = new Set(["mac", "ip", "model", "app", "fw", "hostname", friendlyField])
  const problems: Array<string> = []
  const macColumn = table.header.findIndex((h) => h.toLowerCase() === "mac")
  if (macColumn < 0) return Either.left([`${file}: the header has no "mac" column (got: ${table.header.join(", ")})`])
  for (const h of table.header) {
    if (!known.has(h) && !readOnlyColumns.has(h) && h.toLowerCase() !== "mac") {
      problems.push(`${file}: unknown column "${h}" (known: ${[...known].join(", ")}; status/last_run are ignored)`)
    }
  }
  const patches: Array<ImportPatch> = []
  const seen = new Map<string, number>()
  for (const { line, cells } of table.rows) {
    const at = `${file} line ${line}`
    if (cells.length > table.header.length) {
      problems.push(`${at}: ${cells.length} fields, the header has ${table.header.length}`)
      continue
    }
    const mac = parseMac(cells[macColumn] ?? "")
    if (Either.isLeft(mac)) {
      problems.push(`${at}, column mac: ${mac.left}`)
      continue
    }
    const earlier = seen.get(mac.right)
    if (earlier !== undefined) problems.push(`${at}: MAC ${cells[macColumn]} already on line ${earlier}`)
    seen.set(mac.right, line)
    const patch: Record<string, Json> = {}
    table.header.forEach((column, i) => {
      const raw = (cells[i] ?? "").trim()
      if (i === macColumn || raw === "" || readOnlyColumns.has(column) || !known.has(column)) return
      if (column === "ip") {
        const ip = parseIpv4(raw)
        if (Either.isLeft(ip)) problems.push(`${at}, column ip: ${ip.left}`)
        else patch.ip = ip.right
      } else if (column === friendlyField) {
        const name = normalizeFriendlyName(cells[i] ?? "")
        if (Either.isLeft(name)) problems.push(`${at}, column ${column}: ${name.left}`)
        else patch[column] = name.right
      } else patch[column] = raw
    })
    patches.push({ line, mac: mac.right, patch })
  }
  return problems.length > 0 ? Either.left(problems) : Either.right(patches)
}

/**
 * Applies the patches (new MACs are added, known ones merged). Fails when the
 * result would give one IP to two devices, naming both.
 */
export const applyImport = (
  doc: InventoryDocument,
  patches: ReadonlyArray<ImportPatch>
): Either.Either<{ readonly doc: InventoryDocument; readonly added: number; readonly updated: number }, ReadonlyArray<string>> => {
  let next = doc
  let added = 0
  for (const { mac, patch } of patches) {
    if (findByMac(next, mac)._tag === "None") added++
    next = addDevice(next, mac, patch)
  }
  // Only clashes the import causes count: an older duplicate is not this file's fault.
  const touched = new Set<string>(patches.map((p) => p.mac))
  const owners = new Map<string, { readonly key: string; readonly mac: string }>()
  const problems: Array<string> = []
  for (const device of next.devices) {
    const ip = device.record["ip"]
    if (typeof ip !== "string" || ip === "") continue
    const other = owners.get(ip)
    if (other !== undefined && (touched.has(other.mac) || touched.has(device.mac))) {
      problems.push(`ip ${ip} would belong to both ${other.key} and ${device.key}`)
    }
    owners.set(ip, { key: device.key, mac: device.mac })
  }
  return problems.length > 0 ? Either.left(problems) : Either.right({ doc: next, added, updated: patches.length - added })
}
