// The fleet the crash test writes: its text for counter n is fully determined,
// so the parent can tell "old or new content exactly" from anything torn.
import { Either } from "effect"
import { parseInventory, serializeInventory, setDeviceFields } from "../../src/inventory/index.js"
import type { InventoryDocument } from "../../src/inventory/index.js"

export const DEVICE_COUNT = 300

export const fleetText = (counter: number): string => {
  const devices: Record<string, unknown> = {}
  for (let i = 0; i < DEVICE_COUNT; i++) {
    const mac = `A1B2C3${i.toString(16).toUpperCase().padStart(6, "0")}`
    devices[mac] = {
      ip: `127.0.${Math.floor(i / 250) + 1}.${(i % 250) + 1}`,
      model: "S3SW-002P16EU",
      friendly_name: `Raum ${i}`,
      extra: { kept: true, order: [3, 1, 2] },
      counter
    }
  }
  return JSON.stringify({ version: 1, devices }, null, 2) + "\n"
}

export const counterOf = (doc: InventoryDocument): number => Number(doc.devices[0]?.record["counter"] ?? -1)

/** The next state: every device's counter + 1. */
export const bump = (doc: InventoryDocument): InventoryDocument => {
  const next = counterOf(doc) + 1
  return doc.devices.reduce((acc, device) => setDeviceFields(acc, device.mac, { counter: next }), doc)
}

export const parseOrThrow = (text: string): InventoryDocument => Either.getOrThrow(parseInventory("ip_state.json", text))

export { serializeInventory }
