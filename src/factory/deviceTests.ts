import { Duration, Effect } from "effect"
import { BootNotSeen, SelfTestFailed } from "../domain/errors/factory.js"
import type { SerialIoError } from "../domain/errors/serial.js"
import type { SerialConnection } from "../serial/SerialPorts.js"
import type { DeviceTest } from "./config.js"
import type { TestResult } from "./result.js"

/** A reply line that ends a test early as failed (`FAIL …`, `ERR …`): no need to wait for the timeout. */
const NEGATIVE = /^(FAIL|ERR|ERROR)\b/i

/** Reads the console line by line; `pending` keeps a partial line between reads. */
export class ConsoleReader {
  private pending = ""
  /** Everything seen, for error messages (bounded). */
  seen = ""
  constructor(private readonly conn: SerialConnection) {}

  /** Waits until `accept` picks a line (returns it) or the deadline passes (undefined). */
  nextLine(accept: (line: string) => boolean, timeoutMs: number): Effect.Effect<string | undefined, SerialIoError> {
    const deadline = Date.now() + timeoutMs
    const self = this
    return Effect.gen(function* () {
      while (true) {
        const lines = self.pending.split(/\r?\n/)
        self.pending = lines.pop() ?? ""
        for (const line of lines) {
          const trimmed = line.trim()
          if (trimmed !== "" && accept(trimmed)) return trimmed
        }
        const left = deadline - Date.now()
        if (left <= 0) return undefined
        const chunk = yield* self.conn.read(Duration.millis(Math.min(left, 200)))
        if (chunk.length > 0) {
          const text = new TextDecoder().decode(chunk)
          self.pending += text
          self.seen = (self.seen + text).slice(-2000)
        }
      }
    })
  }
}

/**
 * Waits for the application's boot banner (any output when `banner` is empty).
 * Returns whether it was seen; the caller decides if a missing banner fails
 * the board (it does not when a self-test can still prove the firmware runs).
 */
export const awaitBootBanner = (reader: ConsoleReader, banner: string, timeoutMs: number) =>
  reader.nextLine((line) => banner === "" || line.includes(banner), timeoutMs).pipe(Effect.map((line) => line !== undefined))

export const bootNotSeen = (port: string, banner: string, timeoutMs: number, reader: ConsoleReader) =>
  new BootNotSeen({ port, banner, timeoutMs, received: reader.seen.trim() })

/**
 * Sends each test command (one line) and waits, per test, for a line that
 * contains `expected_response`; a `FAIL`/`ERR` line or the timeout fails it.
 * Every test runs (all results are recorded); the first failure is returned
 * as the board's reason.
 */
export const runDeviceTests = (conn: SerialConnection, reader: ConsoleReader, tests: ReadonlyArray<DeviceTest>) =>
  Effect.gen(function* () {
    const results: Array<TestResult> = []
    let firstFailure: SelfTestFailed | undefined
    for (const test of tests) {
      const started = Date.now()
      yield* conn.write(new TextEncoder().encode(`${test.command}\r\n`))
      const line = yield* reader.nextLine(
        (candidate) => candidate.includes(test.expected_response) || NEGATIVE.test(candidate),
        test.timeout * 1000
      )
      const passed = line !== undefined && line.includes(test.expected_response)
      results.push({ name: test.name, command: test.command, passed, response: line ?? "", durationMs: Date.now() - started })
      if (!passed && firstFailure === undefined) {
        firstFailure = new SelfTestFailed({
          port: conn.path,
          test: test.name,
          command: test.command,
          expected: test.expected_response,
          received: line ?? "",
          timedOut: line === undefined
        })
      }
    }
    return { results, failure: firstFailure }
  })
