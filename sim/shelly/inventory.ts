/**
 * Writes the fleet as `ip_state.json` so the stages can run against it:
 * flat `{ "<MAC>": {...} }` or wrapped `{ "version": 1, "devices": {...} }`.
 * Written to a temporary file and renamed, so a reader never sees half a file.
 */
import { mkdir, rename, writeFile } from "node:fs/promises"
import { dirname } from "node:path"
import type { JsonObject } from "./device.js"

export type InventoryFormat = "flat" | "wrapped"

export interface InventoryRow {
  readonly mac: string
  readonly ip: string | null
  readonly port: number
  readonly model: string
  readonly app: string
  readonly gen: number
  readonly fw: string
  readonly id: string
  readonly friendlyName: string | null
}

export const inventoryDocument = (rows: ReadonlyArray<InventoryRow>, format: InventoryFormat): JsonObject => {
  const devices: JsonObject = {}
  for (const row of rows) {
    const record: JsonObject = {
      ip: row.ip,
      model: row.model,
      app: row.app,
      gen: row.gen,
      fw: row.fw,
      hostname: row.id,
      id: row.id
    }
    // Real devices answer on 80; the simulator's port goes into the record only when it differs.
    if (row.port !== 80) record.port = row.port
    if (row.friendlyName !== null) record.friendly_name = row.friendlyName
    devices[row.mac] = record
  }
  return format === "wrapped" ? { version: 1, devices } : devices
}

export const writeInventoryFile = async (path: string, format: InventoryFormat, rows: ReadonlyArray<InventoryRow>): Promise<void> => {
  await mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.sim-${process.pid}.tmp`
  await writeFile(tmp, `${JSON.stringify(inventoryDocument(rows, format), null, 2)}\n`, "utf8")
  await rename(tmp, path)
}
