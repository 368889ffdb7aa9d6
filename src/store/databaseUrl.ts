/**
 * Where the shared database is: `--database URL`, else `PROVISION_DATABASE_URL`,
 * else `database.url` in factory-config.yaml; none of them → files only.
 * The URL is held as Redacted from the moment it is read (its password part
 * is a secret); only `display` (password → ***) is ever printed or logged.
 */
import { Effect, Redacted } from "effect"
import { DatabaseUrlInvalid } from "../domain/errors/store.js"

export interface DatabaseTarget {
  readonly url: Redacted.Redacted<string>
  /** `postgres://user:***@host:port/db` */
  readonly display: string
  /** Which setting named it: `--database`, `PROVISION_DATABASE_URL` or `database.url (<file>)`. */
  readonly source: string
}

/** The URL without its password (safe for logs, errors, the web UI). */
export const displayUrl = (raw: string): string => {
  try {
    const url = new URL(raw)
    if (url.password !== "") url.password = "***"
    return url.toString()
  } catch {
    return "<unparseable database URL>"
  }
}

export const parseDatabaseUrl = (raw: string, source: string): Effect.Effect<DatabaseTarget, DatabaseUrlInvalid> => {
  let url: URL
  try {
    url = new URL(raw.trim())
  } catch {
    // Never echo the text: it may hold the password.
    return Effect.fail(new DatabaseUrlInvalid({ source, problem: "not a URL" }))
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    return Effect.fail(new DatabaseUrlInvalid({ source, problem: `scheme ${url.protocol} is not postgres: or postgresql:` }))
  }
  if (url.hostname === "" && !url.searchParams.has("host")) {
    return Effect.fail(new DatabaseUrlInvalid({ source, problem: "no host" }))
  }
  return Effect.succeed({ url: Redacted.make(raw.trim()), display: displayUrl(raw.trim()), source })
}

export interface DatabaseSettings {
  /** `--database` */
  readonly flag?: string | undefined
  /** `PROVISION_DATABASE_URL` */
  readonly env?: string | undefined
  /** `database.url` of the config file, and that file's name. */
  readonly config?: string | undefined
  readonly configFile?: string | undefined
}

/** The database to use, or undefined for files only. */
export const resolveDatabase = (settings: DatabaseSettings): Effect.Effect<DatabaseTarget | undefined, DatabaseUrlInvalid> => {
  const nonEmpty = (s: string | undefined) => (s !== undefined && s.trim() !== "" ? s : undefined)
  const flag = nonEmpty(settings.flag)
  if (flag) return parseDatabaseUrl(flag, "--database")
  const env = nonEmpty(settings.env)
  if (env) return parseDatabaseUrl(env, "PROVISION_DATABASE_URL")
  const config = nonEmpty(settings.config)
  if (config) return parseDatabaseUrl(config, `database.url (${settings.configFile ?? "factory-config.yaml"})`)
  return Effect.succeed(undefined)
}

/** True when the URL carries its own password. */
export const hasPassword = (target: DatabaseTarget): boolean => {
  try {
    return new URL(Redacted.value(target.url)).password !== ""
  } catch {
    return false
  }
}

/**
 * The URL with the password from the secrets file (`database.password`), so
 * `database.url` in factory-config.yaml can leave it out. A password in the
 * URL itself wins. The display form stays without it.
 */
export const withPassword = (
  target: DatabaseTarget,
  password: Redacted.Redacted<string> | undefined,
  secretsFile: string
): DatabaseTarget => {
  if (password === undefined || hasPassword(target)) return target
  const url = new URL(Redacted.value(target.url))
  // Percent-encoded, as in a URL written by hand (the driver decodes it): `@ : / %` stay part of the password.
  url.password = encodeURIComponent(Redacted.value(password))
  return { url: Redacted.make(url.toString()), display: target.display, source: `${target.source} + database.password (${secretsFile})` }
}
