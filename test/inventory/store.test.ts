// The Live store on real files in temp directories.
import { FileSystem, Path } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { spawnSync } from "node:child_process"
import { hostname } from "node:os"
import { parseMac } from "../../src/domain/mac.js"
import { Inventory, inventoryLayer, setDeviceFields } from "../../src/inventory/index.js"

const mac = (s: string) => Either.getOrThrow(parseMac(s))

/** A temp project dir with data/ and var/run/, the store's lock under it. */
const project = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const root = yield* fs.makeTempDirectoryScoped({ prefix: "inv-" })
  yield* fs.makeDirectory(path.join(root, "data"))
  const state = path.join(root, "data", "ip_state.json")
  const runDir = path.join(root, "var", "run")
  const inventory = yield* Effect.provide(Inventory, inventoryLayer({ runDir, lockWait: "150 millis" }))
  return { fs, path, root, state, runDir, inventory }
})

const wrapped = `{
  "version": 1,
  "devices": {
    "a1:b2:c3:d4:e5:f6": {
      "ip": "192.0.2.35",
      "zeta": 1,
      "friendly_name": "Wohnzimmer"
    }
  },
  "extra": "kept"
}
`

const flat = `{
  "AABBCCDDEEFF": {
    "ip": "192.0.2.9",
    "custom": {
      "b": 1,
      "a": 2
    }
  }
}
`

const layer = NodeContext.layer

describe("Inventory (Live, real files)", () => {
  it.scopedLive("a missing file loads as an empty flat document", () =>
    Effect.gen(function* () {
      const { inventory, state } = yield* project
      const doc = yield* inventory.load(state)
      expect(doc).toEqual({ path: state, format: "flat", envelope: {}, devices: [] })
    }).pipe(Effect.provide(layer))
  )

  it.scopedLive("update with no change leaves both layouts byte-identical and writes nothing", () =>
    Effect.gen(function* () {
      const { fs, inventory, state } = yield* project
      for (const text of [wrapped, flat]) {
        yield* fs.writeFileString(state, text)
        yield* fs.remove(`${state}.bak`).pipe(Effect.ignore)
        yield* inventory.update(state, (doc) => doc)
        expect(yield* fs.readFileString(state)).toBe(text)
        expect(yield* fs.exists(`${state}.bak`)).toBe(false)
      }
    }).pipe(Effect.provide(layer))
  )

  it.scopedLive("update writes the layout it read, keeps unknown fields/order, and keeps a .bak of the previous file", () =>
    Effect.gen(function* () {
      const { fs, inventory, runDir, state } = yield* project
      yield* fs.writeFileString(state, wrapped)
      const next = yield* inventory.update(state, (doc) =>
        setDeviceFields(doc, mac("A1B2C3D4E5F6"), { stage3: { ota_status: "up_to_date" } })
      )
      const text = yield* fs.readFileString(state)
      expect(text).toBe(`{
  "version": 1,
  "devices": {
    "a1:b2:c3:d4:e5:f6": {
      "ip": "192.0.2.35",
      "zeta": 1,
      "friendly_name": "Wohnzimmer",
      "stage3": {
        "ota_status": "up_to_date"
      }
    }
  },
  "extra": "kept"
}
`)
      expect(next.format).toBe("wrapped")
      expect(yield* fs.readFileString(`${state}.bak`)).toBe(wrapped)
      expect(yield* fs.exists(`${state}.tmp`)).toBe(false)
      // The state lock is released afterwards.
      expect(yield* fs.readDirectory(runDir)).toEqual([])
    }).pipe(Effect.provide(layer))
  )

  it.scopedLive("update reloads the file: a change made by someone else in between is not lost", () =>
    Effect.gen(function* () {
      const { fs, inventory, state } = yield* project
      yield* fs.writeFileString(state, flat)
      const stale = yield* inventory.load(state)
      yield* fs.writeFileString(state, flat.replace('"a": 2', '"a": 3'))
      yield* inventory.update(state, (doc) => setDeviceFields(doc, mac("AABBCCDDEEFF"), { fw: "1.5" }))
      const out = JSON.parse(yield* fs.readFileString(state))
      expect(out.AABBCCDDEEFF.custom.a).toBe(3)
      expect(out.AABBCCDDEEFF.fw).toBe("1.5")
      expect(stale.devices[0]!.record["fw"]).toBeUndefined()
    }).pipe(Effect.provide(layer))
  )

  it.scopedLive("invalid JSON: load and update fail with line/column and the file is never overwritten", () =>
    Effect.gen(function* () {
      const { fs, inventory, state } = yield* project
      const broken = '{\n  "AABBCCDDEEFF": {\n    "ip": "192.0.2.9"\n  }\n  "x": 1\n}\n'
      yield* fs.writeFileString(state, broken)
      const error = yield* Effect.flip(inventory.update(state, (doc) => setDeviceFields(doc, mac("AABBCCDDEEFF"), { a: 1 })))
      expect(error._tag).toBe("InventoryReadError")
      expect(error.message).toMatch(/^cannot read state file .*ip_state\.json at line 5, column 3: invalid JSON/)
      expect(yield* fs.readFileString(state)).toBe(broken)
      expect(yield* fs.exists(`${state}.bak`)).toBe(false)
      const loadError = yield* Effect.flip(inventory.load(state))
      expect(loadError._tag === "InventoryReadError" && loadError.line).toBe(5)
    }).pipe(Effect.provide(layer))
  )

  it.scopedLive("a failed write reports `cannot write state file <path>: <reason>` and leaves the previous file intact", () =>
    Effect.gen(function* () {
      const { fs, inventory, state } = yield* project
      yield* fs.writeFileString(state, flat)
      // Root ignores permission bits, so block the .tmp path with a directory instead.
      yield* fs.makeDirectory(`${state}.tmp`)
      const error = yield* Effect.flip(inventory.update(state, (doc) => setDeviceFields(doc, mac("AABBCCDDEEFF"), { a: 1 })))
      expect(error._tag).toBe("StateWriteError")
      expect(error.message).toContain(`cannot write state file ${state}: cannot write ${state}.tmp: EISDIR`)
      expect(yield* fs.readFileString(state)).toBe(flat)
      // The .bak is a full copy of the previous file (what a manual recovery would restore).
      expect(yield* fs.readFileString(`${state}.bak`)).toBe(flat)
    }).pipe(Effect.provide(layer))
  )

  it.scopedLive("a state path under a regular file fails cleanly", () =>
    Effect.gen(function* () {
      const { fs, inventory, path, root } = yield* project
      yield* fs.writeFileString(path.join(root, "plain"), "x")
      const bad = path.join(root, "plain", "ip_state.json")
      const error = yield* Effect.flip(inventory.update(bad, (doc) => setDeviceFields(doc, mac("AABBCCDDEEFF"), {})))
      expect(error.message).toContain(`ip_state.json: ENOTDIR`)
      expect(yield* fs.readFileString(path.join(root, "plain"))).toBe("x")
    }).pipe(Effect.provide(layer))
  )

  it.scopedLive("keeps the file mode of the previous file", () =>
    Effect.gen(function* () {
      const { fs, inventory, state } = yield* project
      yield* fs.writeFileString(state, flat)
      yield* fs.chmod(state, 0o600)
      yield* inventory.update(state, (doc) => setDeviceFields(doc, mac("AABBCCDDEEFF"), { fw: "2" }))
      expect((yield* fs.stat(state)).mode & 0o777).toBe(0o600)
    }).pipe(Effect.provide(layer))
  )

  it.scopedLive("a state lock held by a live process: update waits briefly, then LockHeld naming the holder", () =>
    Effect.gen(function* () {
      const { fs, inventory, path, runDir, state } = yield* project
      yield* fs.writeFileString(state, flat)
      yield* fs.makeDirectory(runDir, { recursive: true })
      // PID 1 is alive in any container; it stands in for another live run.
      const since = "2025-01-01T00:00:00.000Z"
      yield* fs.writeFileString(path.join(runDir, "ip_state.lock"), JSON.stringify({ pid: 1, command: "stage2", since, host: hostname() }))
      const error = yield* Effect.flip(inventory.update(state, (doc) => setDeviceFields(doc, mac("AABBCCDDEEFF"), { a: 1 })))
      expect(error._tag).toBe("LockHeld")
      expect(error.message).toContain("PID 1")
      expect(error.message).toContain("(stage2), since 2025-01-01T00:00:00.000Z")
      expect(yield* fs.readFileString(state)).toBe(flat)
    }).pipe(Effect.provide(layer))
  )

  it.scopedLive("a state lock left by a dead process is taken over", () =>
    Effect.gen(function* () {
      const { fs, inventory, path, runDir, state } = yield* project
      const deadPid = spawnSync("true").pid!
      yield* fs.makeDirectory(runDir, { recursive: true })
      yield* fs.writeFileString(
        path.join(runDir, "ip_state.lock"),
        JSON.stringify({ pid: deadPid, command: "stage3", since: new Date().toISOString(), host: hostname() })
      )
      yield* inventory.update(state, (doc) => setDeviceFields(doc, mac("AABBCCDDEEFF"), {}))
      yield* inventory.update(state, (doc) => ({
        ...doc,
        devices: [{ key: "AABBCCDDEEFF", mac: mac("AABBCCDDEEFF"), record: { ip: "192.0.2.1" } }]
      }))
      expect(JSON.parse(yield* fs.readFileString(state))).toEqual({ AABBCCDDEEFF: { ip: "192.0.2.1" } })
      expect(yield* fs.exists(path.join(runDir, "ip_state.lock"))).toBe(false)
    }).pipe(Effect.provide(layer))
  )

  it.scopedLive("concurrent updates in one process serialise: no increment is lost", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const { runDir, state } = yield* project
      const inventory = yield* Effect.provide(Inventory, inventoryLayer({ runDir, lockWait: "20 seconds" }))
      yield* fs.writeFileString(state, '{"AABBCCDDEEFF": {"n": 0}}')
      yield* Effect.forEach(
        Array.from({ length: 10 }, (_, i) => i),
        () => inventory.update(state, (doc) => setDeviceFields(doc, mac("AABBCCDDEEFF"), { n: Number(doc.devices[0]!.record["n"]) + 1 })),
        { concurrency: "unbounded" }
      )
      expect(JSON.parse(yield* fs.readFileString(state)).AABBCCDDEEFF.n).toBe(10)
    }).pipe(Effect.provide(layer))
  )
})
