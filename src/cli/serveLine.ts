/**
 * The web UI's line dashboard: on when a shared database is named by
 * `--database`, PROVISION_DATABASE_URL, or database.url in
 * data/factory-config.yaml (a missing or broken factory config just leaves it off).
 */
import { Effect } from "effect"
import { loadFactoryConfig } from "../factory/loadConfig.js"
import { resolveDatabase } from "../store/databaseUrl.js"
import { withSecretPassword } from "./databaseSecret.js"

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
    const { makeLineDashboard } = yield* Effect.promise(() => import("../web/lineDashboard.js"))
    return yield* makeLineDashboard(target, 3000 * (config?.raw.database?.heartbeat_s ?? 2))
  })
