/**
 * Stage 1's entries in ip_state.json. A joined device is recorded at once;
 * while its reboot-loop watch runs its `stage1.status` is `unverified`, then
 * `ok`, or `failed` with the reason. A device in a reboot loop keeps its
 * entry: it is on the production network at that address, and the inventory
 * (list, web UI) shows it with the runbook's fix; Stage 2 leaves devices
 * whose `stage1.status` is `failed` alone. A later Stage 1 run re-adopts it
 * in place.
 */
import type { Mac } from "../../domain/mac.js"
import { addDevice } from "../../inventory/edit.js"
import type { DeviceRecord, InventoryDocument, Json } from "../../inventory/Inventory.js"
import type { DeviceInfo } from "../../shelly/schemas.js"

export type Stage1Status = "ok" | "unverified" | "failed"

export interface Stage1Mark {
  readonly status: Stage1Status
  readonly at: string
  readonly error?: { readonly code: string; readonly message: string; readonly hint: string } | undefined
}

const markJson = (mark: Stage1Mark): Json => ({
  status: mark.status,
  at: mark.at,
  ...(mark.error !== undefined && { error: { code: mark.error.code, message: mark.error.message, hint: mark.error.hint } })
})

/**
 * Sets the device's `stage1` object whole (a merge would keep the error of an
 * earlier failed run next to a new `ok`). Unknown MAC: document unchanged.
 */
export const markStage1 = (doc: InventoryDocument, mac: Mac, mark: Stage1Mark): InventoryDocument => ({
  ...doc,
  devices: doc.devices.map((device) => (device.mac === mac ? { ...device, record: { ...device.record, stage1: markJson(mark) } } : device))
})

/** Adds or updates the device's entry as it joined the production network. */
export const adoptDevice = (
  doc: InventoryDocument,
  mac: Mac,
  joined: { readonly info: DeviceInfo; readonly ip: string; readonly port: number; readonly at: string; readonly status: Stage1Status }
): InventoryDocument => {
  const { at, info, ip, port } = joined
  const record: DeviceRecord = {
    ip,
    id: info.id,
    model: info.model,
    app: info.app,
    gen: info.gen,
    fw: info.ver,
    hostname: info.id,
    ...(port !== 80 && { port }),
    adopted_at: at
  }
  return markStage1(addDevice(doc, mac, record), mac, { status: joined.status, at })
}
