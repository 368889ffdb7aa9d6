// The firmware cache on real files in a temp directory; version ordering.
import { FileSystem, Path } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { addFirmware, findFirmware, isCacheFileName, loadFirmwareIndex } from "../../src/firmware/cache.js"
import { compareVersions } from "../../src/firmware/version.js"

const setup = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const root = yield* fs.makeTempDirectoryScoped({ prefix: "fw-" })
  const image = path.join(root, "S2PMG3-1.7.5.zip")
  const bytes = new TextEncoder().encode("firmware image 1.7.5 for S2PMG3")
  yield* fs.writeFile(image, bytes)
  return { fs, path, root, image, bytes, dir: path.join(root, "var", "firmware") }
})

describe("firmware cache", () => {
  it.scoped("stores the file under its sha256 and records model, version, sha256", () =>
    Effect.gen(function* () {
      const { fs, path, image, bytes, dir } = yield* setup
      const { entry, added } = yield* addFirmware({ file: image, model: "S2PMG3", version: "1.7.5", dir, now: "2026-01-01T00:00:00Z" })
      const sha = createHash("sha256").update(bytes).digest("hex")
      expect(added).toBe(true)
      expect(entry).toMatchObject({ model: "S2PMG3", version: "1.7.5", sha256: sha, size: bytes.length, file: `${sha}.zip` })
      expect(isCacheFileName(entry.file)).toBe(true)
      expect(Buffer.from(yield* fs.readFile(path.join(dir, entry.file))).equals(Buffer.from(bytes))).toBe(true)
      const index = yield* loadFirmwareIndex(dir)
      expect(index).toEqual([entry])
      // Found by app or model code, exact version only.
      expect(findFirmware(index, { app: "s2pmg3", model: "S3SW-002P16EU" }, "1.7.5")).toEqual(entry)
      expect(findFirmware(index, { app: "S2PMG3", model: "S3SW-002P16EU" }, "1.7.4")).toBeUndefined()
      // Same file again: no change.
      expect((yield* addFirmware({ file: image, model: "S2PMG3", version: "1.7.5", dir, now: "x" })).added).toBe(false)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("refuses other content for a cached model/version and leaves the cache intact", () =>
    Effect.gen(function* () {
      const { fs, path, root, image, dir } = yield* setup
      yield* addFirmware({ file: image, model: "S2PMG3", version: "1.7.5", dir, now: "t" })
      const before = yield* fs.readFileString(path.join(dir, "index.json"))
      const other = path.join(root, "other.zip")
      yield* fs.writeFileString(other, "another image")
      const error = yield* Effect.flip(addFirmware({ file: other, model: "s2pmg3", version: "1.7.5", dir, now: "t" }))
      expect(error._tag).toBe("FirmwareAddFailed")
      expect(error.message).toContain("already cached with other content")
      const bad = yield* Effect.flip(addFirmware({ file: other, model: "S2PMG3", version: "latest", dir, now: "t" }))
      expect(bad.message).toContain('version "latest"')
      expect(yield* fs.readFileString(path.join(dir, "index.json"))).toBe(before)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("the image goes in by the safe write: a .tmp left by a killed run is replaced (mode 0644), none stays behind", () =>
    Effect.gen(function* () {
      const { fs, path, image, bytes, dir } = yield* setup
      const sha = createHash("sha256").update(bytes).digest("hex")
      const target = path.join(dir, `${sha}.zip`)
      yield* fs.makeDirectory(dir, { recursive: true })
      yield* fs.writeFileString(`${target}.tmp`, "half an image from a killed run", { mode: 0o600 })
      yield* addFirmware({ file: image, model: "S2PMG3", version: "1.7.5", dir, now: "t" })
      expect(Buffer.from(yield* fs.readFile(target)).equals(Buffer.from(bytes))).toBe(true)
      expect((yield* fs.stat(target)).mode & 0o777).toBe(0o644)
      expect(yield* fs.exists(`${target}.tmp`)).toBe(false)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("an image that cannot be stored is FirmwareAddFailed naming the file; the index stays without it", () =>
    Effect.gen(function* () {
      const { fs, path, image, bytes, dir } = yield* setup
      const sha = createHash("sha256").update(bytes).digest("hex")
      // A directory where the .tmp has to go: the write cannot even start.
      yield* fs.makeDirectory(path.join(dir, `${sha}.zip.tmp`), { recursive: true })
      const error = yield* Effect.flip(addFirmware({ file: image, model: "S2PMG3", version: "1.7.5", dir, now: "t" }))
      expect(error._tag).toBe("FirmwareAddFailed")
      expect(error.message).toContain(`cannot store ${path.join(dir, `${sha}.zip`)}`)
      expect(yield* fs.exists(path.join(dir, `${sha}.zip`))).toBe(false)
      expect(yield* loadFirmwareIndex(dir)).toEqual([])
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("a damaged index is an error naming the file, not an empty cache", () =>
    Effect.gen(function* () {
      const { fs, path, dir } = yield* setup
      yield* fs.makeDirectory(dir, { recursive: true })
      yield* fs.writeFileString(path.join(dir, "index.json"), "{ nope")
      const error = yield* Effect.flip(loadFirmwareIndex(dir))
      expect(error._tag).toBe("FirmwareCacheInvalid")
      expect(error.message).toContain("index.json")
    }).pipe(Effect.provide(NodeContext.layer))
  )
})

describe("compareVersions", () => {
  it("orders releases, pre-releases and unknown forms", () => {
    expect(compareVersions("1.7.5", "1.6.2")).toBe(1)
    expect(compareVersions("1.6.2", "1.7.5")).toBe(-1)
    expect(compareVersions("1.7.5", "1.7.5")).toBe(0)
    expect(compareVersions("1.8.0-beta1", "1.8.0")).toBe(-1)
    expect(compareVersions("1.8.0-beta10", "1.8.0-beta9")).toBe(1)
    expect(compareVersions("1.10.0", "1.9.9")).toBe(1)
    expect(compareVersions("latest", "1.0.0")).toBeUndefined()
  })
})
