/**
 * `provision serve [--host 127.0.0.1] [--port 8080]`: the web UI over the
 * inventory (and factory files), or `--rollout-only` the firmware cache.
 * Bound to loopback it needs no password; bound elsewhere it requires
 * web.admin_password from secrets. The server itself is the WebServer
 * service (app/WebServer.ts), provided by the entry point (web/server.ts).
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { WebServer } from "../app/WebServer.js"
import { describeError, isOperatorError } from "../domain/errors/base.js"
import { ExitCodes, ExitWith } from "./exit.js"
import { integerFlag } from "./flagValues.js"

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
        const web = yield* WebServer
        if (f.rolloutOnly) {
          const served = yield* web.startFirmwareServer({ host: f.host, port: f.port, configFile: Option.getOrUndefined(f.config) })
          yield* Console.log(`provision firmware server: ${served.url}firmware/ (files of ${served.dir}; rollout only, Ctrl+C to stop)`)
          return yield* Effect.never
        }
        const url = yield* web.startWebUi({
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
      )
    )
).pipe(Command.withDescription("Web UI: inventory (rename, planned address, Stage 3 runs with live lines) and factory reports."))
