// ProjectLock on real files, with real child processes as the other runs.
import { FileSystem, Path } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import { spawnSync } from "node:child_process"
import { hostname } from "node:os"
import { ProjectLock, projectLockLayer } from "../../src/inventory/index.js"
import { cleanBundles, killAndWait, spawnScript, waitForLine } from "./children.js"

const setup = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const root = yield* fs.makeTempDirectoryScoped({ prefix: "lock-" })
  const runDir = path.join(root, "var", "run")
  const lock = yield* Effect.provide(ProjectLock, projectLockLayer({ runDir }))
  return { fs, path, runDir, lockPath: path.join(runDir, "provision.lock"), lock }
})

/** Runs a child for the duration of the scope; killed by PID when the scope closes. */
const child = (script: string, args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() => spawnScript(script, args)),
    (c) => Effect.promise(() => killAndWait(c))
  )

describe("ProjectLock (Live)", () => {
  afterAll(cleanBundles)

  it.scopedLive("acquire writes {pid, command, since, host}; holder shows it; closing the scope releases", () =>
    Effect.gen(function* () {
      const { fs, lock, lockPath } = yield* setup
      const scope = yield* Scope.make()
      yield* Scope.extend(lock.acquire("stage1 --loop"), scope)
      const content = JSON.parse(yield* fs.readFileString(lockPath))
      expect(content).toMatchObject({ pid: process.pid, command: "stage1 --loop", host: hostname() })
      expect(Number.isNaN(Date.parse(content.since))).toBe(false)
      expect(yield* lock.holder).toEqual({ pid: process.pid, command: "stage1 --loop", since: content.since, host: hostname() })
      yield* Scope.close(scope, Exit.void)
      expect(yield* fs.exists(lockPath)).toBe(false)
      expect(yield* lock.holder).toBeUndefined()
      // No temp files are left in var/run/.
      expect(yield* fs.readDirectory(yield* Effect.map(Path.Path, (p) => p.dirname(lockPath)))).toEqual([])
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive("a second acquire while held (same process) fails with LockHeld; interrupting the holder releases", () =>
    Effect.gen(function* () {
      const { fs, lock, lockPath } = yield* setup
      const holder = yield* Effect.scoped(lock.acquire("stage1").pipe(Effect.zipRight(Effect.never))).pipe(Effect.fork)
      yield* Effect.repeat(fs.exists(lockPath), { until: (exists) => exists })
      const error = yield* Effect.flip(Effect.scoped(lock.acquire("stage2")))
      expect(error._tag).toBe("LockHeld")
      expect(error.message).toContain(`PID ${process.pid}`)
      expect(error.message).toContain("(stage1)")
      yield* Fiber.interrupt(holder)
      expect(yield* fs.exists(lockPath)).toBe(false)
      yield* Effect.scoped(lock.acquire("stage2"))
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive("held by another live process → LockHeld naming its PID, command and since; after SIGKILL it is taken over", () =>
    Effect.gen(function* () {
      const { fs, lock, lockPath, runDir } = yield* setup
      const other = yield* child("lockHolder.ts", [runDir, "stage1 --loop"])
      const line = yield* Effect.promise(() => waitForLine(other, /^(locked|failed)/, 45_000))
      expect(line).toBe(`locked ${other.pid}`)
      const held = JSON.parse(yield* fs.readFileString(lockPath))

      const error = yield* Effect.flip(Effect.scoped(lock.acquire("stage3")))
      expect(error._tag).toBe("LockHeld")
      expect(error.message).toContain(`PID ${other.pid}`)
      expect(error.message).toContain("(stage1 --loop)")
      expect(error.message).toContain(`since ${held.since}`)
      expect(error.hint).toContain(`kill ${other.pid}`)
      expect((yield* lock.holder)?.pid).toBe(other.pid)

      yield* Effect.promise(() => killAndWait(other, "SIGKILL"))
      // The dead process's lock is still on disk, but it no longer counts.
      expect(JSON.parse(yield* fs.readFileString(lockPath)).pid).toBe(other.pid)
      expect(yield* lock.holder).toBeUndefined()
      yield* Effect.scoped(
        lock.acquire("stage3").pipe(
          Effect.zipRight(fs.readFileString(lockPath)),
          Effect.map((text) => expect(JSON.parse(text)).toMatchObject({ pid: process.pid, command: "stage3" }))
        )
      )
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive("processes racing for a stale lock: exactly one wins, the others name the winner", () =>
    Effect.gen(function* () {
      const { fs, lockPath, path, runDir } = yield* setup
      const deadPid = spawnSync("true").pid!
      yield* fs.makeDirectory(runDir, { recursive: true })
      yield* fs.writeFileString(lockPath, JSON.stringify({ pid: deadPid, command: "old", since: "2025-01-01T00:00:00Z", host: hostname() }))
      const go = path.join(runDir, "..", "go")
      const racers = yield* Effect.forEach([1, 2, 3], (i) => child("lockHolder.ts", [runDir, `racer ${i}`, go]))
      // All started and waiting: release them together so they really contend.
      yield* Effect.promise(() => Promise.all(racers.map((r) => waitForLine(r, /^ready/, 45_000))))
      yield* fs.writeFileString(go, "")
      const lines = yield* Effect.promise(() => Promise.all(racers.map((r) => waitForLine(r, /^(locked|failed)/))))
      const winners = lines.filter((l) => l.startsWith("locked"))
      expect(winners).toHaveLength(1)
      const winnerPid = Number(winners[0]!.split(" ")[1])
      for (const line of lines.filter((l) => l.startsWith("failed"))) {
        expect(line).toContain(`PID ${winnerPid}`)
      }
      expect(JSON.parse(yield* fs.readFileString(lockPath)).pid).toBe(winnerPid)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive("an unusable var/run gives LockFailed, not a crash", () =>
    Effect.gen(function* () {
      const { fs, path, runDir } = yield* setup
      yield* fs.makeDirectory(path.dirname(runDir), { recursive: true })
      yield* fs.writeFileString(runDir, "not a directory")
      const lock = yield* Effect.provide(ProjectLock, projectLockLayer({ runDir }))
      const error = yield* Effect.flip(Effect.scoped(lock.acquire("stage1")))
      expect(error._tag).toBe("LockFailed")
      expect(error.message).toContain("provision.lock")
    }).pipe(Effect.provide(NodeContext.layer))
  )
})
