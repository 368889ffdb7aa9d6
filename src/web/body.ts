// Request bodies read with a cap. Unlike the platform reader (which destroys
// the socket at its `MaxBodySize`, so the client never sees an answer), an
// overflow here stops keeping bytes and lets node drop the rest, so the
// client reads a 413 and the connection ends normally.
import { HttpServerRequest } from "@effect/platform"
import { Effect, Schema } from "effect"
import { Readable } from "node:stream"
import { BadRequest, BodyTooLarge } from "../domain/errors/web.js"
import { MAX_BODY_BYTES } from "./limits.js"

const readCapped = (source: Readable, limit: number): Effect.Effect<string, BodyTooLarge | BadRequest> =>
  Effect.async((resume) => {
    const chunks: Array<Buffer> = []
    let bytes = 0
    const cleanup = () => {
      source.off("data", onData)
      source.off("end", onEnd)
      source.off("error", onError)
    }
    const onData = (chunk: Buffer | string) => {
      const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk
      bytes += buffer.length
      if (bytes > limit) {
        cleanup()
        chunks.length = 0
        // Keep the stream flowing with nobody listening: the rest is discarded.
        source.resume()
        resume(Effect.fail(new BodyTooLarge({ limitBytes: limit })))
      } else chunks.push(buffer)
    }
    const onEnd = () => {
      cleanup()
      resume(Effect.succeed(Buffer.concat(chunks).toString("utf8")))
    }
    const onError = () => {
      cleanup()
      resume(Effect.fail(new BadRequest({ reason: "the request body broke off" })))
    }
    source.on("data", onData)
    source.once("end", onEnd)
    source.once("error", onError)
    return Effect.sync(cleanup)
  })

/** The body as text, at most `MAX_BODY_BYTES` (an announced larger one fails before reading). */
export const cappedBodyText: Effect.Effect<string, BodyTooLarge | BadRequest, HttpServerRequest.HttpServerRequest> = Effect.flatMap(
  HttpServerRequest.HttpServerRequest,
  (request) => {
    if (Number(request.headers["content-length"] ?? 0) > MAX_BODY_BYTES)
      return Effect.fail(new BodyTooLarge({ limitBytes: MAX_BODY_BYTES }))
    // Outside node (tests with other servers) fall back to the platform reader and its MaxBodySize.
    return request.source instanceof Readable
      ? readCapped(request.source, MAX_BODY_BYTES)
      : Effect.mapError(request.text, () => new BadRequest({ reason: "cannot read the request body" }))
  }
)

/** A JSON body decoded with `schema`; bad JSON or shape is a `BadRequest` naming the problem (clipped by the error answer). */
export const cappedBodyJson = <A, I>(schema: Schema.Schema<A, I>) =>
  Effect.flatMap(cappedBodyText, (text) =>
    Effect.mapError(
      Schema.decodeUnknown(Schema.parseJson(schema))(text),
      (error) => new BadRequest({ reason: `bad request: ${error.message.split("\n").slice(0, 3).join(" ")}` })
    )
  )

/** A form body (application/x-www-form-urlencoded) decoded with `schema`. */
export const cappedBodyForm = <A, I extends Readonly<Record<string, string | undefined>>>(schema: Schema.Schema<A, I>) =>
  Effect.flatMap(cappedBodyText, (text) =>
    Effect.mapError(
      Schema.decodeUnknown(schema)(Object.fromEntries(new URLSearchParams(text))),
      () => new BadRequest({ reason: "bad request: expected a form with the fields of the page" })
    )
  )
