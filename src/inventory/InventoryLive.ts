import { FileSystem, Path } from "@effect/platform"
import type { Duration } from "effect"
import { Effect, Either, Layer, Schedule } from "effect"
import { InventoryReadError, LockHeld, StateWriteError } from "../domain/errors/inventory.js"
import { emptyInventory, parseInventory, serializeInventory } from "./document.js"
import { Inventory } from "./Inventory.js"
import type { InventoryDocument, InventoryService } from "./Inventory.js"
import { makeLockFiles } from "./lockFile.js"
import { fileTypeName } from "./fileType.js"
import { platformReason, safeWriteFile } from "../runtime/safeWrite.js"

export interface InventoryOptions {
  /** Where the state lock lives (relative paths: to the current directory). Default `var/run`. */
  readonly runDir?: string
  /** How long `update` waits for another process's state lock before LockHeld. Default 3 s. */
  readonly lockWait?: Duration.DurationInput
}

/** `data/ip_state.json` → `<runDir>/ip_state.lock` */
export const stateLockPath = (path: Path.Path, runDir: string, statePath: string): string =>
  path.join(runDir, `${path.basename(statePath, path.extname(statePath))}.lock`)

export const makeInventory = (options: InventoryOptions = {}): Effect.Effect<InventoryService, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const locks = yield* makeLockFiles
    const context = yield* Effect.context<FileSystem.FileSystem | Path.Path>()
    const runDir = options.runDir ?? "var/run"
    const lockWait = options.lockWait ?? "3 seconds"

    // A device, FIFO or directory as the state file is refused before reading
    // (/dev/zero would be read until memory runs out, a FIFO blocks forever).
    const regularFile = (file: string) =>
      fs.stat(file).pipe(
        Effect.flatMap((info) =>
          info.type === "File"
            ? Effect.void
            : Effect.fail(
                new InventoryReadError({
                  path: file,
                  reason: `not a regular file (${fileTypeName(info.type)}); point ip_state_file at a JSON file`
                })
              )
        ),
        Effect.catchIf(
          (e) => e._tag === "SystemError",
          () => Effect.void
        )
      )

    const load = (file: string): Effect.Effect<InventoryDocument, InventoryReadError> =>
      Effect.zipRight(regularFile(file), fs.readFileString(file)).pipe(
        Effect.map((text) => parseInventory(file, text)),
        Effect.catchIf(
          (e) => e._tag === "SystemError" && e.reason === "NotFound",
          () => Effect.succeed(Either.right(emptyInventory(file)))
        ),
        Effect.mapError((e) => (e._tag === "InventoryReadError" ? e : new InventoryReadError({ path: file, reason: platformReason(e) }))),
        Effect.flatMap((parsed) => parsed)
      )

    const withStateLock = <A, E>(file: string, body: Effect.Effect<A, E>) => {
      const lockPath = stateLockPath(path, runDir, file)
      const takeOnce = locks.tryAcquire(lockPath, `inventory update ${file}`).pipe(
        Effect.mapError((e) => new StateWriteError({ path: file, reason: e.message })),
        Effect.flatMap((outcome) =>
          outcome._tag === "Acquired" ? Effect.succeed(outcome.token) : Effect.fail(new LockHeld({ lockPath, ...outcome.holder }))
        )
      )
      return Effect.acquireUseRelease(
        takeOnce.pipe(
          Effect.retry({
            while: (e) => e._tag === "LockHeld",
            schedule: Schedule.spaced("50 millis").pipe(Schedule.upTo(lockWait))
          })
        ),
        () => body,
        (token) => locks.release(lockPath, token)
      )
    }

    const update: InventoryService["update"] = (file, change) =>
      withStateLock(
        file,
        Effect.gen(function* () {
          const current = yield* load(file)
          const next = change(current)
          const text = serializeInventory(next)
          if (text !== serializeInventory(current)) {
            yield* safeWriteFile(file, text).pipe(Effect.provide(context))
          }
          return next
        })
      )

    return { load, update }
  })

export const inventoryLayer = (options: InventoryOptions = {}): Layer.Layer<Inventory, never, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(Inventory, makeInventory(options))

/** State lock in `var/run/` under the current directory (the project root). */
export const InventoryLive = inventoryLayer()
