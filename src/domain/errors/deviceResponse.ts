// Errors for devices that break the HTTP exchange itself (see base.ts for the
// convention). They belong to `RpcFailure` (shelly.ts) and, like the rest of
// it, stay on that device's line: one hostile device never ends a run.
import { Data } from "effect"
import type { OperatorError } from "./base.js"

/** The answer's body or header block is larger than the client accepts. */
export class ResponseTooLarge
  extends Data.TaggedError("ResponseTooLarge")<{
    readonly device: string
    readonly method: string
    readonly part: "body" | "headers"
    readonly limitBytes: number
  }>
  implements OperatorError
{
  readonly code = "response_too_large"
  get hint() {
    return this.part === "body"
      ? "a Shelly answers in a few KB; check what answers at this address (raise PROVISION_MAX_RESPONSE_BYTES only for a device known to need it)"
      : "a Shelly sends a few hundred bytes of headers; check what answers at this address"
  }
  override get message() {
    return `${this.method} on ${this.device}: response too large (${this.part} over ${this.limitBytes} bytes)`
  }
}

/** What came back is not HTTP a client can read (garbage, broken chunking, bad header lines). */
export class BadHttpResponse
  extends Data.TaggedError("BadHttpResponse")<{
    readonly device: string
    readonly method: string
    /** The HTTP parser's complaint, e.g. `Expected HTTP/`. */
    readonly reason: string
  }>
  implements OperatorError
{
  readonly code = "bad_http"
  get hint() {
    return "the device did not speak HTTP as a Shelly does; check that this address holds the expected device and firmware"
  }
  override get message() {
    return `${this.method} on ${this.device}: bad HTTP from device (${this.reason})`
  }
}
