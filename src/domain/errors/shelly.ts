// Errors of the shelly area (see base.ts for the convention).
// Every message names the device (`host:port`) and the RPC method, so a line in
// a run of thousands of devices says on its own what went wrong where.
import { Data } from "effect"
import type { OperatorError } from "./base.js"
import type { CertificateChanged } from "./certPin.js"
import type { BadHttpResponse, ResponseTooLarge } from "./deviceResponse.js"

/** Nothing accepted the connection: refused, connect timeout, host or network unreachable. */
export class DeviceUnreachable
  extends Data.TaggedError("DeviceUnreachable")<{
    readonly device: string
    readonly method: string
    /** What the socket reported, e.g. `connection refused`, `no connection within 1000 ms`. */
    readonly reason: string
  }>
  implements OperatorError
{
  readonly code = "device_unreachable"
  get hint() {
    return "check that the device is powered, on the network and at this address (port included)"
  }
  override get message() {
    return `${this.method} on ${this.device}: unreachable (${this.reason})`
  }
}

/** The device accepted the connection but did not answer in time. */
export class RpcTimeout
  extends Data.TaggedError("RpcTimeout")<{
    readonly device: string
    readonly method: string
    readonly timeoutMs: number
  }>
  implements OperatorError
{
  readonly code = "rpc_timeout"
  get hint() {
    return "the device accepted the connection but did not answer; check power and WiFi signal, or raise the timeout"
  }
  override get message() {
    return `${this.method} on ${this.device}: no answer within ${this.timeoutMs} ms`
  }
}

/** HTTP 500: the device ran the method and it failed; carries the device's `{code,message}` body. */
export class RpcHttp500
  extends Data.TaggedError("RpcHttp500")<{
    readonly device: string
    readonly method: string
    /** The RPC error code from the body; null when the body held none. */
    readonly rpcCode: number | null
    readonly rpcMessage: string
  }>
  implements OperatorError
{
  readonly code = "rpc_http_500"
  get hint() {
    return "the device rejected the call; JSON with spaces in a GET query triggers this on some firmware"
  }
  override get message() {
    const detail = this.rpcCode === null ? this.rpcMessage : `${this.rpcCode} ${this.rpcMessage}`
    return `${this.method} on ${this.device}: HTTP 500 (${detail})`
  }
}

/** An RPC error frame, or an HTTP error status other than 401/500 (404 no handler, 429 too many requests…). */
export class RpcError
  extends Data.TaggedError("RpcError")<{
    readonly device: string
    readonly method: string
    readonly rpcCode: number
    readonly rpcMessage: string
  }>
  implements OperatorError
{
  readonly code = "rpc_error"
  get hint() {
    switch (this.rpcCode) {
      case 404:
        return "this firmware has no such method; check the model and firmware version"
      case 429:
        return "the device kept answering 429 Too many requests after the client's retries with backoff (firmware 2.x throttles bursts and failed logins): lower the concurrency per device, check the admin password, and try again in a minute"
      case -103:
        return "the device rejected an argument; check the value sent"
      default:
        return "the device refused the call; see the device's message"
    }
  }
  override get message() {
    return `${this.method} on ${this.device}: error ${this.rpcCode} (${this.rpcMessage})`
  }
}

/** 401 with no password configured, or the configured password is wrong. */
export class AuthRequired
  extends Data.TaggedError("AuthRequired")<{
    readonly device: string
    readonly method: string
    /** Whether a password was sent (and rejected) or none was configured. */
    readonly passwordSent: boolean
    readonly realm: string | null
  }>
  implements OperatorError
{
  readonly code = "auth_required"
  get hint() {
    return "set the device admin password in data/secrets.yaml"
  }
  override get message() {
    const why = this.passwordSent ? "the configured password was rejected" : "the device needs a password"
    return `${this.method} on ${this.device}: authentication failed (${why})`
  }
}

/** The answer was not JSON, not a valid frame, or its result does not fit the expected shape. */
export class ResponseInvalid
  extends Data.TaggedError("ResponseInvalid")<{
    readonly device: string
    readonly method: string
    readonly reason: string
    /** The first characters of what arrived. */
    readonly excerpt: string
  }>
  implements OperatorError
{
  readonly code = "response_invalid"
  get hint() {
    return "the answer does not look like a Shelly Gen2+ device; check that this address holds the expected device and firmware"
  }
  override get message() {
    return `${this.method} on ${this.device}: invalid response (${this.reason}): ${JSON.stringify(this.excerpt)}`
  }
}

/**
 * `GET /shelly` answered in the Gen1 form (`type`, `mac`, `auth`, `fw`, no `gen`;
 * Shelly API docs gen1 "/shelly"): a first-generation device, which has no RPC API.
 */
export class Gen1Unsupported
  extends Data.TaggedError("Gen1Unsupported")<{
    readonly device: string
    readonly method: string
    /** Gen1 model code from `type`, e.g. `SHSW-1`. */
    readonly type: string
    readonly mac: string
    readonly fw: string
  }>
  implements OperatorError
{
  readonly code = "gen1_unsupported"
  get hint() {
    return "fleet-provision handles Shelly Gen2 and newer (RPC API) only; set up Gen1 devices with the Shelly app or their own web page, and leave them out of the inventory and scan ranges"
  }
  override get message() {
    return `${this.method} on ${this.device}: a Gen1 device (${this.type}, MAC ${this.mac}, firmware ${this.fw}) — Gen1 is not supported`
  }
}

export type RpcFailure =
  | DeviceUnreachable
  | RpcTimeout
  | RpcHttp500
  | RpcError
  | AuthRequired
  | ResponseInvalid
  | ResponseTooLarge
  | BadHttpResponse
  | Gen1Unsupported
  | CertificateChanged
