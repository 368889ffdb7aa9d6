import { Effect, Either, Option } from "effect"
import { DeviceNotFound, InventoryInputInvalid } from "../domain/errors/web.js"
import { type Mac, parseMac } from "../domain/mac.js"
import { findByMac } from "../inventory/edit.js"
import type { InventoryDevice, InventoryDocument } from "../inventory/Inventory.js"

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

/** Every inventory device that has an address (what a command without `--mac` works on). */
export const allInventoryTargets = (doc: InventoryDocument, defaultPort: number): ReadonlyArray<InventoryTarget> =>
  doc.devices.flatMap((device) => Option.toArray(inventoryTarget(device, defaultPort)))

/**
 * The devices named by `--mac` (any spelling), in order. The first that is
 * not a MAC, not in the inventory or without an address fails, naming it.
 */
export const inventoryTargetsByMac = (
  doc: InventoryDocument,
  macs: ReadonlyArray<string>,
  defaultPort: number
): Effect.Effect<ReadonlyArray<InventoryTarget>, InventoryInputInvalid | DeviceNotFound> =>
  Effect.forEach(macs, (text): Effect.Effect<InventoryTarget, InventoryInputInvalid | DeviceNotFound> => {
    const mac = parseMac(text)
    if (Either.isLeft(mac)) return Effect.fail(new InventoryInputInvalid({ what: `--mac ${text}`, problems: [mac.left] }))
    const device = findByMac(doc, mac.right)
    if (Option.isNone(device)) return Effect.fail(new DeviceNotFound({ query: text, file: doc.path }))
    return Option.match(inventoryTarget(device.value, defaultPort), {
      onNone: () => Effect.fail(new InventoryInputInvalid({ what: `--mac ${text}`, problems: ["the device has no ip in the inventory"] })),
      onSome: Effect.succeed
    })
  })
