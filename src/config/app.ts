import type { FileSystem } from "@effect/platform"
import { Effect } from "effect"
import type { ConfigInvalid, ConfigMissing } from "../domain/errors/config.js"
import { loadYaml } from "./load.js"
import type { Loaded } from "./load.js"
import { DEFAULT_CONFIG_PATH } from "./paths.js"
import { AppConfig } from "./schema.js"

export interface LoadedAppConfig extends Loaded<AppConfig> {
  /** The file that was read (as given, e.g. `data/config.yaml`). */
  readonly file: string
}

/**
 * Loads `data/config.yaml` (or the `--config FILE` given), defaults applied.
 * Unknown keys come back as warnings for the caller to print.
 */
export const loadAppConfig = (
  file: string = DEFAULT_CONFIG_PATH
): Effect.Effect<LoadedAppConfig, ConfigInvalid | ConfigMissing, FileSystem.FileSystem> =>
  Effect.map(loadYaml(file, AppConfig), (loaded) => ({ ...loaded, file }))
