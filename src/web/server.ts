/**
 * The web server behind `provision serve` and the demo: the web UI over the
 * inventory (and factory files), or the firmware-only server of a rollout.
 * Bound to loopback the UI needs no password; bound elsewhere it requires
 * web.admin_password from secrets. `WebServerLive` is the app's WebServer
 * service (app/WebServer.ts); `provideWebServer` gives it to a subcommand.
 */
import type { Command as CliCommand } from "@effect/cli"
import * as Command from "@effect/cli/Command"
import { FileSystem, HttpServer, Path } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { createServer } from "node:http"
import { loadAppConfig, loadSecrets } from "../config/index.js"
import { DEFAULT_FIRMWARE_DIR } from "../firmware/cache.js"
import { firmwareOnlyApp } from "./firmware.js"
import { WebPasswordMissing } from "../domain/errors/web.js"
import { loadInventorySettings } from "../app/inventory/operations.js"
import { type FirmwareServeOptions, type ServeOptions, WebServer } from "../app/WebServer.js"
import { InventoryLive, ProjectLockLive } from "../inventory/index.js"
import { ShellyRpcWithCredentialsLive } from "../credentials/rpc.js"
import { staleAfterMs } from "../factory/config.js"
import { loadFactoryConfig } from "../factory/loadConfig.js"
import { withSecretPassword } from "../store/databaseSecret.js"
import { resolveDatabase } from "../store/databaseUrl.js"
import { makeWebApp } from "./app.js"
import { isLoopbackHost } from "./session.js"

export type { ServeOptions } from "../app/WebServer.js"

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
export const startFirmwareServer = (options: FirmwareServeOptions) =>
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

/**
 * The web UI's line dashboard: on when a shared database is named by
 * `--database`, PROVISION_DATABASE_URL, or database.url in
 * data/factory-config.yaml (a missing or broken factory config just leaves it off).
 */
/** As `provision flash` (not imported from flash.ts: that would load the driver eagerly). */
const DEFAULT_FACTORY_CONFIG = "data/factory-config.yaml"

export const lineDashboardFor = (flag: string | undefined) =>
  Effect.gen(function* () {
    const env = process.env.PROVISION_DATABASE_URL
    const config =
      flag || env
        ? undefined
        : yield* loadFactoryConfig(DEFAULT_FACTORY_CONFIG).pipe(
            Effect.map((c) => c.config),
            Effect.orElseSucceed(() => undefined)
          )
    const target = yield* resolveDatabase({ flag, env, config: config?.raw.database?.url, configFile: config?.file }).pipe(
      Effect.flatMap((t) => withSecretPassword(t, undefined))
    )
    if (!target) return undefined
    // Loaded only now: without a shared database the web UI never loads the PostgreSQL driver.
    const { makeLineDashboard } = yield* Effect.promise(() => import("./lineDashboard.js"))
    return yield* makeLineDashboard(target, staleAfterMs(config?.raw))
  })

/** The WebServer service over this process's file system and the Live services the web UI runs on. */
export const WebServerLive = Layer.effect(
  WebServer,
  Effect.map(Effect.context<FileSystem.FileSystem | Path.Path | Layer.Layer.Success<typeof webLayer>>(), (context) => ({
    startWebUi: (options: ServeOptions) => startWebUi(options).pipe(Effect.provide(context)),
    startFirmwareServer: (options: FirmwareServeOptions) => startFirmwareServer(options).pipe(Effect.provide(context))
  }))
).pipe(Layer.provide(webLayer))

/** A subcommand that starts the web server (`serve`, `demo`), with the service provided. */
export const provideWebServer = <Name extends string, R, E, A>(command: CliCommand.Command<Name, R, E, A>) =>
  Command.provide(command, WebServerLive)
