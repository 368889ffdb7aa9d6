// Leftovers of killed runs and failing disks (issue 13): a takeover file of a
// dead taker is cleared at once (not after 10 s of failed runs), old lock
// temp files do not pile up in var/run, a failed directory fsync after the
// rename does not claim the previous file is intact, EDQUOT reads as words.
// The disk faults are injected into the real node FileSystem at `open`
// (no file system here runs out of quota on demand).
import { FileSystem, Path } from "@effect/platform"
import { SystemError } from "@effect/platform/Error"
import { NodeContext, NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { utimesSync } from "node:fs"
import { hostname } from "node:os"
import { ProjectLock, projectLockLayer } from "../../src/inventory/index.js"
import { safeWriteFile } from "../../src/runtime/safeWrite.js"

/** The PID of a process that has exited. */
const deadPid = () => spawnSync(process.execPath, ["-e", ""]).pid!

const setup = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const root = yield* fs.makeTempDirectoryScoped({ prefix: "leftover-" })
  const runDir = path.join(root, "var", "run")
  yield* fs.makeDirectory(runDir, { recursive: true })
  const lock = yield* Effect.provide(ProjectLock, projectLockLayer({ runDir }))
  return { fs, path, root, runDir, lockPath: path.join(runDir, "provision.lock"), lock }
})

const staleLock = (pid: number) => JSON.stringify({ pid, command: "stage3", since: new Date().toISOString(), host: hostname() }) + "\n"

describe("lock leftovers", () => {
  for (const [format, takeover] of [
    ["JSON", (pid: number) => JSON.stringify({ pid, command: "lock takeover", since: new Date().toISOString(), host: hostname() }) + "\n"],
    ["bare PID", (pid: number) => `${pid}\n`]
  ] as const) {
    it.scopedLive(`a takeover file (${format}) of a dead taker is cleared like a stale lock; the next run gets the lock`, () =>
      Effect.gen(function* () {
        const { fs, lock, lockPath } = yield* setup
        yield* fs.writeFileString(lockPath, staleLock(deadPid()))
        yield* fs.writeFileString(`${lockPath}.takeover`, takeover(deadPid()))
        yield* lock.acquire("stage3")
        expect(JSON.parse(yield* fs.readFileString(lockPath))).toMatchObject({ pid: process.pid, command: "stage3" })
        expect(yield* fs.exists(`${lockPath}.takeover`)).toBe(false)
      }).pipe(Effect.provide(NodeContext.layer))
    )
  }

  it.scopedLive("lock temp files left by killed runs are swept; var/run ends empty", () =>
    Effect.gen(function* () {
      const { fs, lock, path, runDir } = yield* setup
      const old = new Date(Date.now() - 5 * 60_000)
      for (let i = 0; i < 3; i++) {
        const file = path.join(runDir, `provision.lock.${deadPid()}.${randomUUID()}.tmp`)
        yield* fs.writeFileString(file, "{}\n")
        utimesSync(file, old, old)
      }
      yield* Effect.scoped(lock.acquire("stage3"))
      expect(yield* fs.readDirectory(runDir)).toEqual([])
    }).pipe(Effect.provide(NodeContext.layer))
  )
})

/** The node FileSystem with `open` failing for paths `fault` picks. */
const faultyFs = (fault: (path: string) => string | undefined) =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.map(
      FileSystem.FileSystem,
      (fs): FileSystem.FileSystem => ({
        ...fs,
        open: (path, options) => {
          const description = fault(path)
          return description === undefined
            ? fs.open(path, options)
            : Effect.fail(new SystemError({ reason: "Unknown", module: "FileSystem", method: "open", description, pathOrDescriptor: path }))
        }
      })
    )
  ).pipe(Layer.provide(NodeFileSystem.layer))

describe("safe write on a failing disk", () => {
  it.scoped("a failed directory fsync after the rename says the new content is in place, not 'previous file intact'", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const root = yield* fs.makeTempDirectoryScoped({ prefix: "safewrite-" })
      const target = path.join(root, "ip_state.json")
      yield* fs.writeFileString(target, "old\n")
      const error = yield* Effect.flip(
        safeWriteFile(target, "new\n").pipe(Effect.provide(faultyFs((p) => (p === root ? "EIO: i/o error, open" : undefined))))
      )
      expect(error._tag).toBe("StateWriteError")
      expect(error.replaced).toBe(true)
      expect(error.hint).not.toContain("previous file is intact")
      expect(error.hint).toContain("already holds the new content")
      expect(yield* fs.readFileString(target)).toBe("new\n")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("EDQUOT while writing the temp file reads as a disk quota problem; the old file stays", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const root = yield* fs.makeTempDirectoryScoped({ prefix: "safewrite-" })
      const target = path.join(root, "ip_state.json")
      yield* fs.writeFileString(target, "old\n")
      const error = yield* Effect.flip(
        safeWriteFile(target, "new\n").pipe(
          Effect.provide(faultyFs((p) => (p.endsWith(".tmp") ? "EDQUOT: unknown error, open" : undefined)))
        )
      )
      expect(error.message).toContain("disk quota exceeded (EDQUOT)")
      expect(error.replaced).not.toBe(true)
      expect(error.hint).toContain("previous file is intact")
      expect(yield* fs.readFileString(target)).toBe("old\n")
    }).pipe(Effect.provide(NodeContext.layer))
  )
})
