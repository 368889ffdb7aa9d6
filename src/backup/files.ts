/** var/backups/<MAC>/<timestamp>.json: write, list, read. */
import { FileSystem, Path } from "@effect/platform"
import { Effect, Either, Schema } from "effect"
import { BackupInvalid, BackupMissing } from "../domain/errors/credentials.js"
import type { StateWriteError } from "../domain/errors/inventory.js"
import type { Mac } from "../domain/mac.js"
import { safeWriteFile } from "../runtime/safeWrite.js"
import { DeviceBackup } from "./schema.js"

export const DEFAULT_BACKUP_DIR = "var/backups"

export interface BackupEntry {
  /** Path of the file (under the backup dir). */
  readonly file: string
  readonly name: string
  readonly bytes: number
}

/** `2026-12-05T18:24:06.123Z` → `2026-12-05T18-24-06.123Z` (no colons: safe on every file system, sorts by time). */
export const backupFileName = (takenAt: string): string => `${takenAt.replace(/:/g, "-")}.json`

export const writeBackup = (
  backup: DeviceBackup,
  mac: Mac,
  dir: string = DEFAULT_BACKUP_DIR
): Effect.Effect<string, StateWriteError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const folder = path.join(dir, mac)
    yield* fs.makeDirectory(folder, { recursive: true }).pipe(Effect.ignore)
    const file = path.join(folder, backupFileName(backup.taken_at))
    // Backups hold scripts and URLs (tokens in webhook URLs are common): not world-readable.
    yield* safeWriteFile(file, `${JSON.stringify(backup, null, 2)}\n`, { mode: 0o600 })
    return file
  })

/** A device's backups, oldest first; none (or no folder) is an empty list. */
export const listBackups = (
  mac: Mac,
  dir: string = DEFAULT_BACKUP_DIR
): Effect.Effect<ReadonlyArray<BackupEntry>, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const folder = path.join(dir, mac)
    const names = yield* fs.readDirectory(folder).pipe(Effect.orElseSucceed(() => [] as Array<string>))
    const files = names.filter((n) => n.endsWith(".json")).sort()
    return yield* Effect.forEach(files, (name) =>
      fs.stat(path.join(folder, name)).pipe(
        Effect.map((info) => ({ file: path.join(folder, name), name, bytes: Number(info.size) })),
        Effect.orElseSucceed(() => ({ file: path.join(folder, name), name, bytes: 0 }))
      )
    )
  })

const decode = Schema.decodeUnknownEither(Schema.parseJson(DeviceBackup))

export const readBackup = (file: string): Effect.Effect<DeviceBackup, BackupInvalid, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs
      .readFileString(file)
      .pipe(
        Effect.mapError((e) => new BackupInvalid({ file, reason: e._tag === "SystemError" ? `cannot read it (${e.reason})` : e.message }))
      )
    return yield* Either.match(decode(text), {
      onLeft: (error) =>
        Effect.fail(new BackupInvalid({ file, reason: `not a backup of this tool: ${error.message.split("\n").slice(0, 3).join(" ")}` })),
      onRight: Effect.succeed
    })
  })

/** The newest backup of `mac`. */
export const latestBackup = (
  mac: Mac,
  dir: string = DEFAULT_BACKUP_DIR
): Effect.Effect<string, BackupMissing, FileSystem.FileSystem | Path.Path> =>
  Effect.flatMap(listBackups(mac, dir), (all) => {
    const last = all.at(-1)
    return last === undefined ? Effect.fail(new BackupMissing({ mac, dir: `${dir}/${mac}` })) : Effect.succeed(last.file)
  })
