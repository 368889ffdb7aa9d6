/**
 * The simulator's scripts, webhooks, schedules and component settings
 * (sim/shelly/automation.ts) over real HTTP with the Live client: the shapes
 * of the vendor docs cited there. Range 127.93.1.x for this file.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { ShellyRpc, type DeviceTarget } from "../../src/shelly/ShellyRpc.js"
import { ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"

let fleet: FleetHandle
beforeAll(async () => {
  fleet = await startFleet({
    devices: 2,
    baseIp: "127.93.1.1",
    port: 0,
    seed: 93,
    timeScale: 0.01,
    control: false,
    models: ["S2PMG3"],
    apIp: "127.93.33.1",
    dhcpPool: { start: "127.93.200.1", end: "127.93.200.254" }
  })
})
afterAll(async () => {
  await fleet?.stop()
})

const at = (n: number): DeviceTarget => ({ host: fleet.device(n)!.ip!, port: fleet.port })
const Any = Schema.Unknown
const call = (n: number, method: string, params?: Record<string, unknown>, transport: "get" | "post" = "post") =>
  Effect.flatMap(ShellyRpc, (rpc) => rpc.call(at(n), method, params, Any, { transport })).pipe(Effect.provide(ShellyRpcLive))

describe("simulated automation", () => {
  it.effect("scripts: create, code in appended chunks, read back in chunks of at most 1 KiB, config, list", () =>
    Effect.gen(function* () {
      const { id } = (yield* call(1, "Script.Create", { name: "stairs" })) as { id: number }
      const code = "let n = 0;\n" + "// padding\n".repeat(300)
      yield* call(1, "Script.PutCode", { id, code: code.slice(0, 2000) })
      expect(yield* call(1, "Script.PutCode", { id, code: code.slice(2000), append: true })).toEqual({ len: code.length })
      const first = (yield* call(1, "Script.GetCode", { id })) as { data: string; left: number }
      expect(first.data.length).toBe(1024)
      expect(first.left).toBe(code.length - 1024)
      const rest = (yield* call(1, "Script.GetCode", { id, offset: 1024, len: 100_000 })) as { data: string; left: number }
      expect(first.data + rest.data).toBe(code.slice(0, 2048))
      yield* call(1, "Script.SetConfig", { id, config: { enable: true } })
      yield* call(1, "Script.Start", { id })
      expect(yield* Effect.flip(call(1, "Script.PutCode", { id, code: "x" }))).toMatchObject({ _tag: "RpcError", rpcCode: -109 })
      expect(yield* call(1, "Script.List")).toEqual({ scripts: [{ id, name: "stairs", enable: true, running: true }] })
      expect(yield* Effect.flip(call(1, "Script.GetCode", { id: 99 }))).toMatchObject({ rpcCode: -105 })
    })
  )

  it.effect("webhooks and schedules: CRUD with rev, limits, revs in Sys status", () =>
    Effect.gen(function* () {
      const hook = (yield* call(2, "Webhook.Create", { cid: 0, event: "switch.on", urls: ["http://127.0.0.1/on"], name: "on" })) as {
        id: number
        rev: number
      }
      expect(hook.rev).toBe(1)
      yield* call(2, "Webhook.Update", { id: hook.id, enable: false })
      const hooks = (yield* call(2, "Webhook.List")) as { hooks: Array<Record<string, unknown>>; rev: number }
      expect(hooks.rev).toBe(2)
      expect(hooks.hooks[0]).toMatchObject({ id: hook.id, cid: 0, event: "switch.on", enable: false, urls: ["http://127.0.0.1/on"] })
      expect(yield* Effect.flip(call(2, "Schedule.Create", { timespec: "0 0 8 * * *", calls: [] }))).toMatchObject({ rpcCode: -103 })
      for (let i = 0; i < 20; i++) {
        yield* call(2, "Schedule.Create", {
          enable: true,
          timespec: `0 ${i} 7 * * MON`,
          calls: [{ method: "Switch.Set", params: { id: 0, on: true } }]
        })
      }
      expect(
        yield* Effect.flip(call(2, "Schedule.Create", { timespec: "0 0 8 * * *", calls: [{ method: "Switch.Toggle" }] }))
      ).toMatchObject({ rpcCode: -108 })
      const status = (yield* call(2, "Sys.GetStatus")) as { webhook_rev: number; schedule_rev: number }
      expect(status).toMatchObject({ webhook_rev: 2, schedule_rev: 20 })
      yield* call(2, "Schedule.DeleteAll")
      expect(((yield* call(2, "Schedule.List")) as { jobs: Array<unknown> }).jobs).toEqual([])
    })
  )

  it.effect("Switch.SetConfig shows in Switch.GetConfig and Shelly.GetConfig; unknown keys and ids are refused", () =>
    Effect.gen(function* () {
      yield* call(1, "Switch.SetConfig", { id: 0, config: { name: "Stairs light", auto_off: true } })
      expect(yield* call(1, "Switch.GetConfig", { id: 0 }, "get")).toMatchObject({
        id: 0,
        name: "Stairs light",
        auto_off: true,
        in_mode: "follow"
      })
      expect(((yield* call(1, "Shelly.GetConfig")) as Record<string, unknown>)["switch:0"]).toMatchObject({ name: "Stairs light" })
      expect(((yield* call(1, "Shelly.GetConfig")) as Record<string, unknown>)["switch:1"]).toMatchObject({ name: null })
      expect(yield* Effect.flip(call(1, "Switch.SetConfig", { id: 0, config: { colour: "red" } }))).toMatchObject({ rpcCode: -103 })
      expect(yield* Effect.flip(call(1, "Switch.GetConfig", { id: 7 }))).toMatchObject({ rpcCode: -105 })
    })
  )
})
