// config.yaml `logging:` — where log files go and how they rotate.
import { Schema } from "effect"
import { ByteSize, FilePath, NonNegativeInt } from "./fields.js"

export const LogLevelName = Schema.Literal("debug", "info", "warning", "error")
export type LogLevelName = typeof LogLevelName.Type

export const LoggingConfig = Schema.Struct({
  /** Directory for log files, relative to the project root. */
  base_path: Schema.optionalWith(FilePath, { default: () => "var/log" }),
  level: Schema.optionalWith(LogLevelName, { default: () => "info" as const }),
  /** Rotate when a log file would grow past this (bytes, or e.g. `5MB`). */
  max_file_size: Schema.optionalWith(ByteSize, { default: () => 5 * 1024 * 1024 }),
  /** Rotated files kept: file.1 … file.N (0: the file is truncated instead). */
  backup_count: Schema.optionalWith(NonNegativeInt, { default: () => 3 })
})
export type LoggingConfig = typeof LoggingConfig.Type
