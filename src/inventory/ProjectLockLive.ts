import { FileSystem, Path } from "@effect/platform"
import { Effect, Layer, Option } from "effect"
import { LockHeld } from "../domain/errors/inventory.js"
import { ProjectLock } from "./Inventory.js"
import type { ProjectLockService } from "./Inventory.js"
import { makeLockFiles } from "./lockFile.js"

export interface ProjectLockOptions {
  /** Default `var/run` (relative to the current directory = project root). */
  readonly runDir?: string
}

export const makeProjectLock = (
  options: ProjectLockOptions = {}
): Effect.Effect<ProjectLockService, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const path = yield* Path.Path
    const locks = yield* makeLockFiles
    const lockPath = path.join(options.runDir ?? "var/run", "provision.lock")

    const acquire: ProjectLockService["acquire"] = (command) =>
      Effect.acquireRelease(
        locks
          .tryAcquire(lockPath, command)
          .pipe(
            Effect.flatMap((outcome) =>
              outcome._tag === "Acquired" ? Effect.succeed(outcome.token) : Effect.fail(new LockHeld({ lockPath, ...outcome.holder }))
            )
          ),
        (token) => locks.release(lockPath, token)
      ).pipe(Effect.asVoid)

    const holder: ProjectLockService["holder"] = locks
      .read(lockPath)
      .pipe(
        Effect.map(Option.filter((h) => h.alive)),
        Effect.map(Option.map(({ alive: _alive, ...rest }) => rest)),
        Effect.map(Option.getOrUndefined)
      )

    return { acquire, holder }
  })

export const projectLockLayer = (options: ProjectLockOptions = {}): Layer.Layer<ProjectLock, never, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(ProjectLock, makeProjectLock(options))

export const ProjectLockLive = projectLockLayer()
