/**
 * The shared database's password from the secrets file (`database.password`
 * in data/secrets.yaml, or `--secrets FILE`), for a URL written without one.
 * The secrets file is read only when the URL lacks a password; the default
 * file may be absent (then the URL is used as it is).
 */
import { Effect } from "effect"
import { loadSecrets } from "../config/secrets.js"
import { DEFAULT_SECRETS_PATH } from "../config/paths.js"
import { type DatabaseTarget, hasPassword, withPassword } from "./databaseUrl.js"

export const withSecretPassword = (target: DatabaseTarget | undefined, secretsFile: string | undefined) =>
  target === undefined || hasPassword(target)
    ? Effect.succeed(target)
    : loadSecrets(secretsFile).pipe(
        Effect.map((secrets) => withPassword(target, secrets.value.database?.password, secrets.file ?? secretsFile ?? DEFAULT_SECRETS_PATH))
      )
