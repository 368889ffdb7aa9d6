/**
 * @effect/cli renders help, version, completions and flag errors as ANSI text
 * whatever the terminal. This Console removes the colour codes again where
 * the product prints no colour (`NO_COLOR`, a pipe, a file — the same rule as
 * every other line, report/terminal.ts `useColor`), per stream: stdout for
 * `log`/`info`, stderr for `error`/`warn`.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { useColor } from "../report/terminal.js"

const SGR = /\u001b\[[0-9;]*m/g

/** Text as a terminal without colours shows it. */
export const stripAnsi = (text: string): string => text.replace(SGR, "")

const plainArgs = (args: ReadonlyArray<unknown>): ReadonlyArray<unknown> =>
  args.map((arg) => (typeof arg === "string" ? stripAnsi(arg) : arg))

export const plainConsoleUnlessColor = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.consoleWith((console) => {
    const out = useColor(process.stdout)
    const err = useColor(process.stderr)
    if (out && err) return self
    const plain: Console.Console = {
      ...console,
      log: (...args) => (out ? console.log(...args) : console.log(...plainArgs(args))),
      info: (...args) => (out ? console.info(...args) : console.info(...plainArgs(args))),
      error: (...args) => (err ? console.error(...args) : console.error(...plainArgs(args))),
      warn: (...args) => (err ? console.warn(...args) : console.warn(...plainArgs(args)))
    }
    return Console.withConsole(self, plain)
  })
