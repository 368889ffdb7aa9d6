import type { Effect, Scope } from "effect"
import { Context } from "effect"
import type { InventoryReadError, LockFailed, LockHeld, StateWriteError } from "../domain/errors/inventory.js"
import type { Mac } from "../domain/mac.js"

/** A JSON value as found in ip_state.json (unknown fields are kept verbatim). */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }
export type DeviceRecord = { readonly [key: string]: Json }

export interface InventoryDevice {
  /** The key exactly as spelled in the file (written back unchanged). */
  readonly key: string
  /** The key normalised, for comparisons. */
  readonly mac: Mac
  readonly record: DeviceRecord
}

/**
 * ip_state.json in memory. `format` remembers which of the two layouts was read:
 * flat `{ "<mac>": {...} }` or wrapped `{ "version": 1, "devices": {...} }`
 * (`envelope` keeps the wrapper's other keys and their order).
 */
export interface InventoryDocument {
  readonly path: string
  readonly format: "flat" | "wrapped"
  readonly envelope: { readonly [key: string]: Json }
  readonly devices: ReadonlyArray<InventoryDevice>
}

export interface InventoryService {
  /**
   * Missing file → empty document (flat). Invalid JSON, a non-MAC device key or
   * the same MAC twice (in any spelling) → InventoryReadError (with line/column
   * for JSON syntax errors).
   */
  readonly load: (path: string) => Effect.Effect<InventoryDocument, InventoryReadError>
  /**
   * Read-modify-write under the state lock: reloads the file, applies `change`,
   * and writes safely (.bak copy, .tmp + fsync, atomic rename). Concurrent runs
   * never interleave (state lock `var/run/<name>.lock`, waited for briefly,
   * then LockHeld). The previous file stays intact on any failure; a failure to
   * create the state lock is a StateWriteError. When `change` returns a document
   * that serialises the same as the one read, nothing is written.
   */
  readonly update: (
    path: string,
    change: (current: InventoryDocument) => InventoryDocument
  ) => Effect.Effect<InventoryDocument, InventoryReadError | StateWriteError | LockHeld>
}

export class Inventory extends Context.Tag("fleet-provision/Inventory")<Inventory, InventoryService>() {}

/**
 * The project-wide provisioning lock in `var/run/` (Stage 1 holds it for its
 * whole run; Stage 2/3 writes and other provisioning take it too). The lock
 * file records PID, command and start time; a lock left by a dead process is
 * taken over.
 */
export interface LockHolder {
  readonly pid: number
  readonly command: string
  /** ISO-8601 time the lock was taken. */
  readonly since: string
  readonly host: string
}

export interface ProjectLockService {
  /**
   * Takes `var/run/provision.lock` for the life of the scope (released on scope
   * close, also on interrupt). Fails at once with LockHeld when a live process
   * holds it; LockFailed when var/run/ is unusable.
   */
  readonly acquire: (command: string) => Effect.Effect<void, LockHeld | LockFailed, Scope.Scope>
  /** Who holds it now, if anyone (for read-only banners). A stale lock of a dead process counts as free. */
  readonly holder: Effect.Effect<LockHolder | undefined>
}

export class ProjectLock extends Context.Tag("fleet-provision/ProjectLock")<ProjectLock, ProjectLockService>() {}
