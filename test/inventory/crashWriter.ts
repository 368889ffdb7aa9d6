// Child process of the crash test: bumps the inventory through the real store
// in a loop, printing each confirmed counter, until killed (bounded anyway).
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { Effect, Layer, Schedule } from "effect"
import { existsSync } from "node:fs"
import { Inventory, inventoryLayer } from "../../src/inventory/index.js"
import { bump, counterOf } from "./crashFleet.js"

const [statePath, runDir, goFile] = process.argv.slice(2)

const program = Effect.gen(function* () {
  const inventory = yield* Inventory
  // Started ahead of time by the test; begins writing when told to.
  process.stdout.write("ready\n")
  yield* Effect.sync(() => existsSync(goFile!)).pipe(
    Effect.repeat({ until: (go) => go, schedule: Schedule.spaced("2 millis").pipe(Schedule.upTo("60 seconds")) })
  )
  for (let i = 0; i < 5_000; i++) {
    const doc = yield* inventory.update(statePath!, bump)
    process.stdout.write(`wrote ${counterOf(doc)}\n`)
  }
}).pipe(
  Effect.provide(inventoryLayer({ runDir: runDir!, lockWait: "10 seconds" })),
  Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
)

void Effect.runPromise(program)
