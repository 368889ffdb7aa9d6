// data/config.yaml: one section per stage plus logging; every field has its default.
import { Schema } from "effect"
import { withDefaults } from "./fields.js"
import { LoggingConfig } from "./logging.js"
import { Stage1Config } from "./stage1.js"
import { Stage2Config } from "./stage2.js"
import { Stage3Config } from "./stage3.js"

export const AppConfig = Schema.Struct({
  stage1: withDefaults(Stage1Config),
  stage2: withDefaults(Stage2Config),
  stage3: withDefaults(Stage3Config),
  logging: withDefaults(LoggingConfig)
})
export type AppConfig = typeof AppConfig.Type

/** Every default, as a file with no keys would give. */
export const defaultAppConfig = (): AppConfig => Schema.decodeUnknownSync(AppConfig)({})
