// Errors of the firmware cache and rollouts (see base.ts for the convention).
import { Data } from "effect"
import type { OperatorError } from "./base.js"

/** `provision firmware add`: the file or its model/version cannot go into the cache; the cache is unchanged. */
export class FirmwareAddFailed
  extends Data.TaggedError("FirmwareAddFailed")<{
    readonly file: string
    readonly reason: string
    readonly fix: string
  }>
  implements OperatorError
{
  readonly code = "firmware_add_failed"
  get hint() {
    return this.fix
  }
  override get message() {
    return `cannot add ${this.file} to the firmware cache: ${this.reason}`
  }
}

/** The cache index (var/firmware/index.json) cannot be read or is not what we wrote. */
export class FirmwareCacheInvalid
  extends Data.TaggedError("FirmwareCacheInvalid")<{
    readonly path: string
    readonly reason: string
  }>
  implements OperatorError
{
  readonly code = "firmware_cache_invalid"
  get hint() {
    return `restore ${this.path} from ${this.path}.bak, or move the folder away and add the files again with \`provision firmware add\``
  }
  override get message() {
    return `firmware cache index ${this.path}: ${this.reason}`
  }
}

/** The rollout state file (var/rollout/state.json) cannot be used, or `--resume` has nothing to resume. */
export class RolloutStateInvalid
  extends Data.TaggedError("RolloutStateInvalid")<{
    readonly path: string
    readonly reason: string
    readonly fix: string
  }>
  implements OperatorError
{
  readonly code = "rollout_state_invalid"
  get hint() {
    return this.fix
  }
  override get message() {
    return `rollout state ${this.path}: ${this.reason}`
  }
}
