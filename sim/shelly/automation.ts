/**
 * Scripts, webhooks, schedules and per-component settings of a simulated
 * device: what `provision backup` reads and `provision restore` writes.
 * Kept apart from rpc.ts, which only merges these methods into its table and
 * these component settings into Shelly.GetConfig.
 *
 * Shapes, from the vendor's API docs:
 * - Script (https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Script):
 *   List → `{scripts:[{id,name,enable,running}]}`; Create `{name}` → `{id}`;
 *   PutCode `{id,code,append}` → `{len}`; GetCode `{id,offset,len}` →
 *   `{data,left}` (read in chunks until `left` is 0); Get/SetConfig
 *   `{id,name,enable}`; Delete `{id}`; Start/Stop → `{was_running}`. Code can
 *   only be replaced while the script is stopped.
 * - Webhook (https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Webhook):
 *   hooks `{id,cid,enable,event,name,ssl_ca,urls,active_between,condition,repeat_period}`,
 *   at most 20; List → `{hooks,rev}`; Create → `{id,rev}`; Update/Delete/DeleteAll → `{rev}`;
 *   `rev` counts every change and shows as `webhook_rev` in Sys status.
 * - Schedule (https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Schedule):
 *   jobs `{id,enable,timespec,calls:[{method,params}]}`, at most 20 (a 21st is
 *   -108), 1 to 5 calls each; List → `{jobs,rev}`; Create → `{id,rev}`;
 *   Update/Delete/DeleteAll → `{rev}`; `schedule_rev` in Sys status.
 * - Switch/Input Get/SetConfig `{id, config}` (docs ComponentsAndServices/Switch, Input):
 *   SetConfig merges like the other *.SetConfig; result `{restart_required:false}`.
 * Unknown ids answer -105 (shared/reference/shelly-rpc.md "Error codes").
 */
import type { Json, JsonObject, SimDevice } from "./device.js"
import { isJsonObject, mergeConfig } from "./device.js"
import type { RpcEnv, RpcOutcome, RpcRequest } from "./rpcTypes.js"
import { fail, ok } from "./rpcTypes.js"

interface Script {
  readonly id: number
  name: string
  enable: boolean
  running: boolean
  code: string
}

interface Automation {
  readonly scripts: Map<number, Script>
  nextScript: number
  readonly hooks: Map<number, JsonObject>
  nextHook: number
  webhookRev: number
  readonly jobs: Map<number, JsonObject>
  nextJob: number
  scheduleRev: number
  /** `switch:0` → the settings changed by Switch.SetConfig, over the model's defaults. */
  readonly components: Map<string, JsonObject>
}

const LIMIT_HOOKS = 20
const LIMIT_JOBS = 20
const LIMIT_SCRIPTS = 10
/** Bytes per Script.GetCode answer: large scripts take several calls, as on a device. */
const CODE_CHUNK = 1024

// Devices are created by the thousand and most never see these methods: state on first use.
const state = new WeakMap<SimDevice, Automation>()
const of = (d: SimDevice): Automation => {
  let a = state.get(d)
  if (a === undefined) {
    a = {
      scripts: new Map(),
      nextScript: 1,
      hooks: new Map(),
      nextHook: 1,
      webhookRev: 0,
      jobs: new Map(),
      nextJob: 1,
      scheduleRev: 0,
      components: new Map()
    }
    state.set(d, a)
  }
  return a
}

const missing = (name: string) => fail(-103, `Argument '${name}' is missing`)
const invalid = (name: string) => fail(-103, `Argument '${name}' is invalid`)
const notFound = (id: Json) => fail(-105, `Argument 'id', value ${JSON.stringify(id)} not found!`)

const idOf = (params: JsonObject): number | RpcOutcome =>
  params.id === undefined ? missing("id") : typeof params.id === "number" && Number.isInteger(params.id) ? params.id : invalid("id")

const HOOK_FIELDS = ["cid", "enable", "event", "name", "ssl_ca", "urls", "active_between", "condition", "repeat_period"] as const

/** A hook's fields from Create/Update params; undefined keys stay as they were. */
const hookPatch = (params: JsonObject): { readonly patch: JsonObject } | { readonly error: RpcOutcome } => {
  const out: JsonObject = {}
  for (const key of HOOK_FIELDS) if (params[key] !== undefined) out[key] = params[key]!
  if (out.urls !== undefined && (!Array.isArray(out.urls) || out.urls.some((u) => typeof u !== "string"))) return { error: invalid("urls") }
  if (out.event !== undefined && typeof out.event !== "string") return { error: invalid("event") }
  if (out.cid !== undefined && typeof out.cid !== "number") return { error: invalid("cid") }
  return { patch: out }
}

const validCalls = (calls: Json | undefined): boolean =>
  Array.isArray(calls) && calls.length >= 1 && calls.length <= 5 && calls.every((c) => isJsonObject(c) && typeof c.method === "string")

const componentMethods = (type: "switch" | "input", count: (d: SimDevice) => number, defaults: (d: SimDevice) => JsonObject) => {
  const name = type === "switch" ? "Switch" : "Input"
  const lookup = (d: SimDevice, params: JsonObject): { key: string; config: JsonObject } | RpcOutcome => {
    const id = idOf(params)
    if (typeof id !== "number") return id
    if (id < 0 || id >= count(d)) return fail(-105, `Bad id=${id}`)
    const key = `${type}:${id}`
    return { key, config: structuredClone(of(d).components.get(key) ?? (defaults(d)[key] as JsonObject)) }
  }
  return {
    [`${name}.GetConfig`]: (d: SimDevice, _env: RpcEnv, { params }: RpcRequest) => {
      const found = lookup(d, params)
      return "ok" in found ? found : ok(found.config)
    },
    [`${name}.SetConfig`]: (d: SimDevice, _env: RpcEnv, { params }: RpcRequest) => {
      const found = lookup(d, params)
      if ("ok" in found) return found
      if (!isJsonObject(params.config)) return params.config === undefined ? missing("config") : invalid("config")
      const { id: _id, ...patch } = params.config
      const error = mergeConfig(found.config, patch, "config.")
      if (error) return fail(-103, error)
      of(d).components.set(found.key, found.config)
      d.bumpCfgRev()
      return ok({ restart_required: false })
    }
  }
}

type Method = (d: SimDevice, env: RpcEnv, req: RpcRequest) => RpcOutcome

/**
 * The methods, keyed by canonical name. `componentDefaults` is the model's
 * `Shelly.GetConfig` component part (rpc.ts owns the model's defaults).
 */
export const automationMethods = (componentDefaults: (d: SimDevice) => JsonObject): Record<string, Method> => ({
  "Script.List": (d) =>
    ok({ scripts: [...of(d).scripts.values()].map((s) => ({ id: s.id, name: s.name, enable: s.enable, running: s.running })) }),
  "Script.Create": (d, _env, { params }) => {
    const a = of(d)
    if (a.scripts.size >= LIMIT_SCRIPTS) return fail(-108, "Maximum number of scripts reached")
    if (params.name !== undefined && typeof params.name !== "string") return invalid("name")
    const id = a.nextScript++
    a.scripts.set(id, { id, name: typeof params.name === "string" ? params.name : `script_${id}`, enable: false, running: false, code: "" })
    return ok({ id })
  },
  "Script.Delete": (d, _env, { params }) => {
    const id = idOf(params)
    if (typeof id !== "number") return id
    const script = of(d).scripts.get(id)
    if (script === undefined) return notFound(id)
    if (script.running) return fail(-109, "Script is running")
    of(d).scripts.delete(id)
    return ok(null)
  },
  "Script.GetConfig": (d, _env, { params }) => {
    const id = idOf(params)
    if (typeof id !== "number") return id
    const s = of(d).scripts.get(id)
    return s === undefined ? notFound(id) : ok({ id: s.id, name: s.name, enable: s.enable })
  },
  "Script.SetConfig": (d, _env, { params }) => {
    const id = idOf(params)
    if (typeof id !== "number") return id
    const s = of(d).scripts.get(id)
    if (s === undefined) return notFound(id)
    const config = params.config
    if (!isJsonObject(config)) return config === undefined ? missing("config") : invalid("config")
    if (config.name !== undefined && typeof config.name !== "string") return invalid("config.name")
    if (config.enable !== undefined && typeof config.enable !== "boolean") return invalid("config.enable")
    if (typeof config.name === "string") s.name = config.name
    if (typeof config.enable === "boolean") s.enable = config.enable
    return ok({ restart_required: false })
  },
  "Script.PutCode": (d, _env, { params }) => {
    const id = idOf(params)
    if (typeof id !== "number") return id
    const s = of(d).scripts.get(id)
    if (s === undefined) return notFound(id)
    if (s.running) return fail(-109, "Script is running")
    if (typeof params.code !== "string") return params.code === undefined ? missing("code") : invalid("code")
    s.code = params.append === true ? s.code + params.code : params.code
    return ok({ len: Buffer.byteLength(s.code) })
  },
  "Script.GetCode": (d, _env, { params }) => {
    const id = idOf(params)
    if (typeof id !== "number") return id
    const s = of(d).scripts.get(id)
    if (s === undefined) return notFound(id)
    const bytes = Buffer.from(s.code)
    const offset = typeof params.offset === "number" ? params.offset : 0
    if (offset < 0 || offset > bytes.length) return invalid("offset")
    const len = Math.min(typeof params.len === "number" ? params.len : CODE_CHUNK, CODE_CHUNK)
    const data = bytes.subarray(offset, offset + len)
    return ok({ data: data.toString(), left: bytes.length - offset - data.length })
  },
  "Script.Start": (d, _env, { params }) => {
    const id = idOf(params)
    if (typeof id !== "number") return id
    const s = of(d).scripts.get(id)
    if (s === undefined) return notFound(id)
    const was = s.running
    s.running = true
    return ok({ was_running: was })
  },
  "Script.Stop": (d, _env, { params }) => {
    const id = idOf(params)
    if (typeof id !== "number") return id
    const s = of(d).scripts.get(id)
    if (s === undefined) return notFound(id)
    const was = s.running
    s.running = false
    return ok({ was_running: was })
  },

  "Webhook.List": (d) => ok({ hooks: [...of(d).hooks.values()].map((h) => structuredClone(h)), rev: of(d).webhookRev }),
  "Webhook.Create": (d, _env, { params }) => {
    const a = of(d)
    if (a.hooks.size >= LIMIT_HOOKS) return fail(-108, "Maximum number of webhooks reached")
    const checked = hookPatch(params)
    if ("error" in checked) return checked.error
    const patch = checked.patch
    if (patch.event === undefined) return missing("event")
    if (patch.cid === undefined) return missing("cid")
    if (patch.urls === undefined) return missing("urls")
    const id = a.nextHook++
    a.hooks.set(id, {
      id,
      cid: patch.cid!,
      enable: patch.enable ?? true,
      event: patch.event!,
      name: patch.name ?? null,
      ssl_ca: patch.ssl_ca ?? "ca.pem",
      urls: patch.urls!,
      active_between: patch.active_between ?? null,
      condition: patch.condition ?? null,
      repeat_period: patch.repeat_period ?? 0
    })
    a.webhookRev++
    return ok({ id, rev: a.webhookRev })
  },
  "Webhook.Update": (d, _env, { params }) => {
    const id = idOf(params)
    if (typeof id !== "number") return id
    const a = of(d)
    const hook = a.hooks.get(id)
    if (hook === undefined) return notFound(id)
    const checked = hookPatch(params)
    if ("error" in checked) return checked.error
    Object.assign(hook, checked.patch)
    a.webhookRev++
    return ok({ rev: a.webhookRev })
  },
  "Webhook.Delete": (d, _env, { params }) => {
    const id = idOf(params)
    if (typeof id !== "number") return id
    const a = of(d)
    if (!a.hooks.delete(id)) return notFound(id)
    a.webhookRev++
    return ok({ rev: a.webhookRev })
  },
  "Webhook.DeleteAll": (d) => {
    const a = of(d)
    a.hooks.clear()
    a.webhookRev++
    return ok({ rev: a.webhookRev })
  },

  "Schedule.List": (d) => ok({ jobs: [...of(d).jobs.values()].map((j) => structuredClone(j)), rev: of(d).scheduleRev }),
  "Schedule.Create": (d, _env, { params }) => {
    const a = of(d)
    if (a.jobs.size >= LIMIT_JOBS) return fail(-108, "Maximum number of schedules reached")
    if (typeof params.timespec !== "string") return params.timespec === undefined ? missing("timespec") : invalid("timespec")
    if (!validCalls(params.calls)) return params.calls === undefined ? missing("calls") : invalid("calls")
    const id = a.nextJob++
    a.jobs.set(id, { id, enable: params.enable !== false, timespec: params.timespec, calls: structuredClone(params.calls!) })
    a.scheduleRev++
    return ok({ id, rev: a.scheduleRev })
  },
  "Schedule.Update": (d, _env, { params }) => {
    const id = idOf(params)
    if (typeof id !== "number") return id
    const a = of(d)
    const job = a.jobs.get(id)
    if (job === undefined) return notFound(id)
    if (params.timespec !== undefined && typeof params.timespec !== "string") return invalid("timespec")
    if (params.calls !== undefined && !validCalls(params.calls)) return invalid("calls")
    if (params.enable !== undefined && typeof params.enable !== "boolean") return invalid("enable")
    for (const key of ["enable", "timespec", "calls"] as const) if (params[key] !== undefined) job[key] = structuredClone(params[key]!)
    a.scheduleRev++
    return ok({ rev: a.scheduleRev })
  },
  "Schedule.Delete": (d, _env, { params }) => {
    const id = idOf(params)
    if (typeof id !== "number") return id
    const a = of(d)
    if (!a.jobs.delete(id)) return notFound(id)
    a.scheduleRev++
    return ok({ rev: a.scheduleRev })
  },
  "Schedule.DeleteAll": (d) => {
    const a = of(d)
    a.jobs.clear()
    a.scheduleRev++
    return ok({ rev: a.scheduleRev })
  },
  ...componentMethods("switch", (d) => componentCount(d, "switch"), componentDefaults),
  ...componentMethods("input", (d) => componentCount(d, "input"), componentDefaults)
})

/** How many numbered components of that kind the device's model carries (models.ts). */
const componentCount = (d: SimDevice, kind: "switch" | "input"): number =>
  d.model.components.reduce((sum, [k, n]) => (k === kind ? sum + n : sum), 0)

/** The component part of Shelly.GetConfig with the settings changed by Switch/Input.SetConfig. */
export const withComponentSettings = (d: SimDevice, defaults: JsonObject): JsonObject => {
  const changed = state.get(d)?.components
  if (changed === undefined || changed.size === 0) return defaults
  const out: JsonObject = { ...defaults }
  for (const [key, config] of changed) out[key] = structuredClone(config)
  return out
}

/** `webhook_rev` and `schedule_rev` for Sys status. */
export const automationRevs = (d: SimDevice): { readonly webhook_rev: number; readonly schedule_rev: number } => {
  const a = state.get(d)
  return { webhook_rev: a?.webhookRev ?? 0, schedule_rev: a?.scheduleRev ?? 0 }
}
