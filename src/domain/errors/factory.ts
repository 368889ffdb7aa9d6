// Errors of the factory area (see base.ts for the convention).
import { Data } from "effect"
import type { OperatorError } from "./base.js"

/** factory-config.yaml is unreadable, malformed, or names things that do not exist. */
export class FactoryConfigInvalid
  extends Data.TaggedError("FactoryConfigInvalid")<{
    readonly file: string
    /** Path to the offending field, e.g. `board_configs.esp32.firmware_path` or `stations[1].ports[0]`. */
    readonly field: string
    readonly problem: string
    readonly fix: string
  }>
  implements OperatorError
{
  readonly code = "factory_config_invalid"
  get hint() {
    return this.fix
  }
  override get message() {
    return `${this.file}: ${this.field}: ${this.problem}`
  }
}

/** Quality gate before the batch: the image is larger than `quality_gates.max_firmware_size[platform]`. */
export class FirmwareTooLarge
  extends Data.TaggedError("FirmwareTooLarge")<{
    readonly boardConfig: string
    readonly platform: string
    readonly path: string
    readonly size: number
    readonly limit: number
  }>
  implements OperatorError
{
  readonly code = "firmware_too_large"
  get hint() {
    return `no board was touched; build a smaller image or raise quality_gates.max_firmware_size.${this.platform}`
  }
  override get message() {
    return `firmware ${this.path} of board config "${this.boardConfig}" is ${this.size} bytes, over the ${this.platform} limit of ${this.limit} bytes`
  }
}

/** Quality gate during flashing: connect + write (with retries) took longer than `max_flash_time`. */
export class FlashTimeExceeded
  extends Data.TaggedError("FlashTimeExceeded")<{
    readonly port: string
    readonly limitSeconds: number
  }>
  implements OperatorError
{
  readonly code = "max_flash_time_exceeded"
  get hint() {
    return "the board flashed too slowly: check the cable and hub, lower the baud rate if frames get lost, or raise quality_gates.max_flash_time"
  }
  override get message() {
    return `flashing on ${this.port} exceeded max_flash_time (${this.limitSeconds} s)`
  }
}

/** The application did not print its boot banner (and no self-test could prove it runs). */
export class BootNotSeen
  extends Data.TaggedError("BootNotSeen")<{
    readonly port: string
    readonly banner: string
    readonly timeoutMs: number
    readonly received: string
  }>
  implements OperatorError
{
  readonly code = "boot_not_seen"
  get hint() {
    return "the board did not start the new firmware: check app_baud, that the board left the bootloader (tap RESET, release BOOT), and the image"
  }
  override get message() {
    const what = this.banner === "" ? "any boot output" : `boot banner "${this.banner}"`
    return `no ${what} on ${this.port} within ${this.timeoutMs} ms${this.received ? ` (received: ${JSON.stringify(this.received.slice(-80))})` : ""}`
  }
}

/** A configured device test did not answer with its expected response in time. */
export class SelfTestFailed
  extends Data.TaggedError("SelfTestFailed")<{
    readonly port: string
    readonly test: string
    readonly command: string
    readonly expected: string
    readonly received: string
    readonly timedOut: boolean
  }>
  implements OperatorError
{
  readonly code = "self_test_failed"
  get hint() {
    return this.timedOut
      ? "the board did not answer the test command: check app_baud, the test's timeout, and that the firmware implements the command"
      : "the board answered but not as expected: set the board aside for inspection (hardware fault on the tested function)"
  }
  override get message() {
    const got = this.received === "" ? "no answer" : `got ${JSON.stringify(this.received.slice(0, 120))}`
    return `self-test ${this.test} on ${this.port}: "${this.command}" expected "${this.expected}", ${got}${this.timedOut ? " before the timeout" : ""}`
  }
}

/** The port holds a board of another family than its station's board_type. */
export class WrongBoardOnPort
  extends Data.TaggedError("WrongBoardOnPort")<{
    readonly port: string
    readonly expected: string
    readonly detected: string
  }>
  implements OperatorError
{
  readonly code = "wrong_board_on_port"
  get hint() {
    return "move the board to a station of its type, or fix the station's board_type"
  }
  override get message() {
    return `${this.port} holds a ${this.detected}, the station expects ${this.expected}`
  }
}

/** The backend could not be reached (refused, timed out, 5xx after retries): registrations get queued. */
export class BackendUnavailable
  extends Data.TaggedError("BackendUnavailable")<{
    readonly url: string
    readonly detail: string
  }>
  implements OperatorError
{
  readonly code = "backend_unavailable"
  get hint() {
    return "the registration was queued locally; run `provision flash sync` once the provisioning service is up"
  }
  override get message() {
    return `provisioning service ${this.url} unavailable: ${this.detail}`
  }
}

/** The backend answered with a non-retryable error (401/403/4xx) or an unreadable body. */
export class BackendRejected
  extends Data.TaggedError("BackendRejected")<{
    readonly url: string
    readonly status: number
    readonly detail: string
  }>
  implements OperatorError
{
  readonly code = "backend_rejected"
  get hint() {
    return this.status === 401 || this.status === 403
      ? "the backend refused the bearer token: set backend.token in the secrets file (--secrets) to a valid admin token"
      : "the backend refused the request: check provisioning_service_url and the backend's logs"
  }
  override get message() {
    return `provisioning service ${this.url} answered ${this.status}: ${this.detail}`
  }
}

/** A record, report, queue or label file could not be written or read. */
export class RecordFileError
  extends Data.TaggedError("RecordFileError")<{
    readonly path: string
    readonly operation: string
    readonly detail: string
  }>
  implements OperatorError
{
  readonly code = "record_file_error"
  get hint() {
    return "check free disk space and write permission on var/ (records, reports, log)"
  }
  override get message() {
    return `${this.operation} ${this.path} failed: ${this.detail}`
  }
}

export type BackendFailure = BackendUnavailable | BackendRejected
