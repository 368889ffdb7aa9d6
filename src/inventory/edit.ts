// Pure edits of an InventoryDocument. They keep every field the tool does not
// know and the order of keys; new keys are appended.
import { Option } from "effect"
import type { Mac } from "../domain/mac.js"
import type { DeviceRecord, InventoryDevice, InventoryDocument, Json } from "./Inventory.js"

type JsonObject = { readonly [key: string]: Json }

const isObject = (value: Json | undefined): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value)

export const findByMac = (doc: InventoryDocument, mac: Mac): Option.Option<InventoryDevice> =>
  Option.fromNullable(doc.devices.find((device) => device.mac === mac))

/** The first device whose `ip` field equals `ip` (the file should hold each IP once). */
export const findByIp = (doc: InventoryDocument, ip: string): Option.Option<InventoryDevice> =>
  Option.fromNullable(doc.devices.find((device) => device.record["ip"] === ip))

/**
 * Merges `patch` into `target`: existing keys keep their place, new keys are
 * appended; nested objects are merged the same way, anything else (lists,
 * scalars) is replaced.
 */
export const mergeRecord = (target: JsonObject, patch: JsonObject): JsonObject => {
  const out: Record<string, Json> = { ...target }
  for (const [key, value] of Object.entries(patch)) {
    const current = out[key]
    out[key] = isObject(current) && isObject(value) ? mergeRecord(current, value) : value
  }
  return out
}

/** Merges `patch` into the device's record. A MAC that is not in the document leaves it unchanged. */
export const setDeviceFields = (doc: InventoryDocument, mac: Mac, patch: DeviceRecord): InventoryDocument => {
  const index = doc.devices.findIndex((device) => device.mac === mac)
  if (index < 0) return doc
  const devices = doc.devices.slice()
  const device = devices[index]!
  devices[index] = { ...device, record: mergeRecord(device.record, patch) }
  return { ...doc, devices }
}

const keyStyle = (doc: InventoryDocument): ((mac: Mac) => string) => {
  const sample = doc.devices[0]?.key.trim()
  if (sample === undefined) return (mac) => mac
  const lower = sample === sample.toLowerCase() && /[a-f]/.test(sample)
  const caseOf = (s: string) => (lower ? s.toLowerCase() : s.toUpperCase())
  const separator = /^[0-9a-fA-F]{2}([:-])/.exec(sample)?.[1]
  if (separator !== undefined) return (mac) => caseOf(mac.match(/../g)!.join(separator))
  if (/^[0-9a-fA-F]{4}\./.test(sample)) return (mac) => caseOf(mac.match(/..../g)!.join("."))
  return (mac) => caseOf(mac)
}

/**
 * Adds a device (appended, its key spelled like the file's existing keys, or
 * canonical in an empty file). A MAC already present is merged instead, so
 * re-adopting a known device updates its entry in place.
 */
export const addDevice = (doc: InventoryDocument, mac: Mac, record: DeviceRecord): InventoryDocument =>
  doc.devices.some((device) => device.mac === mac)
    ? setDeviceFields(doc, mac, record)
    : { ...doc, devices: [...doc.devices, { key: keyStyle(doc)(mac), mac, record }] }

export const removeDevice = (doc: InventoryDocument, mac: Mac): InventoryDocument => ({
  ...doc,
  devices: doc.devices.filter((device) => device.mac !== mac)
})
