// The web UI's routes. Every handler runs behind `guarded`: session cookie,
// password when bound beyond loopback, CSRF token on writes, Host check
// against DNS rebinding; every failure becomes a 4xx/5xx with a message.
import { FileSystem, HttpRouter, HttpServerRequest, HttpServerResponse, Path } from "@effect/platform"
import { Effect, Either, Option, type Redacted, Schema, Stream } from "effect"
import { isOperatorError } from "../domain/errors/base.js"
import { BadRequest } from "../domain/errors/web.js"
import { parseIpv4 } from "../domain/ipv4.js"
import { ProjectLock } from "../inventory/Inventory.js"
import { type InventorySettings, loadRows, probeRows, setFriendlyName, setPlannedIp } from "../app/inventory/operations.js"
import { cappedBodyForm, cappedBodyJson } from "./body.js"
import { backupsPage, deviceBackups, macParam } from "./backups.js"
import { DEFAULT_BACKUP_DIR } from "../backup/files.js"
import { loadRolloutState } from "../app/rollout.js"
import { DEFAULT_FIRMWARE_DIR, loadFirmwareIndex } from "../firmware/cache.js"
import { clientScript } from "./client.js"
import { withFirmwareRoute } from "./firmware.js"
import { firmwarePage, rolloutEvents, rolloutScript } from "./rollout.js"
import { isPlainFileName, loadFactory, RECORDS_DIR, REPORTS_DIR } from "./factory.js"
import { factoryPage, inventoryPage, lockBanner, loginPage } from "./pages.js"
import { boardPage, type LineDashboard, lineEvent, linePage, lineScript } from "./line.js"
import { makeRuns, sseMessage } from "./runs.js"
import { clipMessage, makeLoginThrottle, MAX_BODY_BYTES, SECURITY_HEADERS } from "./limits.js"
import { CSRF_HEADER, isLoopbackHost, makeSessions, sameSecret, type Session, SESSION_COOKIE } from "./session.js"

export interface WebOptions {
  readonly settings: InventorySettings
  /** `--config` as given (Stage 3 runs load it again, like the CLI does). */
  readonly configFile: string | undefined
  /** The address the server binds to. */
  readonly host: string
  /** Required when `host` is not loopback or `requirePassword` is set. */
  readonly adminPassword: Redacted.Redacted<string> | undefined
  /** Ask for the password on loopback too (shared machines). */
  readonly requirePassword?: boolean | undefined
  /** The shared database's live line view; absent: the factory page shows this machine's files. */
  readonly line?: LineDashboard | undefined
  /** The firmware cache served at /firmware/<sha256>.zip (stage3.ota.firmware_dir). */
  readonly firmwareDir?: string | undefined
  /** The rollout state the firmware page follows (stage3.rollout.state_file). */
  readonly rolloutStateFile?: string | undefined
}

const statusOf = (tag: string): number =>
  tag === "DeviceNotFound"
    ? 404
    : tag === "LockHeld"
      ? 423
      : tag === "RunBusy"
        ? 409
        : tag === "BodyTooLarge"
          ? 413
          : tag === "InventoryReadError" ||
              tag === "StateWriteError" ||
              tag === "LockFailed" ||
              tag === "ConfigInvalid" ||
              tag === "ConfigMissing"
            ? 500
            : 400

const errorBody = (status: number, error: string, code: string, hint = "") =>
  HttpServerResponse.unsafeJson({ error: clipMessage(error), code, hint }, { status })

// The rest of an oversized body is read and dropped by node (never kept), so
// the client still gets to read this answer.
const tooLarge = () => errorBody(413, `request body over ${MAX_BODY_BYTES} bytes`, "body_too_large", "send a smaller request")

/** The node reader's failure when a body passes `MaxBodySize`. */
const isBodyTooLarge = (error: unknown): boolean =>
  typeof error === "object" &&
  error !== null &&
  "_tag" in error &&
  error._tag === "RequestError" &&
  "cause" in error &&
  error.cause instanceof Error &&
  error.cause.message === "maxBytes exceeded"

/** Operator errors keep their message; anything else is a generic 500 (details stay in the server log). */
const toErrorResponse = (error: unknown) =>
  isBodyTooLarge(error)
    ? Effect.succeed(tooLarge())
    : typeof error === "object" && error !== null && "_tag" in error && error._tag === "RouteNotFound"
      ? Effect.succeed(errorBody(404, "no such page", "not_found"))
      : isOperatorError(error)
        ? Effect.succeed(errorBody(statusOf(error._tag), error.message, error.code, error.hint))
        : typeof error === "object" && error !== null && "_tag" in error && (error._tag === "ParseError" || error._tag === "RequestError")
          ? Effect.succeed(
              errorBody(400, `bad request: ${String((error as { message?: unknown }).message ?? error._tag).split("\n")[0]}`, "bad_request")
            )
          : Effect.logError("web request failed", error).pipe(Effect.as(errorBody(500, "internal error", "internal")))

const page = (body: string, status = 200) => HttpServerResponse.text(body, { status, contentType: "text/html; charset=utf-8" })

const NameBody = Schema.Struct({ name: Schema.String })
const IpBody = Schema.Struct({ ip: Schema.String })
const RunBody = Schema.Struct({ ips: Schema.Array(Schema.String), dryRun: Schema.Boolean })

const hostOf = (header: string | undefined): string | undefined => {
  if (header === undefined) return undefined
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(header)
  return bracket ? bracket[1] : header.replace(/:\d+$/, "")
}

export const makeWebApp = (options: WebOptions) =>
  Effect.gen(function* () {
    const sessions = makeSessions()
    const logins = makeLoginThrottle()
    const runs = makeRuns(options.configFile)
    const loopback = isLoopbackHost(options.host)
    const needsPassword = !loopback || options.requirePassword === true
    const { settings } = options

    const guarded = <E, R>(
      mode: "page" | "api" | "write",
      handler: (session: Session) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
    ) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        // Bound to loopback, only loopback names may reach us (a rebound DNS name may not).
        if (loopback && !isLoopbackHost(hostOf(request.headers["host"]) ?? "")) {
          return errorBody(421, "this server answers only to loopback host names", "host_not_allowed")
        }
        let session = sessions.get(request.cookies[SESSION_COOKIE])
        let fresh = false
        if (session === undefined) {
          if (needsPassword) {
            return mode === "page"
              ? HttpServerResponse.redirect("/login", { status: 303 })
              : errorBody(401, "sign in first", "unauthorized", "open /login")
          }
          // Only a page visit opens a session: cookieless API calls get none
          // (writes then fail the CSRF check), so they cannot fill the table.
          session = mode === "page" ? sessions.create() : { id: "", csrf: "" }
          fresh = mode === "page"
        }
        if (mode === "write" && (session.csrf === "" || request.headers[CSRF_HEADER] !== session.csrf)) {
          return errorBody(403, "missing or wrong CSRF token", "csrf", "reload the page and try again")
        }
        const response = yield* handler(session)
        return fresh
          ? HttpServerResponse.unsafeSetCookie(response, SESSION_COOKIE, session.id, { httpOnly: true, sameSite: "strict", path: "/" })
          : response
      }).pipe(Effect.catchAll(toErrorResponse), Effect.catchAllDefect(toErrorResponse))

    const pathParam = (name: string) =>
      Effect.flatMap(HttpRouter.params, (params) =>
        params[name] === undefined ? Effect.fail(new BadRequest({ reason: `missing ${name}` })) : Effect.succeed(params[name]!)
      )

    /**
     * A file of `dir` only when, links resolved, it is a regular file inside
     * `root` (the folder itself resolved too): a link to data/secrets.yaml,
     * a FIFO or a directory is "no file".
     */
    const download = (dir: string, name: string, type: string, root: string = dir) =>
      Effect.gen(function* () {
        if (!isPlainFileName(name)) return yield* new BadRequest({ reason: `not a file name: ${name}` })
        const path = yield* Path.Path
        const fs = yield* FileSystem.FileSystem
        const file = path.join(dir, name)
        const missing = errorBody(404, `no file ${name} in ${dir}`, "not_found")
        const real = yield* Effect.all([fs.realPath(root), fs.realPath(file)]).pipe(Effect.option)
        if (real._tag === "None") return missing
        const [realRoot, realFile] = real.value
        if (!realFile.startsWith(realRoot + path.sep)) return missing
        const info = yield* fs.stat(realFile).pipe(Effect.option)
        if (info._tag === "None" || info.value.type !== "File") return missing
        const bytes = yield* fs.readFile(realFile)
        return HttpServerResponse.uint8Array(bytes, {
          contentType: type,
          headers: { "content-disposition": `attachment; filename="${name}"` }
        })
      })

    // The live line dashboard (shared database): its script, board search, overview JSON and SSE.
    const lineRouter = HttpRouter.empty.pipe(
      HttpRouter.get("/line.js", Effect.succeed(HttpServerResponse.text(lineScript, { contentType: "text/javascript; charset=utf-8" }))),
      HttpRouter.get(
        "/factory/board",
        guarded("page", (session) =>
          Effect.gen(function* () {
            if (!options.line) return errorBody(404, "board search needs the shared database (database.url)", "not_found")
            const query = (yield* HttpServerRequest.schemaSearchParams(Schema.Struct({ q: Schema.String }))).q
            return page(boardPage(query, yield* options.line.search(query), session.csrf))
          })
        )
      ),
      HttpRouter.get(
        "/api/line",
        guarded("api", () =>
          options.line
            ? Effect.map(options.line.overview, (o) => HttpServerResponse.unsafeJson(o))
            : Effect.succeed(errorBody(404, "no shared database configured", "not_found"))
        )
      ),
      HttpRouter.get(
        "/api/line/events",
        guarded("api", () =>
          Effect.succeed(
            options.line
              ? HttpServerResponse.stream(Stream.map(options.line.events, lineEvent).pipe(Stream.encodeText), {
                  contentType: "text/event-stream",
                  headers: { "cache-control": "no-store", "x-accel-buffering": "no" }
                })
              : errorBody(404, "no shared database configured", "not_found")
          )
        )
      )
    )

    const firmwareDir = options.firmwareDir ?? DEFAULT_FIRMWARE_DIR
    const rolloutStateFile = options.rolloutStateFile ?? "var/rollout/state.json"
    // The firmware cache and the rollout's waves (src/web/rollout.ts).
    const firmwarePages = <E, R>(router: HttpRouter.HttpRouter<E, R>) =>
      router.pipe(
        HttpRouter.get(
          "/rollout.js",
          Effect.succeed(HttpServerResponse.text(rolloutScript, { contentType: "text/javascript; charset=utf-8" }))
        ),
        HttpRouter.get(
          "/rollout",
          guarded("page", (session) =>
            Effect.gen(function* () {
              const entries = yield* loadFirmwareIndex(firmwareDir)
              const state = yield* loadRolloutState(rolloutStateFile)
              return page(firmwarePage({ entries, firmwareDir, state, stateFile: rolloutStateFile, csrf: session.csrf }))
            })
          )
        ),
        HttpRouter.get(
          "/api/firmware",
          guarded("api", () => Effect.map(loadFirmwareIndex(firmwareDir), (entries) => HttpServerResponse.unsafeJson(entries)))
        ),
        HttpRouter.get(
          "/api/rollout",
          guarded("api", () => Effect.map(loadRolloutState(rolloutStateFile), (state) => HttpServerResponse.unsafeJson(state ?? null)))
        ),
        HttpRouter.get(
          "/api/rollout/events",
          guarded("api", () =>
            Effect.map(FileSystem.FileSystem, (fs) =>
              HttpServerResponse.stream(rolloutEvents(rolloutStateFile).pipe(Stream.provideService(FileSystem.FileSystem, fs)), {
                contentType: "text/event-stream",
                headers: { "cache-control": "no-store", "x-accel-buffering": "no" }
              })
            )
          )
        )
      )
    return HttpRouter.empty
      .pipe(
        withFirmwareRoute(firmwareDir),
        firmwarePages,
        HttpRouter.get("/app.js", Effect.succeed(HttpServerResponse.text(clientScript, { contentType: "text/javascript; charset=utf-8" }))),
        HttpRouter.get("/login", Effect.succeed(page(loginPage()))),
        HttpRouter.post(
          "/login",
          Effect.gen(function* () {
            if (!needsPassword) return HttpServerResponse.redirect("/", { status: 303 })
            const request = yield* HttpServerRequest.HttpServerRequest
            const client = Option.getOrElse(request.remoteAddress, () => "unknown")
            const wait = logins.retryAfter(client)
            if (wait > 0) {
              return page(loginPage(`too many attempts; try again in ${wait} s`), 429).pipe(
                HttpServerResponse.setHeader("retry-after", String(wait))
              )
            }
            const form = yield* cappedBodyForm(Schema.Struct({ password: Schema.String }))
            if (options.adminPassword === undefined || !sameSecret(form.password, options.adminPassword)) {
              logins.failed(client)
              return page(loginPage("wrong password"), 401)
            }
            logins.succeeded(client)
            const session = sessions.create()
            return HttpServerResponse.unsafeSetCookie(HttpServerResponse.redirect("/", { status: 303 }), SESSION_COOKIE, session.id, {
              httpOnly: true,
              sameSite: "strict",
              path: "/"
            })
          }).pipe(Effect.catchAll(toErrorResponse))
        ),
        HttpRouter.get(
          "/",
          guarded("page", (session) =>
            Effect.gen(function* () {
              const { rows } = yield* loadRows(settings)
              const holder = yield* Effect.flatMap(ProjectLock, (lock) => lock.holder)
              return page(
                inventoryPage({ rows, csrf: session.csrf, holder, stateFile: settings.stateFile, friendlyField: settings.friendlyField })
              )
            })
          )
        ),
        HttpRouter.get(
          "/factory",
          guarded("page", (session) =>
            options.line
              ? Effect.map(options.line.overview, (overview) => page(linePage(overview, options.line!.label, session.csrf)))
              : Effect.map(loadFactory(), ({ overview }) => page(factoryPage(overview, session.csrf)))
          )
        ),
        HttpRouter.get(
          "/factory/files",
          guarded("page", (session) => Effect.map(loadFactory(), ({ overview }) => page(factoryPage(overview, session.csrf))))
        )
      )
      .pipe(
        HttpRouter.concat(lineRouter),
        HttpRouter.get(
          "/files/:kind/:name",
          guarded("api", () =>
            Effect.gen(function* () {
              const kind = yield* pathParam("kind")
              const name = yield* pathParam("name")
              if (kind === "reports") return yield* download(REPORTS_DIR, name, "application/json")
              if (kind === "records") return yield* download(RECORDS_DIR, name, "text/csv; charset=utf-8")
              return errorBody(404, `no downloads of kind ${kind}`, "not_found")
            })
          )
        ),
        HttpRouter.get(
          "/qr/:file",
          guarded("api", () =>
            Effect.gen(function* () {
              const file = yield* pathParam("file")
              const { qr } = yield* loadFactory()
              const id = file.replace(/\.png$/, "")
              // Own keys only: `constructor`, `__proto__` are not labels.
              const recorded = Object.hasOwn(qr, id) ? qr[id] : undefined
              if (recorded === undefined) return errorBody(404, `no QR label for ${file}`, "not_found")
              const path = yield* Path.Path
              // Labels live where the factory config put them, but always under var/.
              return yield* download(path.dirname(recorded), path.basename(recorded), "image/png", "var")
            })
          )
        ),
        HttpRouter.get(
          "/devices/:mac/backups",
          guarded("page", (session) =>
            Effect.gen(function* () {
              const mac = yield* Effect.flatMap(pathParam("mac"), macParam)
              return page(backupsPage(mac, yield* deviceBackups(mac), session.csrf))
            })
          )
        ),
        HttpRouter.get(
          "/api/devices/:mac/backups",
          guarded("api", () =>
            Effect.map(
              Effect.flatMap(Effect.flatMap(pathParam("mac"), macParam), (mac) => deviceBackups(mac)),
              (list) => HttpServerResponse.unsafeJson(list)
            )
          )
        ),
        HttpRouter.get(
          "/devices/:mac/backups/:name",
          guarded("api", () =>
            Effect.gen(function* () {
              const mac = yield* Effect.flatMap(pathParam("mac"), macParam)
              const path = yield* Path.Path
              return yield* download(path.join(DEFAULT_BACKUP_DIR, mac), yield* pathParam("name"), "application/json")
            })
          )
        ),
        HttpRouter.get(
          "/api/devices",
          guarded("api", () => Effect.map(loadRows(settings), ({ rows }) => HttpServerResponse.unsafeJson(rows)))
        ),
        HttpRouter.get(
          "/api/online",
          guarded("api", () =>
            Effect.gen(function* () {
              const { rows } = yield* loadRows(settings)
              const online = yield* probeRows(settings, rows)
              return HttpServerResponse.unsafeJson(Object.fromEntries(online))
            })
          )
        ),
        HttpRouter.get(
          "/api/lock",
          guarded("api", () =>
            Effect.map(
              Effect.flatMap(ProjectLock, (lock) => lock.holder),
              (holder) => HttpServerResponse.unsafeJson({ holder: holder ?? null, banner: lockBanner(holder) ?? null })
            )
          )
        ),
        HttpRouter.post(
          "/api/devices/:mac/name",
          guarded("write", () =>
            Effect.gen(function* () {
              const mac = yield* pathParam("mac")
              const body = yield* cappedBodyJson(NameBody)
              const done = yield* setFriendlyName(settings, mac, body.name, "web rename")
              return HttpServerResponse.unsafeJson({ mac: done.device.mac, name: done.name, previous: done.previous })
            })
          )
        ),
        HttpRouter.post(
          "/api/devices/:mac/ip",
          guarded("write", () =>
            Effect.gen(function* () {
              const mac = yield* pathParam("mac")
              const body = yield* cappedBodyJson(IpBody)
              const done = yield* setPlannedIp(settings, mac, body.ip, "web set-ip")
              return HttpServerResponse.unsafeJson(done)
            })
          )
        ),
        HttpRouter.post(
          "/api/stage3",
          guarded("write", () =>
            Effect.gen(function* () {
              const body = yield* cappedBodyJson(RunBody)
              const bad = body.ips.find((ip) => Either.isLeft(parseIpv4(ip)))
              if (bad !== undefined) return yield* new BadRequest({ reason: `not an IPv4 address: ${bad}` })
              if (!body.dryRun) {
                const holder = yield* Effect.flatMap(ProjectLock, (lock) => lock.holder)
                if (holder !== undefined) return errorBody(423, lockBanner(holder)!, "lock_held")
              }
              const run = yield* runs.start({ dryRun: body.dryRun, ips: body.ips })
              return HttpServerResponse.unsafeJson({ id: run.id, dryRun: run.dryRun, ips: run.ips }, { status: 202 })
            })
          )
        ),
        HttpRouter.get(
          "/api/stage3/:id/events",
          guarded("api", () =>
            Effect.gen(function* () {
              const id = yield* pathParam("id")
              const run = Option.fromNullable(runs.get(id))
              if (Option.isNone(run)) return errorBody(404, `no run ${id}`, "not_found")
              return HttpServerResponse.stream(Stream.map(runs.events(run.value), sseMessage), {
                contentType: "text/event-stream",
                headers: { "cache-control": "no-store", "x-accel-buffering": "no" }
              })
            })
          )
        ),
        HttpRouter.catchAll((error) => toErrorResponse(error))
      )
      .pipe(
        // An unknown path fails the router itself, outside every route.
        Effect.catchAll(toErrorResponse),
        HttpServerRequest.withMaxBodySize(Option.some(MAX_BODY_BYTES)),
        // An announced oversized body is refused before a byte of it is read.
        (app) =>
          Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
            Number(request.headers["content-length"] ?? 0) > MAX_BODY_BYTES ? Effect.succeed(tooLarge()) : app
          ),
        Effect.map(HttpServerResponse.setHeaders(SECURITY_HEADERS))
      )
  })
