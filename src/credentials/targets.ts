import { Option } from "effect"
import type { InventoryDevice } from "../inventory/Inventory.js"
import type { Mac } from "../domain/mac.js"

/** Where an inventory device answers: its `ip`, and its `port` when recorded (simulators), else the configured one. */
export interface InventoryTarget {
  readonly mac: Mac
  readonly key: string
  readonly host: string
  readonly port: number
}

export const inventoryTarget = (device: InventoryDevice, defaultPort: number): Option.Option<InventoryTarget> => {
  const ip = device.record["ip"]
  const port = device.record["port"]
  return typeof ip === "string" && ip !== ""
    ? Option.some({ mac: device.mac, key: device.key, host: ip, port: typeof port === "number" ? port : defaultPort })
    : Option.none()
}
