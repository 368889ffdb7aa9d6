// Pure parts of Stage 3 with an in-memory ShellyRpc double; the behaviour
// against real HTTP and the simulator is in stage3.sim.test.ts.
import { it } from "@effect/vitest"
import { Deferred, Effect, FiberId, Option, Schema } from "effect"
import { describe, expect } from "vitest"
import { DeviceUnreachable, RpcHttp500 } from "../../src/domain/errors/shelly.js"
import type { Mac } from "../../src/domain/mac.js"
import type { InventoryDocument } from "../../src/inventory/Inventory.js"
import { ShellyRpc } from "../../src/shelly/ShellyRpc.js"
import {
  applyStage3Results,
  decideNameWrite,
  runStage3,
  selectByIp,
  type Stage3DeviceResult,
  type Stage3Settings
} from "../../src/stages/stage3.js"
import { makeTestLayer } from "../support/makeTestLayer.js"

const settings: Stage3Settings = {
  devicePort: 80,
  dryRun: false,
  concurrency: 4,
  probeTimeout: "250 millis",
  identityTimeout: "1 second",
  friendlyTimeout: "1 second",
  ota: { enabled: true, mode: "check_and_update", timeout: "1 second" },
  friendly: { enabled: true, fieldName: "friendly_name", backfill: false }
}

describe("decideNameWrite", () => {
  it("keeps an equal name in both modes", () => {
    expect(decideNameWrite("A", Option.some("A"), false)).toEqual({ _tag: "keep", name: "A" })
    expect(decideNameWrite("A", Option.some("A"), true)).toEqual({ _tag: "keep", name: "A" })
  })
  it("backfill false: the inventory wins, even when the device name is unknown", () => {
    expect(decideNameWrite("A", Option.some("B"), false)).toEqual({ _tag: "write" })
    expect(decideNameWrite("A", Option.none(), false)).toEqual({ _tag: "write" })
  })
  it("backfill true: only an empty device name is filled; an unreadable one is not overwritten", () => {
    expect(decideNameWrite("A", Option.some("B"), true)).toEqual({ _tag: "keep", name: "B" })
    expect(decideNameWrite("A", Option.some(""), true)).toEqual({ _tag: "write" })
    expect(decideNameWrite("A", Option.none(), true)._tag).toBe("refuse")
  })
})

const doc: InventoryDocument = {
  path: "x.json",
  format: "flat",
  envelope: {},
  devices: [
    {
      key: "aa:bb:cc:00:00:01",
      mac: "AABBCC000001" as Mac,
      record: {
        ip: "127.30.0.1",
        custom: { keep: [1, 2] },
        friendly_name: "Flur",
        stage3: { ota_status: "up_to_date", friendly_status: "ok", note: "x" }
      }
    },
    { key: "AABBCC000002", mac: "AABBCC000002" as Mac, record: { ip: "127.30.0.2", model: "S1PMG3" } }
  ]
}

const result = (mac: string, fields: Partial<Stage3DeviceResult>): Stage3DeviceResult => ({
  key: mac,
  mac: mac as Mac,
  ip: "127.30.0.1",
  label: "S2PMG3",
  ota: "up_to_date",
  errors: [],
  wroteName: false,
  startedUpdate: false,
  failed: false,
  ...fields
})

describe("applyStage3Results", () => {
  it("offline keeps friendly_status and metadata, keeps unknown fields and key order", () => {
    const next = applyStage3Results(doc, [result("AABBCC000001", { ota: "offline", failed: true })], "2025-01-01T00:00:00.000Z")
    const record = next.devices[0]!.record
    expect(Object.keys(record)).toEqual(["ip", "custom", "friendly_name", "stage3"])
    expect(record.custom).toEqual({ keep: [1, 2] })
    expect(record.stage3).toEqual({ ota_status: "offline", friendly_status: "ok", note: "x", last_run: "2025-01-01T00:00:00.000Z" })
    expect(next.devices[1]).toBe(doc.devices[1])
  })

  it("stores metadata and both statuses; a dry-run `pending` is never stored", () => {
    const next = applyStage3Results(
      doc,
      [
        result("AABBCC000002", {
          ota: "update_available",
          friendly: "pending",
          metadata: { model: "S2PMG3", fw: "1.4.4", hostname: "shelly2pmg3-aabbcc000002" }
        })
      ],
      "T"
    )
    expect(next.devices[1]!.record).toEqual({
      ip: "127.30.0.2",
      model: "S2PMG3",
      fw: "1.4.4",
      hostname: "shelly2pmg3-aabbcc000002",
      stage3: { ota_status: "update_available", last_run: "T" }
    })
  })
})

describe("selectByIp", () => {
  it("selects by inventory ip and reports addresses nobody has", () => {
    const { selected, unknown } = selectByIp(doc.devices, ["127.30.0.2", "127.30.0.9"])
    expect(selected.map((d) => d.key)).toEqual(["AABBCC000002"])
    expect(unknown).toEqual(["127.30.0.9"])
  })
})

describe("runStage3 with an in-memory device", () => {
  const calls: Array<string> = []
  const info = (mac: string) => ({
    id: `shelly2pmg3-${mac.toLowerCase()}`,
    mac,
    model: "S3SW-002P16EU",
    gen: 3,
    fw_id: "x",
    ver: "1.4.4",
    app: "S2PMG3",
    auth_en: false
  })
  const rpc = makeTestLayer(ShellyRpc)({
    probe: () => Effect.succeed(true),
    call: <A, I>(target: { host: string }, method: string, _params: unknown, schema: Schema.Schema<A, I>) => {
      calls.push(`${target.host} ${method}`)
      const answer = (value: unknown) => Schema.decodeUnknown(schema)(value).pipe(Effect.orDie)
      const mac = target.host === "127.30.0.1" ? "AABBCC000001" : "FFFFFF000009"
      switch (method) {
        case "Shelly.GetDeviceInfo":
          return answer(info(mac))
        case "Shelly.CheckForUpdate":
          return answer({ stable: { version: "1.7.5" } })
        case "Sys.GetConfig":
          return answer({ device: { name: "Alt" } })
        default:
          return Effect.fail(new RpcHttp500({ device: target.host, method, rpcCode: -114, rpcMessage: "unexpected" }))
      }
    }
  })

  it.effect("dry run: reads only, shows the pending name; a MAC mismatch stops before any other call", () =>
    Effect.gen(function* () {
      const results = yield* runStage3(doc.devices, { ...settings, dryRun: true })
      expect(results.map((r) => [r.ota, r.friendly, r.friendlyName, r.errors])).toEqual([
        ["update_available", "pending", "Flur", []],
        ["error", undefined, undefined, ["mac mismatch (found FFFFFF000009)"]]
      ])
      expect(results[1]!.failed).toBe(true)
      expect(calls.filter((c) => c.startsWith("127.30.0.2"))).toEqual(["127.30.0.2 Shelly.GetDeviceInfo"])
      expect(calls.some((c) => c.endsWith("Sys.SetConfig") || c.endsWith("Shelly.Update"))).toBe(false)
    }).pipe(Effect.provide(rpc))
  )
})

describe("runStage3 when the device name cannot be read", () => {
  // A firmware whose GetDeviceInfo has no `name` and whose Sys.GetConfig fails (runbook §7.1: not fatal).
  const layer = (writes: Array<string>) =>
    makeTestLayer(ShellyRpc)({
      probe: () => Effect.succeed(true),
      call: <A, I>(target: { host: string }, method: string, params: unknown, schema: Schema.Schema<A, I>) => {
        const answer = (value: unknown) => Schema.decodeUnknown(schema)(value).pipe(Effect.orDie)
        if (method === "Shelly.GetDeviceInfo")
          return answer({
            id: "shelly1pmg3-aabbcc000001",
            mac: "AABBCC000001",
            model: "S3SW-001P16EU",
            gen: 3,
            fw_id: "x",
            ver: "1.4.4",
            app: "S1PMG3",
            auth_en: false
          })
        if (method === "Shelly.CheckForUpdate") return answer({})
        if (method === "Sys.SetConfig") {
          writes.push(JSON.stringify(params))
          return answer({ restart_required: false })
        }
        return Effect.fail(new RpcHttp500({ device: target.host, method, rpcCode: -114, rpcMessage: "down" }))
      }
    })

  it.effect("backfill false still writes (JSON is master); backfill true refuses to overwrite blindly", () =>
    Effect.gen(function* () {
      const writes: Array<string> = []
      const one = [doc.devices[0]!]
      const master = yield* runStage3(one, settings).pipe(Effect.provide(layer(writes)))
      expect(writes).toEqual([JSON.stringify({ config: { device: { name: "Flur" } } })])
      expect(master[0]!.errors).toEqual(["friendly: read back: HTTP 500"])
      expect(master[0]!.details[0]).toMatch(/^Sys\.GetConfig failed, device name unknown: Sys\.GetConfig on 127\.30\.0\.1: HTTP 500/)
      const backfill = yield* runStage3(one, { ...settings, friendly: { ...settings.friendly, backfill: true } }).pipe(
        Effect.provide(layer(writes))
      )
      expect(writes).toHaveLength(1)
      expect([backfill[0]!.friendly, backfill[0]!.errors]).toEqual(["error", ["friendly: name unreadable"]])
    })
  )
})

describe("runStage3 ordering", () => {
  const devices = Array.from({ length: 6 }, (_, i) => ({
    key: `AABBCC00000${i}`,
    mac: `AABBCC00000${i}` as Mac,
    record: { ip: `127.30.200.${i + 1}` }
  }))
  // Device k finishes only after device k+1 did: completion order is the reverse of inventory order.
  const completed: Array<string> = []
  const turns = Array.from({ length: 8 }, () => Deferred.unsafeMake<void>(FiberId.none))
  const reversed = makeTestLayer(ShellyRpc)({
    // The identity call's connect is the reachability probe: nobody answers.
    call: (target: { host: string }, method: string) => {
      const k = Number(target.host.split(".")[3])
      return Deferred.await(turns[k]!).pipe(
        Effect.zipRight(Effect.sync(() => completed.push(target.host))),
        Effect.zipRight(Deferred.succeed(turns[k - 1]!, undefined)),
        Effect.zipRight(Effect.fail(new DeviceUnreachable({ device: target.host, method, reason: "no connection within 250 ms" })))
      )
    }
  })

  it.effect("reports in inventory order although devices finish in another order", () =>
    Effect.gen(function* () {
      yield* Deferred.succeed(turns[6]!, undefined)
      const seen: Array<string> = []
      const finished: Array<string> = []
      // An asynchronous consumer (log file, SSE) must not reorder the lines either.
      const results = yield* runStage3(devices, { ...settings, concurrency: 6 }, (r) =>
        Effect.yieldNow().pipe(Effect.zipRight(Effect.sync(() => seen.push(r.ip))))
      ).pipe(Effect.tap(() => Effect.sync(() => finished.push("done"))))
      expect(completed).toEqual(devices.map((d) => d.record.ip).reverse())
      expect(seen).toEqual(devices.map((d) => d.record.ip))
      expect(results.map((r) => r.ota)).toEqual(Array(6).fill("offline"))
      expect(finished).toEqual(["done"])
    }).pipe(Effect.provide(reversed))
  )
})
