// PID lock files in var/run/. A lock is created complete or not at all
// (written to a private temp file, then hard-linked into place, which fails if
// the name exists), so a reader never sees half a lock. A lock whose process
// is dead is taken over; see `removeStale` for the race between takers.
import { FileSystem, Path } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Data, Effect, Option, Schedule, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { LockFailed } from "../domain/errors/inventory.js"
import { isSystemReason, platformReason } from "../runtime/safeWrite.js"
import type { LockHolder } from "./Inventory.js"

const LockContent = Schema.Struct({
  pid: Schema.Int,
  command: Schema.String,
  since: Schema.String,
  host: Schema.String,
  token: Schema.optional(Schema.String)
})
type LockContent = typeof LockContent.Type

const decodeLock = Schema.decodeUnknownOption(Schema.parseJson(LockContent))

/** The taker named in a takeover file: lock JSON, or a bare PID (the format before) meaning this host. */
const takeoverHolder = (text: string): Option.Option<LockContent> =>
  /^\d+\s*$/.test(text)
    ? Option.some({ pid: Number(text.trim()), command: "lock takeover", since: "", host: hostname() })
    : decodeLock(text)

/** Tokens of the locks this process holds now; a lock with our PID but another token is a leftover. */
const heldHere = new Set<string>()

/** Alive, as far as this host can tell: a lock of another host is never judged dead. */
export const isHolderAlive = (holder: LockContent): boolean => {
  if (holder.host !== hostname()) return true
  if (holder.pid === process.pid) return holder.token === undefined || heldHere.has(holder.token)
  try {
    process.kill(holder.pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const toHolder = (content: LockContent): LockHolder => ({
  pid: content.pid,
  command: content.command,
  since: content.since,
  host: content.host
})

/** Another step changed the lock under us; the attempt is simply repeated. */
class Contended extends Data.TaggedError("Contended")<{}> {}

type Outcome = { readonly _tag: "Acquired"; readonly token: string } | { readonly _tag: "Held"; readonly holder: LockHolder }

export interface LockFiles {
  /** Reads a lock; a missing or unreadable file is None. */
  readonly read: (lockPath: string) => Effect.Effect<Option.Option<LockHolder & { readonly alive: boolean }>>
  /** One attempt to take the lock (taking over a dead holder's lock). Never waits. */
  readonly tryAcquire: (lockPath: string, command: string) => Effect.Effect<Outcome, LockFailed>
  /** Removes the lock if it is still ours. */
  readonly release: (lockPath: string, token: string) => Effect.Effect<void>
}

export const makeLockFiles: Effect.Effect<LockFiles, never, FileSystem.FileSystem | Path.Path> = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path

  const readRaw = (lockPath: string) =>
    fs.readFileString(lockPath).pipe(
      Effect.map(Option.some),
      Effect.catchIf(isSystemReason("NotFound"), () => Effect.succeed(Option.none<string>()))
    )

  const read = (lockPath: string) =>
    readRaw(lockPath).pipe(
      Effect.map(Option.flatMap(decodeLock)),
      Effect.map(Option.map((content) => ({ ...toHolder(content), alive: isHolderAlive(content) }))),
      Effect.orElseSucceed(() => Option.none())
    )

  /**
   * Removes a dead holder's lock. Takers serialise on a second, short-lived
   * lock (`<lock>.takeover`, created with O_EXCL) and re-read the lock under
   * it: only the exact stale content we judged is removed, so a live lock
   * that another taker linked in meanwhile is never deleted. (Renaming the
   * stale lock aside without this mutex loses a live lock when three
   * processes race: measured in test/inventory/projectLock.test.ts.)
   * A takeover lock is held for milliseconds; one left by a taker that was
   * killed is cleared like a stale lock: at once when it names a dead
   * process of this host, else after 10 s.
   */
  /** Removes `file` only while it still holds `expected` (another taker may have replaced it). */
  const removeIfUnchanged = (file: string, expected: Option.Option<string>) =>
    readRaw(file).pipe(
      Effect.flatMap((now) =>
        Option.isSome(now) && Option.isSome(expected) && now.value === expected.value ? fs.remove(file) : Effect.void
      ),
      Effect.ignore
    )

  /**
   * Temp files of attempts whose process was killed (SIGKILL between write
   * and cleanup). An attempt keeps its temp file for well under a second,
   * so one older than a minute is a leftover, whoever made it.
   */
  const sweepTemps = (lockPath: string) =>
    Effect.gen(function* () {
      const dir = path.dirname(lockPath)
      const prefix = `${path.basename(lockPath)}.`
      const names = yield* fs.readDirectory(dir)
      for (const name of names) {
        if (!name.startsWith(prefix) || !name.endsWith(".tmp")) continue
        const file = path.join(dir, name)
        const info = yield* fs.stat(file).pipe(Effect.option)
        if (info._tag === "None") continue
        const age = Date.now() - Option.getOrElse(info.value.mtime, () => new Date()).getTime()
        if (age > 60_000) yield* fs.remove(file).pipe(Effect.ignore)
      }
    }).pipe(Effect.ignore)

  const removeStale = (lockPath: string, staleText: string, fail: (e: PlatformError) => LockFailed) => {
    const mutex = `${lockPath}.takeover`
    const mutexText =
      JSON.stringify({ pid: process.pid, command: "lock takeover", since: new Date().toISOString(), host: hostname() }) + "\n"
    const takeMutex = fs.writeFileString(mutex, mutexText, { flag: "wx" }).pipe(
      Effect.catchIf(isSystemReason("AlreadyExists"), () =>
        Effect.all([fs.stat(mutex), readRaw(mutex)]).pipe(
          Effect.flatMap(([info, text]) => {
            const age = Date.now() - Option.getOrElse(info.mtime, () => new Date()).getTime()
            const holder = Option.flatMap(text, takeoverHolder)
            const dead = Option.isSome(holder) && !isHolderAlive(holder.value)
            return dead || age > 10_000 ? removeIfUnchanged(mutex, text) : Effect.void
          }),
          Effect.ignore,
          Effect.zipRight(Effect.fail(new Contended()))
        )
      ),
      Effect.mapError((error) => (error._tag === "Contended" ? error : fail(error)))
    )
    const removeIfStill = readRaw(lockPath).pipe(
      Effect.mapError(fail),
      Effect.flatMap((current) =>
        Option.isSome(current) && current.value === staleText
          ? fs.remove(lockPath).pipe(
              Effect.catchIf(isSystemReason("NotFound"), () => Effect.void),
              Effect.mapError(fail)
            )
          : Effect.void
      )
    )
    return Effect.acquireUseRelease(
      takeMutex,
      () => removeIfStill,
      () => fs.remove(mutex).pipe(Effect.ignore)
    ).pipe(
      // Either way the caller links again: the lock is free now, or someone else's.
      Effect.zipRight(Effect.fail(new Contended()))
    )
  }

  const tryAcquire = (lockPath: string, command: string): Effect.Effect<Outcome, LockFailed> => {
    const fail = (error: PlatformError) => new LockFailed({ lockPath, reason: platformReason(error) })
    const token = randomUUID()
    const content: LockContent = {
      pid: process.pid,
      command,
      since: new Date().toISOString(),
      host: hostname(),
      token
    }
    const text = JSON.stringify(content) + "\n"
    const temp = `${lockPath}.${process.pid}.${token}.tmp`

    const attempt: Effect.Effect<Outcome, LockFailed | Contended> = fs.link(temp, lockPath).pipe(
      Effect.as<Outcome>({ _tag: "Acquired", token }),
      Effect.catchIf(isSystemReason("AlreadyExists"), () =>
        readRaw(lockPath).pipe(
          Effect.mapError(fail),
          Effect.flatMap(
            Option.match({
              // Released between our link and our read.
              onNone: () => Effect.fail(new Contended()),
              onSome: (existingText): Effect.Effect<Outcome, LockFailed | Contended> => {
                const existing = decodeLock(existingText)
                if (Option.isSome(existing) && isHolderAlive(existing.value)) {
                  return Effect.succeed({ _tag: "Held", holder: toHolder(existing.value) })
                }
                // Dead holder (or a file that is not a lock of ours): remove it, then link again.
                return removeStale(lockPath, existingText, fail)
              }
            })
          )
        )
      ),
      Effect.mapError((error): LockFailed | Contended => (error._tag === "Contended" || error._tag === "LockFailed" ? error : fail(error)))
    )

    return Effect.acquireUseRelease(
      fs
        .makeDirectory(path.dirname(lockPath), { recursive: true })
        .pipe(
          Effect.zipRight(sweepTemps(lockPath)),
          Effect.zipRight(fs.writeFileString(temp, text, { flag: "wx" })),
          Effect.mapError(fail)
        ),
      () =>
        attempt.pipe(
          Effect.retry({
            while: (e) => e instanceof Contended,
            schedule: Schedule.spaced("15 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(60)))
          }),
          Effect.catchTag("Contended", () =>
            Effect.fail(new LockFailed({ lockPath, reason: "the lock kept changing while taking it; try again" }))
          ),
          Effect.tap((outcome) => Effect.sync(() => outcome._tag === "Acquired" && heldHere.add(token)))
        ),
      () => fs.remove(temp).pipe(Effect.ignore)
    )
  }

  const release = (lockPath: string, token: string) =>
    readRaw(lockPath).pipe(
      Effect.flatMap((text) => {
        const content = Option.flatMap(text, decodeLock)
        return Option.isSome(content) && content.value.token === token ? fs.remove(lockPath) : Effect.void
      }),
      Effect.ignore,
      Effect.ensuring(Effect.sync(() => heldHere.delete(token)))
    )

  return { read, tryAcquire, release }
})
