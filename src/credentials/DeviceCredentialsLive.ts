import type { FileSystem, Path } from "@effect/platform"
import { Effect, Layer, Option, Redacted, Ref } from "effect"
import type { Mac } from "../domain/mac.js"
import { DeviceCredentials, type DeviceCredentialsService } from "./DeviceCredentials.js"
import type { ConfigInvalid } from "../domain/errors/config.js"
import { DEFAULT_DEVICE_SECRETS_PATH, type DeviceSecret, type DeviceSecrets, readDeviceSecrets, writeDeviceSecrets } from "./file.js"

const now = () => new Date().toISOString()

/**
 * Loads the file once (absent = empty) and keeps it in memory; every change
 * re-reads the file under a semaphore, applies itself and writes it back
 * safely, so entries another process added meanwhile are kept. Runs that
 * change passwords also hold the project lock (var/run/provision.lock), which
 * serialises writers across processes.
 */
export const makeDeviceCredentials = (
  file: string = DEFAULT_DEVICE_SECRETS_PATH
): Effect.Effect<DeviceCredentialsService, ConfigInvalid, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const context = yield* Effect.context<FileSystem.FileSystem | Path.Path>()
    const state = yield* Ref.make<DeviceSecrets>(yield* readDeviceSecrets(file))
    const writes = yield* Effect.makeSemaphore(1)

    const change = (mac: Mac, edit: (entry: DeviceSecret | undefined) => DeviceSecret | undefined) =>
      writes
        .withPermits(1)(
          Effect.gen(function* () {
            // The file as it is now (a reader's error leaves our copy as the base: a
            // broken file is then replaced by a good one, its .bak kept).
            const current = yield* readDeviceSecrets(file).pipe(Effect.orElse(() => Ref.get(state)))
            const next = new Map(current)
            const edited = edit(current.get(mac))
            if (edited === undefined) next.delete(mac)
            else next.set(mac, edited)
            yield* writeDeviceSecrets(file, next)
            yield* Ref.set(state, next)
          })
        )
        .pipe(Effect.provide(context))

    const get: DeviceCredentialsService["get"] = (mac) => Effect.map(Ref.get(state), (all) => Option.fromNullable(all.get(mac)))

    return {
      file,
      get,
      macs: Effect.map(Ref.get(state), (all) => [...all.keys()].sort()),
      candidates: (mac) =>
        Effect.map(
          get(mac),
          Option.match({
            onNone: () => [],
            onSome: (entry) => [entry.password, entry.pending].filter((p): p is Redacted.Redacted<string> => p !== undefined)
          })
        ),
      stagePending: (mac, password) => change(mac, (entry) => ({ ...entry, pending: password, updated: now() })),
      confirm: (mac, password) =>
        change(mac, (entry) => ({
          password,
          // A pending one that is not this password stays for `candidates` (never lose a maybe-valid password).
          ...(entry?.pending !== undefined && Redacted.value(entry.pending) !== Redacted.value(password) ? { pending: entry.pending } : {}),
          updated: now()
        })),
      dropPending: (mac) =>
        change(mac, (entry) =>
          entry === undefined ? undefined : entry.password === undefined ? undefined : { password: entry.password, updated: now() }
        ),
      reload: Effect.flatMap(readDeviceSecrets(file), (all) => Ref.set(state, all)).pipe(Effect.provide(context))
    }
  })

export const deviceCredentialsLayer = (
  file: string = DEFAULT_DEVICE_SECRETS_PATH
): Layer.Layer<DeviceCredentials, ConfigInvalid, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(DeviceCredentials, makeDeviceCredentials(file))

export const DeviceCredentialsLive = deviceCredentialsLayer()
