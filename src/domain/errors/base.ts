/**
 * Every error that can reach an operator carries a stable `code` (for scripts
 * and `--json`) and a `hint` (what to do about it). Areas define their errors
 * in sibling files; `domain/errors.ts` re-exports them all.
 *
 * Convention for a new error:
 *
 *   export class RpcTimeout extends Data.TaggedError("RpcTimeout")<{
 *     readonly device: string
 *     readonly method: string
 *     readonly timeoutMs: number
 *   }> implements OperatorError {
 *     readonly code = "rpc_timeout"
 *     get hint() { return "device accepted the connection but did not answer; check power and WiFi signal" }
 *     override get message() { return `${this.method} on ${this.device}: no answer within ${this.timeoutMs} ms` }
 *   }
 *
 * Messages never contain secrets (passwords, tokens): hold those as Redacted.
 */
export interface OperatorError {
  readonly _tag: string
  readonly code: string
  readonly hint: string
  readonly message: string
}

/** One line for a terminal: `<message> (<code>) — hint: <hint>` */
export const describeError = (error: OperatorError): string => `${error.message} [${error.code}]${error.hint ? ` — ${error.hint}` : ""}`

export const isOperatorError = (u: unknown): u is OperatorError =>
  typeof u === "object" && u !== null && "_tag" in u && "code" in u && "hint" in u && "message" in u
