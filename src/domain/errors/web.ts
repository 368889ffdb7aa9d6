// Errors of the web area (see base.ts for the convention).
import { Data } from "effect"
import type { OperatorError } from "./base.js"

/** A friendly name that Stage 3 could not send as it is; nothing was written. */
export class InvalidFriendlyName
  extends Data.TaggedError("InvalidFriendlyName")<{
    readonly device: string
    readonly name: string
    readonly reason: string
  }>
  implements OperatorError
{
  readonly code = "friendly_name_invalid"
  get hint() {
    return "use visible characters only (no tabs, newlines or zero-width characters), at most 64 characters"
  }
  override get message() {
    return `friendly name ${JSON.stringify(this.name)} for ${this.device}: ${this.reason}`
  }
}

/** No device in ip_state.json matches the MAC or IP given. */
export class DeviceNotFound
  extends Data.TaggedError("DeviceNotFound")<{
    readonly query: string
    readonly file: string
  }>
  implements OperatorError
{
  readonly code = "device_not_found"
  get hint() {
    return "check the MAC/IP against `provision inventory list`"
  }
  override get message() {
    return `no device ${this.query} in ${this.file}`
  }
}

/** An argument or file given to an inventory/web command cannot be used; nothing was written. */
export class InventoryInputInvalid
  extends Data.TaggedError("InventoryInputInvalid")<{
    readonly what: string
    readonly problems: ReadonlyArray<string>
  }>
  implements OperatorError
{
  readonly code = "inventory_input_invalid"
  get hint() {
    return "fix the entries listed; ip_state.json was not changed"
  }
  override get message() {
    return `${this.what}: ${this.problems.join("; ")}`
  }
}

/** The web UI runs one Stage 3 at a time. */
export class RunBusy extends Data.TaggedError("RunBusy")<{ readonly runId: string }> implements OperatorError {
  readonly code = "run_busy"
  get hint() {
    return "wait for it to finish (its lines are on the inventory page)"
  }
  override get message() {
    return `a Stage 3 run (${this.runId}) is still going`
  }
}

/** A request the web UI cannot act on (bad JSON, missing field, unknown path). */
export class BadRequest extends Data.TaggedError("BadRequest")<{ readonly reason: string }> implements OperatorError {
  readonly code = "bad_request"
  get hint() {
    return "check the request against the page's form"
  }
  override get message() {
    return this.reason
  }
}

/** Bound beyond loopback, the web UI needs an admin password in secrets. */
export class WebPasswordMissing
  extends Data.TaggedError("WebPasswordMissing")<{
    readonly host: string
    readonly secretsFile: string
  }>
  implements OperatorError
{
  readonly code = "web_password_missing"
  get hint() {
    return `set web.admin_password in ${this.secretsFile}, or bind to 127.0.0.1 (the default)`
  }
  override get message() {
    return `refusing to serve on ${this.host} without an admin password`
  }
}

/** A request body over the web UI's cap; it was not kept (answered 413). */
export class BodyTooLarge extends Data.TaggedError("BodyTooLarge")<{ readonly limitBytes: number }> implements OperatorError {
  readonly code = "body_too_large"
  get hint() {
    return "send a smaller request; the page's forms never come near this"
  }
  override get message() {
    return `request body over ${this.limitBytes} bytes`
  }
}
