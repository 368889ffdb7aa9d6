import { Path } from "@effect/platform"
import { Effect } from "effect"

export const DEFAULT_CONFIG_PATH = "data/config.yaml"
export const DEFAULT_SECRETS_PATH = "data/secrets.yaml"
export const SECRETS_EXAMPLE_PATH = "data/secrets.example.yaml"

/** Config paths are relative to the project root (the current directory); absolute paths stay. */
export const resolvePath = (root: string, p: string): Effect.Effect<string, never, Path.Path> =>
  Effect.map(Path.Path, (path) => (path.isAbsolute(p) ? path.normalize(p) : path.join(root, p)))
