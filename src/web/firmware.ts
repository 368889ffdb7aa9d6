// The firmware route devices update from: `GET /firmware/<sha256>.zip`.
// Read-only and without login (a device cannot log in), it answers only for
// files the cache index lists, by their sha256 name, so nothing else on the
// disk can be reached through it. `provision serve --rollout-only` answers to
// nothing but this route; that is the mode to bind beyond loopback for a
// rollout (the inventory UI stays on loopback or behind its password).
import { FileSystem, HttpRouter, HttpServerRequest, HttpServerResponse, Path } from "@effect/platform"
import { Effect } from "effect"
import { isCacheFileName, loadFirmwareIndex } from "../firmware/cache.js"

const notFound = (what: string) => HttpServerResponse.unsafeJson({ error: what, code: "not_found", hint: "" }, { status: 404 })

/** The cached file `name`, or 404; the index is read per request so `firmware add` needs no restart. */
export const firmwareFile = (dir: string, name: string) =>
  Effect.gen(function* () {
    if (!isCacheFileName(name)) return notFound("only cached firmware files, by their sha256 name")
    const index = yield* loadFirmwareIndex(dir).pipe(Effect.orElseSucceed(() => []))
    if (!index.some((entry) => entry.file === name)) return notFound(`no cached firmware ${name}`)
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const bytes = yield* fs.readFile(path.join(dir, name)).pipe(Effect.option)
    if (bytes._tag === "None") return notFound(`cached firmware ${name} is missing on disk`)
    return HttpServerResponse.uint8Array(bytes.value, { contentType: "application/zip", headers: { "cache-control": "no-store" } })
  })

const fileParam = Effect.map(HttpRouter.params, (params) => params.file ?? "")

/** The route inside the full web UI. */
export const withFirmwareRoute = (dir: string) =>
  HttpRouter.get(
    "/firmware/:file",
    Effect.flatMap(fileParam, (name) => firmwareFile(dir, name))
  )

/** `serve --rollout-only`: the firmware route and nothing else (every other path and method: 404/405). */
export const firmwareOnlyApp = (dir: string) =>
  HttpRouter.empty.pipe(
    withFirmwareRoute(dir),
    HttpRouter.all(
      "*",
      Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
        request.method === "GET" || request.method === "HEAD"
          ? notFound("this server only hands out firmware files (/firmware/<sha256>.zip)")
          : HttpServerResponse.unsafeJson({ error: "read-only", code: "method_not_allowed", hint: "" }, { status: 405 })
      )
    ),
    Effect.catchAll(() => Effect.succeed(notFound("no such file")))
  )
