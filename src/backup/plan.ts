/**
 * What a restore changes: the backup compared with the device as it is now
 * (both in the backup's shape, see read.ts), as a list of changes the
 * operator sees first and `apply.ts` carries out.
 *
 * Restored: every component's settings (Shelly.GetConfig sections, through
 * `<Component>.SetConfig` with only the keys that differ), scripts (by name:
 * created, code and enable updated, extra ones deleted), webhooks and
 * schedules (replaced as a whole when they differ; schedule calls to
 * `Script.*` follow their script by name, since ids change). Not restored:
 * `wifi` (its passwords are write-only, so a backup cannot hold them; Stage 1/2
 * set it) and the identity fields of `sys` (MAC, firmware, revisions).
 * With `--to-mac` the old device's id (realm, MQTT client id/topic, …) is
 * replaced by the new one's wherever it appears.
 */
import type { BackupScript, DeviceBackup, JsonObject } from "./schema.js"

export type Change =
  | {
      readonly kind: "config"
      readonly component: string
      readonly method: string
      readonly id: number | undefined
      readonly patch: JsonObject
      readonly lines: ReadonlyArray<string>
    }
  | { readonly kind: "script-create"; readonly script: BackupScript }
  | {
      readonly kind: "script-update"
      readonly deviceId: number
      readonly script: BackupScript
      readonly code: boolean
      readonly enable: boolean
      readonly running: boolean
    }
  | { readonly kind: "script-delete"; readonly deviceId: number; readonly name: string; readonly running: boolean }
  | {
      readonly kind: "webhooks"
      readonly add: ReadonlyArray<JsonObject>
      readonly remove: ReadonlyArray<JsonObject>
      readonly target: ReadonlyArray<JsonObject>
    }
  | {
      readonly kind: "schedules"
      readonly add: ReadonlyArray<JsonObject>
      readonly remove: ReadonlyArray<JsonObject>
      readonly target: ReadonlyArray<JsonObject>
    }

export interface RestorePlan {
  readonly changes: ReadonlyArray<Change>
  /** What is deliberately left alone, one line each. */
  readonly skipped: ReadonlyArray<string>
}

const isObject = (u: unknown): u is JsonObject => typeof u === "object" && u !== null && !Array.isArray(u)

/** Stable JSON (sorted keys) for comparing values. */
export const canonical = (u: unknown): string =>
  Array.isArray(u)
    ? `[${u.map(canonical).join(",")}]`
    : isObject(u)
      ? `{${Object.keys(u)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${canonical(u[k])}`)
          .join(",")}}`
      : (JSON.stringify(u) ?? "null")

/** Every string in `value` with `from` replaced by `to`. */
export const replaceId = <T>(value: T, from: string, to: string): T => {
  if (from === to) return value
  const walk = (u: unknown): unknown =>
    typeof u === "string"
      ? u.split(from).join(to)
      : Array.isArray(u)
        ? u.map(walk)
        : isObject(u)
          ? Object.fromEntries(Object.entries(u).map(([k, v]) => [k, walk(v)]))
          : u
  return walk(value) as T
}

/** The keys of `wanted` whose values differ from `current`'s (objects compared key by key). */
type Mutable = Record<string, unknown>

const diffPatch = (wanted: JsonObject, current: JsonObject, path: string, lines: Array<string>): JsonObject | undefined => {
  const patch: Mutable = {}
  for (const [key, value] of Object.entries(wanted)) {
    const now = current[key]
    if (isObject(value) && isObject(now)) {
      const inner = diffPatch(value, now, `${path}.${key}`, lines)
      if (inner !== undefined) patch[key] = inner
    } else if (canonical(value) !== canonical(now)) {
      patch[key] = value
      lines.push(`${path}.${key}: ${JSON.stringify(now) ?? "(none)"} → ${JSON.stringify(value)}`)
    }
  }
  return Object.keys(patch).length === 0 ? undefined : patch
}

const NAMESPACES: Readonly<Record<string, string>> = {
  sys: "Sys",
  mqtt: "MQTT",
  ble: "BLE",
  cloud: "Cloud",
  ws: "WS",
  eth: "Eth",
  switch: "Switch",
  input: "Input",
  cover: "Cover",
  light: "Light",
  pm1: "PM1",
  em: "EM"
}
const methodOf = (type: string) => `${NAMESPACES[type] ?? type.charAt(0).toUpperCase() + type.slice(1)}.SetConfig`

/** `sys` keys a restore puts back: what an installer sets, not what identifies the unit. */
const sysRestorable = (sys: JsonObject): JsonObject => {
  const out: Mutable = {}
  const device = sys["device"]
  if (isObject(device)) {
    const d: Mutable = {}
    for (const key of ["name", "eco_mode", "discoverable"]) if (key in device) d[key] = device[key]
    out["device"] = d
  }
  for (const key of ["location", "sntp", "ui_data"]) if (key in sys) out[key] = sys[key]
  return out
}

/** Order in which the firmware needs settings: system first, then components, then services. */
const configRank = (key: string) => (key === "sys" ? 0 : key.includes(":") ? 1 : 2)

/** Schedules with `Script.*` calls naming their script by name instead of id (ids differ between devices). */
const schedulesByScriptName = (jobs: ReadonlyArray<JsonObject>, scripts: ReadonlyArray<{ readonly id: number; readonly name: string }>) =>
  jobs.map(({ id: _id, ...job }) => {
    const calls = Array.isArray(job["calls"]) ? job["calls"] : []
    return {
      ...job,
      calls: calls.map((call) => {
        if (!isObject(call) || typeof call["method"] !== "string" || !call["method"].startsWith("Script.") || !isObject(call["params"]))
          return call
        const params = call["params"]
        const script = scripts.find((s) => s.id === params["id"])
        return script === undefined ? call : { ...call, params: { ...params, id: `script:${script.name}` } }
      })
    } as JsonObject
  })

const withoutId = (items: ReadonlyArray<JsonObject>) => items.map(({ id: _id, ...rest }) => rest as JsonObject)

const listDiff = (wanted: ReadonlyArray<JsonObject>, current: ReadonlyArray<JsonObject>) => {
  const left = current.map(canonical)
  const add: Array<JsonObject> = []
  for (const item of wanted) {
    const i = left.indexOf(canonical(item))
    if (i >= 0) left.splice(i, 1)
    else add.push(item)
  }
  const remove = current.filter((item) => left.includes(canonical(item)))
  return { add, remove }
}

export const planRestore = (backup: DeviceBackup, current: DeviceBackup): RestorePlan => {
  const wanted = replaceId(backup, backup.id, current.id)
  const changes: Array<Change> = []
  const skipped: Array<string> = []

  const keys = Object.keys(wanted.config).sort((a, b) => configRank(a) - configRank(b) || a.localeCompare(b))
  for (const key of keys) {
    const section = wanted.config[key]
    const now = current.config[key]
    if (key === "wifi") {
      skipped.push("wifi: not restored (its passwords are write-only and not in a backup; Stage 1/2 set WiFi)")
      continue
    }
    if (!isObject(section)) continue
    if (!isObject(now)) {
      skipped.push(`${key}: this device has no such component`)
      continue
    }
    const [type, idText] = key.split(":")
    const id = idText === undefined ? undefined : Number(idText)
    const { id: _id, ...settings } = key === "sys" ? sysRestorable(section) : section
    const lines: Array<string> = []
    const patch = diffPatch(settings, now, key, lines)
    if (patch !== undefined) changes.push({ kind: "config", component: key, method: methodOf(type!), id, patch, lines })
  }

  for (const script of wanted.scripts) {
    const there = current.scripts.find((s) => s.name === script.name)
    if (there === undefined) changes.push({ kind: "script-create", script })
    else {
      const code = there.code !== script.code
      const enable = there.enable !== script.enable
      if (code || enable || there.running !== script.running) {
        changes.push({ kind: "script-update", deviceId: there.id, script, code, enable, running: there.running })
      }
    }
  }
  for (const there of current.scripts) {
    if (!wanted.scripts.some((s) => s.name === there.name))
      changes.push({ kind: "script-delete", deviceId: there.id, name: there.name, running: there.running })
  }

  const hooks = listDiff(withoutId(wanted.webhooks), withoutId(current.webhooks))
  if (hooks.add.length + hooks.remove.length > 0) changes.push({ kind: "webhooks", ...hooks, target: withoutId(wanted.webhooks) })

  const jobsWanted = schedulesByScriptName(wanted.schedules, wanted.scripts)
  const jobs = listDiff(jobsWanted, schedulesByScriptName(current.schedules, current.scripts))
  if (jobs.add.length + jobs.remove.length > 0) changes.push({ kind: "schedules", ...jobs, target: jobsWanted })

  return { changes, skipped }
}

const hookLine = (h: JsonObject) => `${String(h["event"])} cid=${String(h["cid"])}${h["name"] ? ` "${String(h["name"])}"` : ""}`
const jobLine = (j: JsonObject) =>
  `"${String(j["timespec"])}" → ${(Array.isArray(j["calls"]) ? j["calls"] : []).map((c) => (isObject(c) ? String(c["method"]) : "?")).join(", ")}`

/** The operator's view of the plan, one line per difference. */
export const describePlan = (plan: RestorePlan): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (const change of plan.changes) {
    switch (change.kind) {
      case "config":
        out.push(...change.lines.map((l) => `  ~ ${l}`))
        break
      case "script-create":
        out.push(
          `  + script "${change.script.name}" (${Buffer.byteLength(change.script.code)} bytes${change.script.enable ? ", runs on boot" : ""})`
        )
        break
      case "script-update":
        out.push(
          `  ~ script "${change.script.name}": ${[change.code && "code", change.enable && "enable", !change.code && !change.enable && "running"].filter(Boolean).join(", ")} differ`
        )
        break
      case "script-delete":
        out.push(`  - script "${change.name}"`)
        break
      case "webhooks":
        out.push(...change.remove.map((h) => `  - webhook ${hookLine(h)}`), ...change.add.map((h) => `  + webhook ${hookLine(h)}`))
        break
      case "schedules":
        out.push(...change.remove.map((j) => `  - schedule ${jobLine(j)}`), ...change.add.map((j) => `  + schedule ${jobLine(j)}`))
        break
    }
  }
  return out
}
