// Whole-number flags with a range. @effect/cli's `Options.integer` reports
// `'abc' is not a integer` without naming the flag, and takes any range
// (`--port 70000` then failed deep inside with a stack trace); these read the
// text and answer in one line that names the flag, the range and the value.
import { HelpDoc, Options, ValidationError } from "@effect/cli"
import { Effect, Either, ParseResult, Schema } from "effect"

export interface IntegerRange {
  readonly min: number
  readonly max: number
}

/** Node's timers stop at 2³¹−1 ms; seconds flags stay below that. */
export const MAX_FLAG_SECONDS = Math.floor((2 ** 31 - 1) / 1000)

const wholeNumber = (range: IntegerRange) => Schema.NumberFromString.pipe(Schema.int(), Schema.between(range.min, range.max))

/** The one line for a bad value: `--port: expected a whole number from 0 to 65535, got "70000"`. */
export const flagProblem = (name: string, range: IntegerRange, raw: string): string =>
  `--${name}: expected a whole number from ${range.min} to ${range.max}, got ${JSON.stringify(raw)}`

export const parseIntegerFlag = (name: string, range: IntegerRange, raw: string): Either.Either<number, string> =>
  Either.mapLeft(ParseResult.decodeUnknownEither(wholeNumber(range))(raw.trim() === "" ? "x" : raw.trim()), () =>
    flagProblem(name, range, raw)
  )

/** `--name N` with N a whole number in `range`. */
export const integerFlag = (name: string, range: IntegerRange): Options.Options<number> =>
  Options.text(name).pipe(
    Options.withPseudoName("integer"),
    Options.mapEffect((raw) =>
      Either.match(parseIntegerFlag(name, range, raw), {
        onLeft: (message) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(message))),
        onRight: Effect.succeed
      })
    )
  )

/** Whether `--name ""` (an empty value as its own argument) is on the command line; @effect/cli drops such a pair. */
export const emptyFlagValue = (argv: ReadonlyArray<string>, name: string): boolean =>
  argv.some((arg, i) => arg === `--${name}` && argv[i + 1] === "")
