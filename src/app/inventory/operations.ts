// Inventory operations shared by `provision inventory` and the web UI: one
// code path to ip_state.json (the store's safe write under its state lock,
// inside the project lock so nothing writes while Stage 1 runs).
import type { FileSystem } from "@effect/platform"
import { Duration, Effect, Either, Option } from "effect"
import { loadAppConfig } from "../../config/index.js"
import type { ConfigInvalid, ConfigMissing } from "../../domain/errors/config.js"
import type { InventoryReadError, LockFailed, LockHeld, StateWriteError } from "../../domain/errors/inventory.js"
import { DeviceNotFound, InvalidFriendlyName, InventoryInputInvalid } from "../../domain/errors/web.js"
import { parseIpv4 } from "../../domain/ipv4.js"
import { parseMac } from "../../domain/mac.js"
import { ShellyRpc } from "../../shelly/ShellyRpc.js"
import { normalizeFriendlyName } from "../../stages/friendlyName.js"
import { findByIp, findByMac, removeDevice, setDeviceFields } from "../../inventory/edit.js"
import { Inventory, type InventoryDevice, type InventoryDocument, ProjectLock } from "../../inventory/Inventory.js"
import { applyImport, csvToPatches, parseCsv } from "./csv.js"
import { type InventoryRow, toRow } from "./rows.js"

export interface InventorySettings {
  readonly configFile: string
  readonly stateFile: string
  /** The record field Stage 3 syncs to the device name (stage3.friendly.field_name). */
  readonly friendlyField: string
  readonly devicePort: number
  readonly probeTimeout: Duration.Duration
  /** `stage1.https` on (one setting for every command that talks to devices): the per-MAC pin file. */
  readonly httpsPinFile: string | undefined
  readonly warnings: ReadonlyArray<string>
}

export const loadInventorySettings = (
  configFile?: string
): Effect.Effect<InventorySettings, ConfigInvalid | ConfigMissing, FileSystem.FileSystem> =>
  Effect.map(loadAppConfig(configFile), (loaded) => ({
    configFile: loaded.file,
    stateFile: loaded.value.stage3.ip_state_file,
    friendlyField: loaded.value.stage3.friendly.field_name,
    devicePort: loaded.value.stage3.device_port,
    probeTimeout: Duration.millis(loaded.value.stage3.probe_timeout_ms),
    httpsPinFile: loaded.value.stage1.https.enabled ? loaded.value.stage1.https.pin_file : undefined,
    warnings: loaded.warnings
  }))

export type WriteError = InventoryReadError | StateWriteError | LockHeld | LockFailed

/** `<mac>` in any spelling, or an IPv4 address from the `ip` field. */
export const resolveDevice = (doc: InventoryDocument, query: string): Either.Either<InventoryDevice, DeviceNotFound> => {
  const mac = parseMac(query)
  const found = Either.isRight(mac)
    ? findByMac(doc, mac.right)
    : Either.isRight(parseIpv4(query.trim()))
      ? findByIp(doc, query.trim())
      : Option.none()
  return Option.match(found, {
    onNone: () => Either.left(new DeviceNotFound({ query, file: doc.path })),
    onSome: Either.right
  })
}

export const loadRows = (settings: InventorySettings) =>
  Effect.gen(function* () {
    const doc = yield* Effect.flatMap(Inventory, (inventory) => inventory.load(settings.stateFile))
    return { doc, rows: doc.devices.map((device) => toRow(device, settings.friendlyField)) }
  })

/** TCP probe of every row's IP at once (bounded), MAC → reachable. */
export const probeRows = (settings: InventorySettings, rows: ReadonlyArray<InventoryRow>, concurrency = 64) =>
  Effect.flatMap(ShellyRpc, (rpc) =>
    Effect.forEach(
      rows,
      (row) =>
        row.ip === ""
          ? Effect.succeed([row.mac, false] as const)
          : Effect.map(rpc.probe({ host: row.ip, port: settings.devicePort }, settings.probeTimeout), (up) => [row.mac, up] as const),
      { concurrency }
    )
  ).pipe(Effect.map((pairs) => new Map<string, boolean>(pairs)))

/**
 * Read-modify-write under the project lock; `change` sees the file as it is
 * now and may refuse (nothing written then).
 */
export const writeInventory = <A, E>(
  settings: InventorySettings,
  command: string,
  change: (doc: InventoryDocument) => Either.Either<{ readonly doc: InventoryDocument; readonly value: A }, E>
): Effect.Effect<A, E | WriteError, Inventory | ProjectLock> =>
  Effect.scoped(
    Effect.gen(function* () {
      yield* Effect.flatMap(ProjectLock, (lock) => lock.acquire(command))
      const inventory = yield* Inventory
      let value: Option.Option<A> = Option.none()
      let refused: Option.Option<E> = Option.none()
      yield* inventory.update(settings.stateFile, (current) => {
        const outcome = change(current)
        if (Either.isLeft(outcome)) {
          refused = Option.some(outcome.left)
          return current
        }
        value = Option.some(outcome.right.value)
        return outcome.right.doc
      })
      if (Option.isSome(refused)) return yield* Effect.fail(refused.value)
      return Option.getOrThrow(value)
    })
  )

/** The name as Stage 3 would send it, or why it cannot be sent. */
export const validateFriendlyName = (device: string, raw: string): Either.Either<string, InvalidFriendlyName> =>
  Either.mapLeft(normalizeFriendlyName(raw), (reason) => new InvalidFriendlyName({ device, name: raw, reason }))

export const setFriendlyName = (settings: InventorySettings, query: string, raw: string, command = "inventory set-name") =>
  Effect.gen(function* () {
    // Validated before the lock so a bad name is reported even during Stage 1.
    const name = yield* validateFriendlyName(query, raw)
    return yield* writeInventory(settings, command, (doc) =>
      Either.map(resolveDevice(doc, query), (device) => ({
        doc: setDeviceFields(doc, device.mac, { [settings.friendlyField]: name }),
        value: { device: toRow(device, settings.friendlyField), name, previous: toRow(device, settings.friendlyField).friendlyName }
      }))
    )
  })

/** Sets the planned production address (`ip`), refusing one another device already has. */
export const setPlannedIp = (settings: InventorySettings, query: string, rawIp: string, command = "inventory set-ip") =>
  Effect.gen(function* () {
    const ip = parseIpv4(rawIp.trim())
    if (Either.isLeft(ip)) {
      return yield* new InventoryInputInvalid({ what: `address for ${query}`, problems: [ip.left] })
    }
    return yield* writeInventory(settings, command, (doc) =>
      Either.flatMap(resolveDevice(doc, query) as Either.Either<InventoryDevice, DeviceNotFound | InventoryInputInvalid>, (device) => {
        const other = doc.devices.find((d) => d.mac !== device.mac && d.record["ip"] === ip.right)
        return other !== undefined
          ? Either.left(
              new InventoryInputInvalid({
                what: `address for ${device.key}`,
                problems: [`${ip.right} is already the address of ${other.key}`]
              })
            )
          : Either.right({ doc: setDeviceFields(doc, device.mac, { ip: ip.right }), value: { mac: device.mac, ip: ip.right } })
      })
    )
  })

export const forgetDevice = (settings: InventorySettings, query: string) =>
  writeInventory(settings, "inventory forget", (doc) =>
    Either.map(resolveDevice(doc, query), (device) => ({
      doc: removeDevice(doc, device.mac),
      value: toRow(device, settings.friendlyField)
    }))
  )

export const importCsv = (settings: InventorySettings, file: string, text: string) =>
  Effect.gen(function* () {
    const table = parseCsv(text)
    if (Either.isLeft(table)) return yield* new InventoryInputInvalid({ what: `cannot import ${file}`, problems: [table.left] })
    const patches = csvToPatches(file, table.right, settings.friendlyField)
    if (Either.isLeft(patches)) {
      return yield* new InventoryInputInvalid({ what: `cannot import ${file}`, problems: patches.left })
    }
    return yield* writeInventory(settings, "inventory import", (doc) =>
      Either.map(
        Either.mapLeft(
          applyImport(doc, patches.right),
          (problems) => new InventoryInputInvalid({ what: `cannot import ${file}`, problems })
        ),
        ({ added, doc: next, updated }) => ({ doc: next, value: { added, updated } })
      )
    )
  })
