// Errors of per-device credentials and of backup/restore (see base.ts for the convention).
// None of them carries a password: they name the device (MAC) and the step.
import { Data } from "effect"
import type { OperatorError } from "./base.js"

/** `credentials show|rotate` for a MAC that has no stored password. */
export class CredentialUnknown
  extends Data.TaggedError("CredentialUnknown")<{
    readonly mac: string
    readonly file: string
  }>
  implements OperatorError
{
  readonly code = "credential_unknown"
  get hint() {
    return `check the MAC (provision inventory list); devices get a password in ${this.file} from Stage 1 with stage1.auth: per_device, or from \`provision credentials rotate --mac ${this.mac}\``
  }
  override get message() {
    return `no stored password for ${this.mac} in ${this.file}`
  }
}

/** A rotation step failed; the device and the file still agree on a valid password. */
export class RotationFailed
  extends Data.TaggedError("RotationFailed")<{
    readonly mac: string
    readonly step: "reach" | "set" | "verify"
    readonly reason: string
  }>
  implements OperatorError
{
  readonly code = "rotation_failed"
  get hint() {
    return this.step === "reach"
      ? "nothing was changed; check the device is online at that address and its password is in data/device-secrets.yaml or secrets.yaml"
      : `both the old and the new password stay in data/device-secrets.yaml (the device has one of them); run \`provision credentials rotate --mac ${this.mac}\` again once it answers`
  }
  override get message() {
    return `rotating the password of ${this.mac} failed at ${this.step}: ${this.reason}`
  }
}

/** A backup file that cannot be used; nothing was written to any device. */
export class BackupInvalid
  extends Data.TaggedError("BackupInvalid")<{
    readonly file: string
    readonly reason: string
  }>
  implements OperatorError
{
  readonly code = "backup_invalid"
  get hint() {
    return "pick another backup (`provision backup list MAC` / var/backups/<MAC>/) or take a fresh one with `provision backup`"
  }
  override get message() {
    return `cannot use backup ${this.file}: ${this.reason}`
  }
}

/** No backup of that device to restore from. */
export class BackupMissing
  extends Data.TaggedError("BackupMissing")<{
    readonly mac: string
    readonly dir: string
  }>
  implements OperatorError
{
  readonly code = "backup_missing"
  get hint() {
    return `take one first: \`provision backup --ip <device ip>\`, or name the FILE to restore from`
  }
  override get message() {
    return `no backup of ${this.mac} under ${this.dir}`
  }
}

/** The device at the address is not the one the restore is for; nothing was written. */
export class RestoreTargetMismatch
  extends Data.TaggedError("RestoreTargetMismatch")<{
    readonly expected: string
    readonly found: string
    readonly ip: string
  }>
  implements OperatorError
{
  readonly code = "restore_target_mismatch"
  get hint() {
    return "nothing was written; update the inventory (the device moved?) or, for a replacement device, pass --to-mac with its MAC"
  }
  override get message() {
    return `device at ${this.ip} reports MAC ${this.found}, expected ${this.expected}`
  }
}

/** The device to restore onto is not in the inventory. */
export class DeviceNotInInventory
  extends Data.TaggedError("DeviceNotInInventory")<{
    readonly mac: string
  }>
  implements OperatorError
{
  readonly code = "device_not_in_inventory"
  get hint() {
    return "run Stage 1 or Stage 2 for it first, or pass --ip with its address"
  }
  override get message() {
    return `${this.mac} is not in the inventory`
  }
}
