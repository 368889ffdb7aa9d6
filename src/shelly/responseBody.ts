/**
 * Limits on what a device may send back, and the readers that enforce them.
 *
 * A real Shelly answers in a few KB (the largest, `Shelly.GetStatus` on a
 * Pro 4PM, stays under 10 KB; reference/shelly-rpc.md) with a few hundred
 * bytes of headers. A device that streams without end, sends a 1 GB body or a
 * 64 KB header, or nests its JSON 10⁶ levels deep, must cost that device its
 * call — a typed error on its own line — and never the memory or the stack
 * of the whole run.
 */
import { Config, Effect, Either } from "effect"
import type * as Http from "node:http"
import { describeJsonProblem, parseJsonSafe } from "../domain/safeJson.js"

export interface ResponseLimits {
  /** Bytes of body accepted per answer (after transfer decoding). */
  readonly maxBodyBytes: number
  /** Bytes of status line plus headers accepted per answer (node's `maxHeaderSize`). */
  readonly maxHeaderBytes: number
  /** Nesting of JSON objects/arrays accepted in an answer. */
  readonly maxJsonDepth: number
}

export const defaultResponseLimits: ResponseLimits = {
  maxBodyBytes: 1024 * 1024,
  maxHeaderBytes: 16 * 1024,
  maxJsonDepth: 64
}

/**
 * The body cap can be raised (or lowered) per run with
 * `PROVISION_MAX_RESPONSE_BYTES` (1 KiB … 256 MiB); headers and depth are fixed.
 */
export const responseLimitsConfig: Config.Config<ResponseLimits> = Config.integer("PROVISION_MAX_RESPONSE_BYTES").pipe(
  Config.validate({
    message: "PROVISION_MAX_RESPONSE_BYTES must be a whole number of bytes from 1024 to 268435456",
    validation: (n) => n >= 1024 && n <= 256 * 1024 * 1024
  }),
  Config.withDefault(defaultResponseLimits.maxBodyBytes),
  Config.map((maxBodyBytes) => ({ ...defaultResponseLimits, maxBodyBytes }))
)

/** The limits for this process (environment read once per client layer). */
export const loadResponseLimits: Effect.Effect<ResponseLimits> = Effect.orDie(responseLimitsConfig)

/**
 * Collects a response body up to `maxBytes`. Calls `done` with the text at
 * the end, or `tooLarge` as soon as the announced or received size passes the
 * cap (the response is destroyed then, so nothing more is buffered).
 */
export const readBody = (response: Http.IncomingMessage, maxBytes: number, done: (body: string) => void, tooLarge: () => void): void => {
  const announced = Number(response.headers["content-length"])
  if (Number.isFinite(announced) && announced > maxBytes) {
    response.destroy()
    tooLarge()
    return
  }
  const chunks: Array<Buffer> = []
  let received = 0
  let over = false
  response.on("data", (chunk: Buffer) => {
    if (over) return
    received += chunk.length
    if (received > maxBytes) {
      over = true
      chunks.length = 0
      response.destroy()
      tooLarge()
      return
    }
    chunks.push(chunk)
  })
  response.once("end", () => {
    if (!over) done(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"))
  })
}

/** How node's HTTP parser failed, when it did (its errors carry `HPE_*` codes). */
export type HttpParserFailure = { readonly _tag: "HeadersTooLarge" } | { readonly _tag: "BadHttp"; readonly reason: string }

export const httpParserFailure = (cause: unknown): HttpParserFailure | undefined => {
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : ""
  if (!code.startsWith("HPE_")) return undefined
  if (code === "HPE_HEADER_OVERFLOW") return { _tag: "HeadersTooLarge" }
  const reason = typeof cause === "object" && cause !== null && "reason" in cause && typeof cause.reason === "string" ? cause.reason : code
  return { _tag: "BadHttp", reason: reason.slice(0, 80) }
}

/** JSON of a device answer under the depth limit; Left is the reason for `ResponseInvalid`. */
export const parseDeviceJson = (text: string, maxDepth: number): Either.Either<unknown, string> =>
  Either.mapLeft(parseJsonSafe(text, { maxDepth }), (problem) => (problem._tag === "Syntax" ? "not JSON" : describeJsonProblem(problem)))
