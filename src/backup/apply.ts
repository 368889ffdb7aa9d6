/**
 * Carries out a restore plan, in the order the firmware needs: settings of
 * the system and components first (webhooks and schedules refer to
 * components by id), then scripts (schedules start scripts by id), then
 * webhooks, then schedules. A running script is stopped before its code is
 * replaced or it is deleted (the device refuses otherwise). Writes go as
 * POST frames: script code and webhook URLs stay out of request lines.
 */
import { Effect, Schema } from "effect"
import type { RpcFailure } from "../domain/errors/shelly.js"
import type { CallOptions, DeviceTarget } from "../shelly/ShellyRpc.js"
import { ShellyRpc } from "../shelly/ShellyRpc.js"
import type { Change, RestorePlan } from "./plan.js"
import { AnyResult, type BackupScript, CreatedId, type JsonObject, ScriptList } from "./schema.js"

/** Code per Script.PutCode call (the vendor's upload tool sends about 1 KiB at a time). */
const CODE_CHUNK = 1024

const withoutNulls = (o: JsonObject): JsonObject => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null))

export const applyPlan = (
  target: DeviceTarget,
  plan: RestorePlan,
  options: CallOptions,
  say: (line: string) => Effect.Effect<void>
): Effect.Effect<number, RpcFailure, ShellyRpc> =>
  Effect.gen(function* () {
    const rpc = yield* ShellyRpc
    const call = <A, I>(
      method: string,
      params: Record<string, unknown> | undefined,
      schema: Schema.Schema<A, I> = AnyResult as unknown as Schema.Schema<A, I>
    ) => rpc.call(target, method, params, schema, { ...options, transport: "post" })

    const putCode = (id: number, code: string) =>
      Effect.gen(function* () {
        if (code.length === 0) return yield* call("Script.PutCode", { id, code: "" })
        for (let at = 0; at < code.length; at += CODE_CHUNK) {
          yield* call("Script.PutCode", { id, code: code.slice(at, at + CODE_CHUNK), ...(at > 0 ? { append: true } : {}) })
        }
      })
    const settle = (id: number, script: BackupScript) =>
      Effect.gen(function* () {
        yield* call("Script.SetConfig", { id, config: { enable: script.enable } })
        if (script.running) yield* call("Script.Start", { id })
      })

    const byKind = (kind: Change["kind"]) => plan.changes.filter((c) => c.kind === kind)
    let applied = 0
    for (const change of byKind("config")) {
      if (change.kind !== "config") continue
      yield* call(change.method, change.id === undefined ? { config: change.patch } : { id: change.id, config: change.patch })
      yield* say(`[restore: ${change.method} ${change.component}]`)
      applied++
    }
    for (const change of [...byKind("script-delete"), ...byKind("script-update"), ...byKind("script-create")]) {
      switch (change.kind) {
        case "script-delete":
          if (change.running) yield* call("Script.Stop", { id: change.deviceId })
          yield* call("Script.Delete", { id: change.deviceId })
          yield* say(`[restore: script "${change.name}" deleted]`)
          break
        case "script-update":
          if (change.running) yield* call("Script.Stop", { id: change.deviceId })
          if (change.code) yield* putCode(change.deviceId, change.script.code)
          yield* settle(change.deviceId, change.script)
          yield* say(`[restore: script "${change.script.name}" updated]`)
          break
        case "script-create": {
          const { id } = yield* call("Script.Create", { name: change.script.name }, CreatedId)
          yield* putCode(id, change.script.code)
          yield* settle(id, change.script)
          yield* say(`[restore: script "${change.script.name}" created]`)
          break
        }
      }
      applied++
    }
    for (const change of byKind("webhooks")) {
      if (change.kind !== "webhooks") continue
      yield* call("Webhook.DeleteAll", undefined)
      for (const hook of change.target) yield* call("Webhook.Create", withoutNulls(hook))
      yield* say(`[restore: ${change.target.length} webhook(s) set]`)
      applied++
    }
    for (const change of byKind("schedules")) {
      if (change.kind !== "schedules") continue
      // Script ids as they are on this device now.
      const scripts = (yield* call("Script.List", undefined, ScriptList)).scripts
      const idOf = (name: string) => scripts.find((s) => s.name === name)?.id
      yield* call("Schedule.DeleteAll", undefined)
      for (const job of change.target) {
        const calls = (Array.isArray(job["calls"]) ? job["calls"] : []).map((c: unknown) => {
          const call = c as { method?: unknown; params?: Record<string, unknown> }
          const ref = call.params?.["id"]
          return typeof ref === "string" && ref.startsWith("script:")
            ? { ...call, params: { ...call.params, id: idOf(ref.slice(7)) ?? -1 } }
            : call
        })
        yield* call("Schedule.Create", { ...withoutNulls(job), calls })
      }
      yield* say(`[restore: ${change.target.length} schedule(s) set]`)
      applied++
    }
    return applied
  })
