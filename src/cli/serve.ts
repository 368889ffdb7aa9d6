/**
 * `provision serve [--host 127.0.0.1] [--port 8080]`: the web UI over the
 * inventory (and factory files). Bound to loopback it needs no password;
 * bound elsewhere it requires web.admin_password from secrets.
 */
import { Command, Options } from "@effect/cli"
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Console, Effect, Layer, Option } from "effect"
import { createServer } from "node:http"
import { loadSecrets } from "../config/index.js"
import { describeError, isOperatorError } from "../domain/errors/base.js"
import { WebPasswordMissing } from "../domain/errors/web.js"
import { loadInventorySettings } from "../app/inventory/operations.js"
import { InventoryLive, ProjectLockLive } from "../inventory/index.js"
import { ShellyRpcLive } from "../shelly/ShellyRpcLive.js"
import { makeWebApp } from "../web/app.js"
import { isLoopbackHost } from "../web/session.js"
import { ExitCodes, ExitWith } from "./exit.js"

export interface ServeOptions {
  readonly host: string
  readonly port: number
  readonly configFile?: string | undefined
  readonly requirePassword?: boolean | undefined
}

export const webLayer = Layer.mergeAll(ShellyRpcLive, InventoryLive, ProjectLockLive)

const urlOf = (address: HttpServer.Address): string =>
  address._tag === "TcpAddress"
    ? `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}/`
    : `unix:${address.path}`

/**
 * Starts the web UI for the life of the scope and returns its URL (the demo
 * uses this too, then waits or closes the scope).
 */
export const startWebUi = (options: ServeOptions) =>
  Effect.gen(function*() {
    const settings = yield* loadInventorySettings(options.configFile)
    for (const warning of settings.warnings) yield* Console.error(`warning: ${warning}`)
    const secrets = yield* loadSecrets()
    const adminPassword = secrets.value.web?.admin_password
    if ((!isLoopbackHost(options.host) || options.requirePassword === true) && adminPassword === undefined) {
      return yield* new WebPasswordMissing({ host: options.host, secretsFile: secrets.file ?? "data/secrets.yaml" })
    }
    const app = yield* makeWebApp({ settings, configFile: options.configFile, host: options.host, adminPassword, requirePassword: options.requirePassword })
    const server = yield* Layer.build(NodeHttpServer.layer(() => createServer(), { host: options.host, port: options.port }))
    yield* HttpServer.serveEffect(app).pipe(Effect.provide(server))
    const address = yield* HttpServer.HttpServer.pipe(Effect.map((s) => s.address), Effect.provide(server))
    return urlOf(address)
  })

export const serveCommand = Command.make(
  "serve",
  {
    host: Options.text("host").pipe(
      Options.withDefault("127.0.0.1"),
      Options.withDescription("Address to bind (default 127.0.0.1; anything else requires web.admin_password in secrets).")
    ),
    port: Options.integer("port").pipe(Options.withDefault(8080), Options.withDescription("TCP port (0 = any free port).")),
    auth: Options.boolean("auth").pipe(
      Options.withDescription("Require the admin password on loopback too (always required on other addresses).")
    ),
    config: Options.text("config").pipe(Options.optional, Options.withDescription("Config file (default data/config.yaml)."))
  },
  (f) =>
    Effect.scoped(
      Effect.gen(function*() {
        const url = yield* startWebUi({ host: f.host, port: f.port, configFile: Option.getOrUndefined(f.config), requirePassword: f.auth })
        yield* Console.log(`provision web UI: ${url} (Ctrl+C to stop)`)
        return yield* Effect.never
      })
    ).pipe(
      Effect.catchAll((error: unknown) =>
        typeof error === "object" && error !== null && "_tag" in error && error._tag === "ServeError"
          ? Effect.zipRight(
            Console.error(`error: cannot listen on ${f.host}:${f.port} (${String((error as { cause?: unknown }).cause)}) — choose another --port or --host`),
            Effect.fail(new ExitWith({ exitCode: ExitCodes.invalidInput }))
          )
          : isOperatorError(error)
          ? Effect.zipRight(Console.error(`error: ${describeError(error)}`), Effect.fail(new ExitWith({ exitCode: ExitCodes.invalidInput })))
          : Effect.die(error)
      ),
      Effect.provide(webLayer)
    )
).pipe(Command.withDescription("Web UI: inventory (rename, planned address, Stage 3 runs with live lines) and factory reports."))
