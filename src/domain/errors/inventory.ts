// Errors of the inventory area (see base.ts for the convention).
import { Data } from "effect"
import type { OperatorError } from "./base.js"

/** ip_state.json cannot be used as it is; the file is left untouched. */
export class InventoryReadError
  extends Data.TaggedError("InventoryReadError")<{
    readonly path: string
    readonly reason: string
    readonly line?: number | undefined
    readonly column?: number | undefined
  }>
  implements OperatorError
{
  readonly code = "inventory_invalid"
  get hint() {
    return this.line !== undefined
      ? `repair the JSON at that position (or restore ${this.path}.bak); the file was not modified`
      : `repair ${this.path} (or restore ${this.path}.bak); the file was not modified`
  }
  override get message() {
    const where = this.line !== undefined ? ` at line ${this.line}, column ${this.column ?? 1}` : ""
    return `cannot read state file ${this.path}${where}: ${this.reason}`
  }
}

/**
 * A safe write failed: before the rename the previous file is still in place;
 * after it (`replaced`) the new content is, but may not survive a power cut.
 */
export class StateWriteError
  extends Data.TaggedError("StateWriteError")<{
    readonly path: string
    readonly reason: string
    /** The rename had happened: the file holds the new content (only the directory sync failed). */
    readonly replaced?: boolean | undefined
  }>
  implements OperatorError
{
  readonly code = "state_write_failed"
  get hint() {
    return this.replaced === true
      ? `${this.path} already holds the new content, but the file system did not confirm the rename (directory fsync failed), so it may not survive a power cut; check the disk and its mount (the previous content is in ${this.path}.bak)`
      : "check permissions (root vs. normal user), a read-only file system, free space and disk quota; the previous file is intact"
  }
  override get message() {
    return `cannot write state file ${this.path}: ${this.reason}`
  }
}

/** Another live process holds a lock in var/run/. */
export class LockHeld
  extends Data.TaggedError("LockHeld")<{
    readonly lockPath: string
    readonly pid: number
    readonly command: string
    readonly since: string
    readonly host?: string | undefined
  }>
  implements OperatorError
{
  readonly code = "lock_held"
  get hint() {
    return `wait for that run to finish or stop it (kill ${this.pid}); a lock left by a dead process is taken over automatically`
  }
  override get message() {
    const host = this.host !== undefined ? ` on ${this.host}` : ""
    return `another run holds ${this.lockPath}: PID ${this.pid}${host} (${this.command}), since ${this.since}`
  }
}

/** A lock file could not be created or read for a reason other than being held. */
export class LockFailed
  extends Data.TaggedError("LockFailed")<{
    readonly lockPath: string
    readonly reason: string
  }>
  implements OperatorError
{
  readonly code = "lock_failed"
  get hint() {
    return "check that var/run/ exists and is writable"
  }
  override get message() {
    return `cannot use lock file ${this.lockPath}: ${this.reason}`
  }
}
