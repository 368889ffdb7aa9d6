// Picking the devices a device command (credentials rotate, backup) works on
// from the inventory: every one with an address, or those named by --mac.
// Pure: an inventory parsed from text, nothing is contacted.
import { Effect, Either, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { allInventoryTargets, inventoryTargetsByMac } from "../../src/credentials/targets.js"
import { parseInventory } from "../../src/inventory/document.js"

const doc = Either.getOrThrow(
  parseInventory(
    "data/ip_state.json",
    JSON.stringify({
      devices: {
        "a1:b2:c3:d4:e5:01": { ip: "127.0.0.11" },
        "a1:b2:c3:d4:e5:02": { ip: "127.0.0.12", port: 18080 },
        "a1:b2:c3:d4:e5:03": { friendly_name: "no address yet" }
      }
    })
  )
)

const failureOf = <A, E>(exit: Exit.Exit<A, E>) => (Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined)

describe("inventory targets", () => {
  it("without --mac: every device with an address, its recorded port or the configured one", () => {
    expect(allInventoryTargets(doc, 80).map((t) => [t.mac, t.host, t.port])).toEqual([
      ["A1B2C3D4E501", "127.0.0.11", 80],
      ["A1B2C3D4E502", "127.0.0.12", 18080]
    ])
  })

  it("--mac in any spelling picks those devices, in the order given", () => {
    const picked = Effect.runSync(inventoryTargetsByMac(doc, ["A1B2C3D4E502", "a1-b2-c3-d4-e5-01"], 80))
    expect(picked.map((t) => t.host)).toEqual(["127.0.0.12", "127.0.0.11"])
  })

  it("a --mac that is no MAC, not in the inventory, or without an address fails naming it", () => {
    const bad = failureOf(Effect.runSyncExit(inventoryTargetsByMac(doc, ["zz"], 80)))
    expect(bad).toMatchObject({ _tag: "InventoryInputInvalid", what: "--mac zz" })
    const unknown = failureOf(Effect.runSyncExit(inventoryTargetsByMac(doc, ["a1:b2:c3:d4:e5:09"], 80)))
    expect(unknown).toMatchObject({ _tag: "DeviceNotFound", query: "a1:b2:c3:d4:e5:09", file: "data/ip_state.json" })
    const noIp = failureOf(Effect.runSyncExit(inventoryTargetsByMac(doc, ["a1:b2:c3:d4:e5:01", "a1:b2:c3:d4:e5:03"], 80)))
    expect(noIp).toMatchObject({
      _tag: "InventoryInputInvalid",
      what: "--mac a1:b2:c3:d4:e5:03",
      problems: ["the device has no ip in the inventory"]
    })
  })
})
