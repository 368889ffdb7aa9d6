// ip_state.json text ⇄ InventoryDocument (pure). Both layouts of the runbook
// are read and written back the way they were found.
import { Either } from "effect"
import { InventoryReadError } from "../domain/errors/inventory.js"
import { describeJsonProblem, scanJson } from "../domain/safeJson.js"
import { parseMac } from "../domain/mac.js"
import type { Mac } from "../domain/mac.js"
import type { DeviceRecord, InventoryDevice, InventoryDocument, Json } from "./Inventory.js"

type JsonObject = { readonly [key: string]: Json }

const isObject = (value: Json | undefined): value is JsonObject => typeof value === "object" && value !== null && !Array.isArray(value)

/** A document with no devices in the flat layout (what a missing file reads as). */
export const emptyInventory = (path: string): InventoryDocument => ({ path, format: "flat", envelope: {}, devices: [] })

/** 1-based line and column of a character offset. */
export const lineColumnAt = (text: string, offset: number): { readonly line: number; readonly column: number } => {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)))
  const lines = before.split("\n")
  return { line: lines.length, column: lines[lines.length - 1]!.length + 1 }
}

const syntaxError = (path: string, text: string, error: unknown): InventoryReadError => {
  const raw = error instanceof Error ? error.message : String(error)
  const position = /at position (\d+)/.exec(raw)
  // "Unexpected end of JSON input" carries no position: the problem is at the end.
  const offset = position ? Number(position[1]) : text.length
  const { column, line } = lineColumnAt(text, offset)
  const reason = raw.replace(/\s*in JSON at position \d+.*$/s, "").trim() || "invalid JSON"
  return new InventoryReadError({ path, reason: `invalid JSON: ${reason}`, line, column })
}

const readDevices = (
  path: string,
  devices: JsonObject,
  where: string
): Either.Either<ReadonlyArray<InventoryDevice>, InventoryReadError> => {
  const out: Array<InventoryDevice> = []
  const seen = new Map<Mac, string>()
  for (const [key, record] of Object.entries(devices)) {
    const mac = parseMac(key)
    if (Either.isLeft(mac)) {
      return Either.left(
        new InventoryReadError({
          path,
          reason: `key "${key}" ${where} is not a MAC address (device keys must be MACs, e.g. A1B2C3D4E5F6 or a1:b2:c3:d4:e5:f6)`
        })
      )
    }
    const earlier = seen.get(mac.right)
    if (earlier !== undefined) {
      return Either.left(
        new InventoryReadError({
          path,
          reason: `MAC ${mac.right} appears twice ${where}, as "${earlier}" and as "${key}"; merge the two entries into one`
        })
      )
    }
    if (!isObject(record)) {
      return Either.left(
        new InventoryReadError({ path, reason: `entry "${key}" ${where} is not an object (found ${describeJson(record)})` })
      )
    }
    seen.set(mac.right, key)
    out.push({ key, mac: mac.right, record: record as DeviceRecord })
  }
  return Either.right(out)
}

const describeJson = (value: Json): string => (value === null ? "null" : Array.isArray(value) ? "a list" : `a ${typeof value}`)

/**
 * Parses ip_state.json. The wrapped layout is recognised by a `devices` object
 * at the top level; its other top-level keys (`version`, anything else) are
 * kept as the envelope. In the flat layout every top-level key must be a MAC;
 * in the wrapped layout every key under `devices` must be.
 */
/** Nesting accepted in ip_state.json (a device record is 3 levels deep; custom fields get the rest). */
export const MAX_INVENTORY_DEPTH = 64

/**
 * UTF-16 read as UTF-8 shows as NUL bytes between the characters (and a
 * replacement pair where the byte-order mark was).
 */
export const looksUtf16 = (text: string): boolean => text.slice(0, 64).includes("\u0000")

export const parseInventory = (path: string, text: string): Either.Either<InventoryDocument, InventoryReadError> => {
  if (looksUtf16(text)) {
    return Either.left(new InventoryReadError({ path, reason: "the file looks UTF-16 encoded; save it as UTF-8 (JSON files are UTF-8)" }))
  }
  // Before JSON.parse: it would keep the last of two equal keys (the next
  // write then drops a device) and accept nesting no later step survives.
  const problem = scanJson(text, { maxDepth: MAX_INVENTORY_DEPTH, rejectDuplicateKeys: true })
  if (problem !== undefined && problem._tag === "DuplicateKey") {
    return Either.left(
      new InventoryReadError({
        path,
        reason: `${describeJsonProblem(problem)}; JSON keeps only the last, so remove or merge one of them`,
        line: problem.second.line,
        column: problem.second.column
      })
    )
  }
  if (problem !== undefined && problem._tag === "TooDeep") {
    return Either.left(
      new InventoryReadError({ path, reason: describeJsonProblem(problem), line: problem.at.line, column: problem.at.column })
    )
  }
  let parsed: Json
  try {
    parsed = JSON.parse(text) as Json
  } catch (error) {
    return Either.left(syntaxError(path, text, error))
  }
  if (!isObject(parsed)) {
    return Either.left(
      new InventoryReadError({
        path,
        reason: `the top level must be an object ({ "<mac>": {...} } or { "version": 1, "devices": {...} }), found ${describeJson(parsed)}`
      })
    )
  }
  if ("devices" in parsed) {
    const devices = parsed["devices"]
    if (!isObject(devices)) {
      return Either.left(
        new InventoryReadError({ path, reason: `"devices" must be an object keyed by MAC, found ${describeJson(devices!)}` })
      )
    }
    return Either.map(readDevices(path, devices, 'under "devices"'), (list) => ({
      path,
      format: "wrapped" as const,
      envelope: parsed as JsonObject,
      devices: list
    }))
  }
  return Either.map(readDevices(path, parsed, "at the top level"), (list) => ({
    path,
    format: "flat" as const,
    envelope: {},
    devices: list
  }))
}

/** The file's text: 2-space indent and a trailing newline, in the layout that was read. */
export const serializeInventory = (doc: InventoryDocument): string => {
  const devices: Record<string, Json> = {}
  for (const device of doc.devices) devices[device.key] = device.record
  if (doc.format === "flat") return JSON.stringify(devices, null, 2) + "\n"
  // The envelope's key order is kept; `devices` goes where it was (or last, for a new envelope).
  const out: Record<string, Json> = {}
  let placed = false
  for (const [key, value] of Object.entries(doc.envelope)) {
    if (key === "devices") {
      out[key] = devices
      placed = true
    } else out[key] = value
  }
  if (!placed) out["devices"] = devices
  return JSON.stringify(out, null, 2) + "\n"
}
