/**
 * Starting the web UI (and the firmware-only server of a rollout) as a
 * service, so the `serve` and `demo` subcommands can start it without
 * importing web/ (DESIGN.md: cli/ and web/ never import each other). The Live
 * layer is web/server.ts; the entry points (src/main.ts, the bundle entries of
 * scripts/build.mjs) provide it to the subcommands that are marked `web` in
 * cli/select.ts, loading web/ only for those.
 */
import type { PlatformError } from "@effect/platform/Error"
import type { ServeError } from "@effect/platform/HttpServerError"
import { Context, type Effect, type Scope } from "effect"
import type { ConfigInvalid, ConfigMissing } from "../domain/errors/config.js"
import type { DatabaseUnreachable, DatabaseUrlInvalid } from "../domain/errors/store.js"
import type { WebPasswordMissing } from "../domain/errors/web.js"

export interface ServeOptions {
  readonly host: string
  readonly port: number
  readonly configFile?: string | undefined
  readonly requirePassword?: boolean | undefined
  /** `--database`: the shared store for the live line dashboard (else PROVISION_DATABASE_URL, else factory-config's database.url). */
  readonly database?: string | undefined
}

export interface FirmwareServeOptions {
  readonly host: string
  readonly port: number
  readonly configFile?: string | undefined
  /** The cache folder; default stage3.ota.firmware_dir of the config. */
  readonly dir?: string | undefined
}

export type WebStartError =
  | ConfigInvalid
  | ConfigMissing
  | WebPasswordMissing
  | DatabaseUrlInvalid
  | DatabaseUnreachable
  | ServeError
  | PlatformError

export interface WebServerService {
  /** Serves the web UI for the life of the scope; its URL. */
  readonly startWebUi: (options: ServeOptions) => Effect.Effect<string, WebStartError, Scope.Scope>
  /**
   * `serve --rollout-only`: only `GET /firmware/<sha256>.zip` from the cache —
   * no UI, no API, no login — so it may listen on the LAN for devices to update from.
   */
  readonly startFirmwareServer: (
    options: FirmwareServeOptions
  ) => Effect.Effect<{ readonly url: string; readonly dir: string }, WebStartError, Scope.Scope>
}

export class WebServer extends Context.Tag("fleet-provision/WebServer")<WebServer, WebServerService>() {}
