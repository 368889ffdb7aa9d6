// ip_state.json files that must be refused at load with a clear error and
// left untouched (issue 13): duplicate MAC keys, deep nesting, a device or
// FIFO in place of the file, UTF-16.
import { FileSystem, Path } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { Inventory, inventoryLayer } from "../../src/inventory/index.js"

const project = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const root = yield* fs.makeTempDirectoryScoped({ prefix: "inv13-" })
  const state = path.join(root, "ip_state.json")
  const inventory = yield* Effect.provide(Inventory, inventoryLayer({ runDir: path.join(root, "run"), lockWait: "150 millis" }))
  return { fs, root, state, inventory }
})

const duplicated = `{
  "AABBCCDDEEFF": { "ip": "192.0.2.9", "friendly_name": "First" },
  "112233445566": { "ip": "192.0.2.10" },
  "AABBCCDDEEFF": { "ip": "192.0.2.11", "friendly_name": "Second" }
}
`

describe("ip_state.json that must be refused", () => {
  it.scoped("duplicate MAC keys: both positions named, the update refused, nothing written", () =>
    Effect.gen(function* () {
      const { fs, inventory, state } = yield* project
      yield* fs.writeFileString(state, duplicated)
      const error = yield* Effect.flip(inventory.update(state, (doc) => doc))
      expect(error._tag).toBe("InventoryReadError")
      expect(error.message).toContain(`key "AABBCCDDEEFF" appears twice: line 2, column 3 and line 4, column 3`)
      expect(error.message).toContain("at line 4, column 3")
      expect(yield* fs.readFileString(state)).toBe(duplicated)
      expect(yield* fs.exists(`${state}.bak`)).toBe(false)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("nesting 100,000 deep fails at load with a clear error (not at the final write)", () =>
    Effect.gen(function* () {
      const { fs, inventory, state } = yield* project
      const deep = `{"AABBCCDDEEFF": {"ip": "192.0.2.9", "x": ${"[".repeat(100_000)}${"]".repeat(100_000)}}}`
      yield* fs.writeFileString(state, deep)
      const error = yield* Effect.flip(inventory.load(state))
      expect(error.message).toContain("nested deeper than 64 levels")
      expect(error.message).toContain("line 1, column")
      const update = yield* Effect.flip(inventory.update(state, (doc) => doc))
      expect(update._tag).toBe("InventoryReadError")
      expect(yield* fs.readFileString(state)).toBe(deep)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("/dev/zero, a FIFO or a directory as the state file is refused at once", () =>
    Effect.gen(function* () {
      const { inventory, root } = yield* project
      expect((yield* Effect.flip(inventory.load("/dev/zero"))).message).toContain("not a regular file (a character device")
      const fifo = `${root}/state.fifo`
      execFileSync("mkfifo", [fifo])
      expect((yield* Effect.flip(inventory.load(fifo))).message).toContain("not a regular file (a named pipe)")
      expect((yield* Effect.flip(inventory.load(root))).message).toContain("not a regular file (a directory)")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("a UTF-16 file gets a hint about the encoding", () =>
    Effect.gen(function* () {
      const { fs, inventory, state } = yield* project
      yield* fs.writeFile(state, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(duplicated, "utf16le")]))
      expect((yield* Effect.flip(inventory.load(state))).message).toContain("looks UTF-16 encoded; save it as UTF-8")
    }).pipe(Effect.provide(NodeContext.layer))
  )
})
