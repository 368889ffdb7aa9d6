/**
 * The heap budget against the real V8 heap: over budget → full collections
 * (and the heap comes down); a generous budget → none; a budget smaller than
 * what stays live grows instead of collecting in a loop.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { keepHeapWithin } from "../../src/runtime/heapBudget.js"

const MB = 1024 * 1024

/** Makes ~`mb` MB of short-lived garbage in small steps, yielding so the watcher can run. */
const churn = (mb: number) =>
  Effect.gen(function* () {
    for (let round = 0; round < mb; round++) {
      const junk: Array<{ readonly text: string }> = []
      for (let i = 0; i < 4096; i++) junk.push({ text: `${round}-${i}-${"x".repeat(200)}` })
      if (junk.length !== 4096) yield* Effect.die("unreachable")
      yield* Effect.sleep("2 millis")
    }
  })

describe("keepHeapWithin", () => {
  it.live("collects when the heap is over budget, and the heap comes down", () =>
    Effect.gen(function* () {
      const stats = yield* keepHeapWithin({ budgetMb: 1, interval: "20 millis" })
      yield* churn(60)
      yield* Effect.sleep("60 millis")
      const { collections, budgetMb } = stats()
      expect(collections).toBeGreaterThan(0)
      // 1 MB is less than any live heap, so it has grown to twice what stayed live.
      expect(budgetMb).toBeGreaterThan(1)
      expect(process.memoryUsage().heapUsed).toBeLessThan(budgetMb * MB * 4)
    }).pipe(Effect.scoped)
  )

  it.live("a generous budget never collects; 0 turns it off", () =>
    Effect.gen(function* () {
      const generous = yield* keepHeapWithin({ budgetMb: 100_000, interval: "20 millis" })
      const off = yield* keepHeapWithin({ budgetMb: 0, interval: "20 millis" })
      yield* churn(20)
      expect(generous().collections).toBe(0)
      expect(off().collections).toBe(0)
    }).pipe(Effect.scoped)
  )

  it.live("a live heap above the budget makes the budget grow, not collect in a loop", () =>
    Effect.gen(function* () {
      const kept: Array<string> = []
      for (let i = 0; i < 20_000; i++) kept.push(`${i}-${"y".repeat(500)}`)
      const stats = yield* keepHeapWithin({ budgetMb: 2, interval: "10 millis" })
      yield* Effect.sleep("300 millis")
      // ~30 checks: after the first collection the budget is above the live heap.
      expect(stats().collections).toBeLessThanOrEqual(2)
      expect(stats().budgetMb).toBeGreaterThan(10)
      expect(kept.length).toBe(20_000)
    }).pipe(Effect.scoped)
  )
})
