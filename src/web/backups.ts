// A device's backups in the web UI (var/backups/<MAC>/, written by `provision backup`):
// a page listing them, the same as JSON, and downloads. Read-only: restoring
// stays a CLI step (it shows the differences and checks the MAC first).
import type { FileSystem, Path } from "@effect/platform"
import { Effect, Either, Option } from "effect"
import { type BackupEntry, DEFAULT_BACKUP_DIR, listBackups, readBackup } from "../backup/files.js"
import { BadRequest } from "../domain/errors/web.js"
import { type Mac, parseMac } from "../domain/mac.js"
import { escapeHtml as e, layout } from "./html.js"

export interface BackupView {
  readonly name: string
  readonly bytes: number
  readonly taken_at: string | null
  readonly fw: string | null
  readonly scripts: number | null
  readonly webhooks: number | null
  readonly schedules: number | null
}

export const macParam = (text: string): Effect.Effect<Mac, BadRequest> =>
  Either.match(parseMac(text), { onLeft: (reason) => Effect.fail(new BadRequest({ reason })), onRight: Effect.succeed })

/** The device's backups, newest first, each with what it holds (unreadable files show as such). */
export const deviceBackups = (
  mac: Mac,
  dir = DEFAULT_BACKUP_DIR
): Effect.Effect<ReadonlyArray<BackupView>, never, FileSystem.FileSystem | Path.Path> =>
  Effect.flatMap(listBackups(mac, dir), (entries) =>
    Effect.forEach([...entries].reverse(), (entry: BackupEntry) =>
      readBackup(entry.file).pipe(
        Effect.option,
        Effect.map(
          Option.match({
            onNone: (): BackupView => ({
              name: entry.name,
              bytes: entry.bytes,
              taken_at: null,
              fw: null,
              scripts: null,
              webhooks: null,
              schedules: null
            }),
            onSome: (b): BackupView => ({
              name: entry.name,
              bytes: entry.bytes,
              taken_at: b.taken_at,
              fw: b.fw,
              scripts: b.scripts.length,
              webhooks: b.webhooks.length,
              schedules: b.schedules.length
            })
          })
        )
      )
    )
  )

const count = (n: number | null) => (n === null ? "–" : String(n))

export const backupsPage = (mac: Mac, backups: ReadonlyArray<BackupView>, csrf: string): string =>
  layout(
    { title: `Backups ${mac}`, csrf, active: "inventory" },
    `<h1>Backups of ${e(mac)} <small>${e(DEFAULT_BACKUP_DIR)}/${e(mac)}/</small></h1>
<p><a href="/">← Inventory</a></p>
${
  backups.length === 0
    ? `<p id="no-backups">No backups yet. Take one with <code>provision backup --mac ${e(mac)}</code>.</p>`
    : `<table id="backups"><thead><tr><th>Taken</th><th>Firmware</th><th>Scripts</th><th>Webhooks</th><th>Schedules</th><th>Size</th><th>File</th></tr></thead><tbody>
${backups
  .map(
    (
      b
    ) => `<tr><td>${e(b.taken_at ?? "unreadable")}</td><td>${e(b.fw ?? "–")}</td><td>${count(b.scripts)}</td><td>${count(b.webhooks)}</td><td>${count(b.schedules)}</td><td>${b.bytes} B</td>
<td><a href="/devices/${e(mac)}/backups/${encodeURIComponent(b.name)}">${e(b.name)}</a></td></tr>`
  )
  .join("\n")}
</tbody></table>`
}
<p>Restore with <code>provision restore ${e(mac)} [FILE] --dry-run</code> to see the differences first.</p>`
  )
