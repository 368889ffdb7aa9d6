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
import { loadAppConfig, loadSecrets } from "../config/index.js"
import { DEFAULT_FIRMWARE_DIR } from "../firmware/cache.js"
import { firmwareOnlyApp } from "../web/firmware.js"
import { describeError, isOperatorError } from "../domain/errors/base.js"
import { WebPasswordMissing } from "../domain/errors/web.js"
import { loadInventorySettings } from "../app/inventory/operations.js"
import { InventoryLive, ProjectLockLive } from "../inventory/index.js"
import { ShellyRpcWithCredentialsLive } from "../credentials/rpc.js"
import { makeWebApp } from "../web/app.js"
import { isLoopbackHost } from "../web/session.js"
import { ExitCodes, ExitWith } from "./exit.js"
import { lineDashboardFor } from "./serveLine.js"
import { integerFlag } from "./flagValues.js"

export interface ServeOptions {
  readonly host: string
  readonly port: number
  readonly configFile?: string | undefined
  readonly requirePassword?: boolean | undefined
  /** `--database`: the shared store for the live line dashboard (else PROVISION_DATABASE_URL, else factory-config's database.url). */
  readonly database?: string | undefined
}

export const webLayer = Layer.mergeAll(ShellyRpcWithCredentialsLive, InventoryLive, ProjectLockLive)

const urlOf = (address: HttpServer.Address): string =>
  address._tag === "TcpAddress"
    ? `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}/`
    : `unix:${address.path}`

/**
 * Starts the web UI for the life of the scope and returns its URL (the demo
 * uses this too, then waits or closes the scope).
 */
export const startWebUi = (options: ServeOptions) =>
  Effect.gen(function* () {
    const settings = yield* loadInventorySettings(options.configFile)
    for (const warning of settings.warnings) yield* Console.error(`warning: ${warning}`)
    const secrets = yield* loadSecrets()
    const adminPassword = secrets.value.web?.admin_password
    if ((!isLoopbackHost(options.host) || options.requirePassword === true) && adminPassword === undefined) {
      return yield* new WebPasswordMissing({ host: options.host, secretsFile: secrets.file ?? "data/secrets.yaml" })
    }
    const line = yield* lineDashboardFor(options.database)
    const firmwareDir = yield* firmwareDirOf(options.configFile)
    const rolloutStateFile = yield* loadAppConfig(options.configFile).pipe(
      Effect.map((loaded) => loaded.value.stage3.rollout.state_file),
      Effect.orElseSucceed(() => "var/rollout/state.json")
    )
    const app = yield* makeWebApp({
      settings,
      configFile: options.configFile,
      host: options.host,
      adminPassword,
      requirePassword: options.requirePassword,
      firmwareDir,
      rolloutStateFile,
      line
    })
    const server = yield* Layer.build(NodeHttpServer.layer(() => createServer(), { host: options.host, port: options.port }))
    yield* HttpServer.serveEffect(app).pipe(Effect.provide(server))
    const address = yield* HttpServer.HttpServer.pipe(
      Effect.map((s) => s.address),
      Effect.provide(server)
    )
    return urlOf(address)
  })

const firmwareDirOf = (configFile: string | undefined) =>
  loadAppConfig(configFile).pipe(
    Effect.map((loaded) => loaded.value.stage3.ota.firmware_dir),
    Effect.catchTag("ConfigMissing", (e) => (configFile === undefined ? Effect.succeed(DEFAULT_FIRMWARE_DIR) : Effect.fail(e)))
  )

/**
 * `serve --rollout-only`: only `GET /firmware/<sha256>.zip` from the cache —
 * no UI, no API, no login — so it may listen on the LAN for devices to update from.
 */
export const startFirmwareServer = (options: {
  readonly host: string
  readonly port: number
  readonly configFile?: string | undefined
  /** The cache folder; default stage3.ota.firmware_dir of the config. */
  readonly dir?: string | undefined
}) =>
  Effect.gen(function* () {
    const dir = options.dir ?? (yield* firmwareDirOf(options.configFile))
    const server = yield* Layer.build(NodeHttpServer.layer(() => createServer(), { host: options.host, port: options.port }))
    yield* HttpServer.serveEffect(firmwareOnlyApp(dir)).pipe(Effect.provide(server))
    const address = yield* HttpServer.HttpServer.pipe(
      Effect.map((s) => s.address),
      Effect.provide(server)
    )
    return { url: urlOf(address), dir }
  })

export const serveCommand = Command.make(
  "serve",
  {
    host: Options.text("host").pipe(
      Options.withDefault("127.0.0.1"),
      Options.withDescription("Address to bind (default 127.0.0.1; anything else requires web.admin_password in secrets).")
    ),
    port: integerFlag("port", { min: 0, max: 65535 }).pipe(
      Options.withDefault(8080),
      Options.withDescription("TCP port (0 = any free port).")
    ),
    auth: Options.boolean("auth").pipe(
      Options.withDescription("Require the admin password on loopback too (always required on other addresses).")
    ),
    config: Options.text("config").pipe(Options.optional, Options.withDescription("Config file (default data/config.yaml).")),
    database: Options.text("database").pipe(
      Options.optional,
      Options.withDescription(
        "Shared PostgreSQL of the factory line for the live dashboard (else PROVISION_DATABASE_URL, else database.url)."
      )
    ),
    rolloutOnly: Options.boolean("rollout-only").pipe(
      Options.withDescription(
        "Serve only the firmware cache (GET /firmware/<sha256>.zip, read-only, no login) for devices updating in a rollout; no UI. Safe to bind beyond loopback."
      )
    )
  },
  (f) =>
    Effect.scoped(
      Effect.gen(function* () {
        if (f.rolloutOnly) {
          const served = yield* startFirmwareServer({ host: f.host, port: f.port, configFile: Option.getOrUndefined(f.config) })
          yield* Console.log(`provision firmware server: ${served.url}firmware/ (files of ${served.dir}; rollout only, Ctrl+C to stop)`)
          return yield* Effect.never
        }
        const url = yield* startWebUi({
          host: f.host,
          port: f.port,
          configFile: Option.getOrUndefined(f.config),
          requirePassword: f.auth,
          database: Option.getOrUndefined(f.database)
        })
        yield* Console.log(`provision web UI: ${url} (Ctrl+C to stop)`)
        return yield* Effect.never
      })
    ).pipe(
      Effect.catchAll((error: unknown) =>
        typeof error === "object" && error !== null && "_tag" in error && error._tag === "ServeError"
          ? Effect.zipRight(
              Console.error(
                `error: cannot listen on ${f.host}:${f.port} (${String((error as { cause?: unknown }).cause)}) — choose another --port or --host`
              ),
              Effect.fail(new ExitWith({ exitCode: ExitCodes.invalidInput }))
            )
          : isOperatorError(error)
            ? Effect.zipRight(
                Console.error(`error: ${describeError(error)}`),
                Effect.fail(new ExitWith({ exitCode: ExitCodes.invalidInput }))
              )
            : Effect.die(error)
      ),
      Effect.provide(webLayer)
    )
).pipe(Command.withDescription("Web UI: inventory (rename, planned address, Stage 3 runs with live lines) and factory reports."))
