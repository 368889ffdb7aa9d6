// Errors of the config area (see base.ts for the convention).
import { Data } from "effect"
import type { OperatorError } from "./base.js"

/**
 * A config/secrets file exists but cannot be used. `problems` holds one line
 * per problem, each naming the field path, what was expected and what was
 * found (values of secrets files are never shown).
 */
export class ConfigInvalid
  extends Data.TaggedError("ConfigInvalid")<{
    readonly file: string
    readonly problems: ReadonlyArray<string>
  }>
  implements OperatorError
{
  readonly code = "config_invalid"
  get hint() {
    return `fix the field(s) named above in ${this.file}; the example files in data/ show every field with its default`
  }
  override get message() {
    return this.problems.length === 1
      ? `invalid config ${this.file}: ${this.problems[0]}`
      : `invalid config ${this.file} (${this.problems.length} problems):\n${this.problems.map((p) => `  - ${p}`).join("\n")}`
  }
}

/** The file is not there. `example` names the file to copy, when there is one. */
export class ConfigMissing
  extends Data.TaggedError("ConfigMissing")<{
    readonly file: string
    readonly example?: string | undefined
  }>
  implements OperatorError
{
  readonly code = "config_missing"
  get hint() {
    // The sample and the missing file can be the same path (the default one):
    // "copy X to X" helps nobody; the run is then likely outside the project.
    return this.example !== undefined && this.example !== this.file
      ? `copy ${this.example} to ${this.file} and fill it in`
      : `run provision from the project root (the folder holding data/), create ${this.file}, or pass another file with --config FILE`
  }
  override get message() {
    return `config file ${this.file} not found`
  }
}
