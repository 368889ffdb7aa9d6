/**
 * Reads a device's whole configuration: Shelly.GetConfig, its scripts with
 * their code (Script.List + Script.GetCode, in chunks until `left` is 0),
 * Webhook.List and Schedule.List. A device without one of these services
 * (404 "No handler") simply has none of that kind.
 */
import { Effect } from "effect"
import type { RpcFailure } from "../domain/errors/shelly.js"
import { ResponseInvalid } from "../domain/errors/shelly.js"
import type { CallOptions, DeviceTarget } from "../shelly/ShellyRpc.js"
import { ShellyRpc } from "../shelly/ShellyRpc.js"
import { DeviceInfo } from "../shelly/schemas.js"
import { Schema } from "effect"
import {
  BACKUP_FORMAT,
  type BackupScript,
  type DeviceBackup,
  type JsonObject,
  ScheduleList,
  ScriptCode,
  ScriptList,
  WebhookList
} from "./schema.js"

const Config = Schema.Record({ key: Schema.String, value: Schema.Unknown })
/** Bound on GetCode rounds: scripts are limited to a few tens of KiB on the device. */
const MAX_CODE_CHUNKS = 1000

export const readDevice = (target: DeviceTarget, options: CallOptions): Effect.Effect<DeviceBackup, RpcFailure, ShellyRpc> =>
  Effect.gen(function* () {
    const rpc = yield* ShellyRpc
    const call = <A, I>(method: string, params: Record<string, unknown> | undefined, schema: Schema.Schema<A, I>) =>
      rpc.call(target, method, params, schema, { ...options, transport: "post" })
    /** An absent service is an empty list, not a failure. */
    const orNone = <A>(effect: Effect.Effect<A, RpcFailure>, none: A) =>
      Effect.catchIf(
        effect,
        (e) => e._tag === "RpcError" && e.rpcCode === 404,
        () => Effect.succeed(none)
      )

    const info = yield* call("Shelly.GetDeviceInfo", undefined, DeviceInfo)
    const config = yield* call("Shelly.GetConfig", undefined, Config)
    const listed = yield* orNone(call("Script.List", undefined, ScriptList), { scripts: [] })
    const scripts: Array<BackupScript> = []
    for (const script of listed.scripts) {
      let code = ""
      for (let round = 0; ; round++) {
        if (round >= MAX_CODE_CHUNKS) {
          return yield* new ResponseInvalid({
            device: `${target.host}:${target.port}`,
            method: "Script.GetCode",
            reason: `script ${script.id} did not end after ${MAX_CODE_CHUNKS} chunks`,
            excerpt: ""
          })
        }
        const chunk = yield* call("Script.GetCode", { id: script.id, offset: Buffer.byteLength(code) }, ScriptCode)
        code += chunk.data
        if (chunk.left <= 0 || chunk.data.length === 0) break
      }
      scripts.push({
        id: script.id,
        name: script.name ?? `script_${script.id}`,
        enable: script.enable,
        running: script.running ?? false,
        code
      })
    }
    const webhooks = yield* orNone(call("Webhook.List", undefined, WebhookList), { hooks: [] as ReadonlyArray<JsonObject> })
    const schedules = yield* orNone(call("Schedule.List", undefined, ScheduleList), { jobs: [] as ReadonlyArray<JsonObject> })
    return {
      format: BACKUP_FORMAT,
      mac: info.mac.toUpperCase(),
      id: info.id,
      model: info.model,
      app: info.app,
      fw: info.ver,
      taken_at: new Date().toISOString(),
      config,
      scripts,
      webhooks: webhooks.hooks,
      schedules: schedules.jobs
    } satisfies DeviceBackup
  })
