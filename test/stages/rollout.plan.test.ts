// Wave planning (pure): shares, stable order, groups.
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { parseMac } from "../../src/domain/mac.js"
import type { InventoryDevice } from "../../src/inventory/Inventory.js"
import { parseWaves, planWaves } from "../../src/stages/stage3/rollout.js"

const device = (n: number, room?: string): InventoryDevice => {
  const key = `AA:BB:CC:00:00:${n.toString(16).padStart(2, "0").toUpperCase()}`
  return { key, mac: Either.getOrThrow(parseMac(key)), record: room === undefined ? { ip: `127.0.0.${n}` } : { ip: `127.0.0.${n}`, room } }
}
const macs = (waves: ReadonlyArray<ReadonlyArray<InventoryDevice>>) => waves.map((w) => w.map((d) => Number.parseInt(d.key.slice(-2), 16)))

describe("parseWaves", () => {
  it("takes growing shares and refuses anything else", () => {
    expect(parseWaves("5%, 25%,100%")).toEqual(Either.right([5, 25, 100]))
    expect(parseWaves(["10%", "100%"])).toEqual(Either.right([10, 100]))
    expect(Either.isLeft(parseWaves("25%,5%"))).toBe(true)
    expect(Either.isLeft(parseWaves("5,25"))).toBe(true)
    expect(Either.isLeft(parseWaves("0%,100%"))).toBe(true)
    expect(Either.isLeft(parseWaves("150%"))).toBe(true)
  })
})

describe("planWaves", () => {
  it("cuts cumulative shares in MAC order, whatever the file order", () => {
    const devices = Array.from({ length: 20 }, (_, i) => device(20 - i))
    const waves = planWaves(devices, [5, 25, 100])
    expect(macs(waves)).toEqual([[1], [2, 3, 4, 5], Array.from({ length: 15 }, (_, i) => i + 6)])
    expect(planWaves([...devices].reverse(), [5, 25, 100])).toEqual(waves)
  })

  it("every device is in exactly one wave; a small fleet gets no empty waves", () => {
    const waves = planWaves([device(1), device(2)], [5, 25, 100])
    expect(macs(waves)).toEqual([[1], [2]])
  })

  it("with a group field, a room is never split across waves", () => {
    const devices = [device(1, "Küche"), device(2, "Bad"), device(3, "Küche"), device(4, "Bad"), device(5, "Flur"), device(6, "Küche")]
    const waves = planWaves(devices, [25, 100], "room")
    // Ordered Bad(2,4), Flur(5), Küche(1,3,6); 25 % of 6 = 2 devices → the whole Bad group.
    expect(macs(waves)).toEqual([
      [2, 4],
      [5, 1, 3, 6]
    ])
    const cut = planWaves(devices, [50, 100], "room")
    // 3 devices end exactly at a group boundary (after Flur).
    expect(macs(cut)).toEqual([
      [2, 4, 5],
      [1, 3, 6]
    ])
  })
})
