import { Duration, Effect, Schedule } from "effect"
import { bootloaderHint } from "./families.js"
import { FlashTimeout, SyncFailed } from "../domain/errors/flash.js"
import type { SerialIoError } from "../domain/errors/serial.js"
import type { SerialConnection } from "../serial/SerialPorts.js"

/**
 * Byte transport for the request/response bootloaders (AVR STK500v1, STM32
 * AN3155): sends, receives exactly n bytes, counts wire bytes both ways.
 *
 * Why a watchdog instead of `Effect.timeout` per read: a flash is hundreds of
 * exchanges, and a timeout per exchange (a fiber race plus a timer) cost about
 * 0.2–0.6 ms of host time each on the loaded 2-core bench machine — the largest
 * share of the turnaround between one reply and the next request. Here each wait
 * only records its step and deadline; `guard` runs one watchdog beside a whole
 * phase that fails it with `FlashTimeout` (naming the step) once a wait has run
 * past its deadline. The watchdog polls every `WATCHDOG_TICK`, so a timeout
 * fires up to that much late.
 */
const WATCHDOG_TICK = Duration.millis(25)

export class McuLink {
  wireBytes = 0
  private step = ""
  private deadline = Number.POSITIVE_INFINITY
  private timeoutMs = 0

  constructor(readonly serial: SerialConnection) {}

  send(bytes: Uint8Array): Effect.Effect<void, SerialIoError> {
    this.wireBytes += bytes.length
    return this.serial.write(bytes)
  }

  /** Exactly `n` bytes; only bounded inside `guard` (the step and timeout name the FlashTimeout). */
  receive(step: string, n: number, timeout: Duration.DurationInput): Effect.Effect<Uint8Array, SerialIoError> {
    return Effect.suspend(() => {
      this.step = step
      this.timeoutMs = Duration.toMillis(timeout)
      this.deadline = performance.now() + this.timeoutMs
      return this.serial.readExactly(n, Duration.infinity)
    }).pipe(
      Effect.tap((bytes) =>
        Effect.sync(() => {
          this.deadline = Number.POSITIVE_INFINITY
          this.wireBytes += bytes.length
        })
      )
    )
  }

  /** Runs `phase` with the watchdog that bounds every `receive` in it. */
  guard<A, E, R>(phase: Effect.Effect<A, E, R>): Effect.Effect<A, E | FlashTimeout, R> {
    const overdue = Effect.suspend(() =>
      performance.now() > this.deadline
        ? Effect.fail(new FlashTimeout({ port: this.serial.path, step: this.step, timeoutMs: this.timeoutMs }))
        : Effect.void
    )
    const watchdog = Effect.forever(Effect.zipRight(Effect.sleep(WATCHDOG_TICK), overdue))
    return Effect.suspend(() => {
      this.deadline = Number.POSITIVE_INFINITY
      return Effect.raceFirst(phase, watchdog)
    }).pipe(Effect.ensuring(Effect.sync(() => void (this.deadline = Number.POSITIVE_INFINITY))))
  }
}

/**
 * Runs a bootloader's sync `attempt` up to `attempts` times (each a reset and
 * its tries); a bootloader that never answered sensibly becomes SyncFailed with
 * the platform's `detail`. A vanished port (SerialIoError) is not retried.
 */
export const syncOrFail = <E extends { readonly _tag: string }, R>(
  attempt: Effect.Effect<void, E, R>,
  failure: { readonly port: string; readonly attempts: number; readonly platform: "avr" | "stm32"; readonly detail: () => string }
): Effect.Effect<void, E | SyncFailed, R> =>
  attempt.pipe(
    Effect.retry({ schedule: Schedule.recurs(Math.max(0, failure.attempts - 1)), while: (e) => e._tag !== "SerialIoError" }),
    Effect.catchIf(
      (e) => e._tag === "FlashTimeout" || e._tag === "ProtocolError",
      () =>
        new SyncFailed({
          port: failure.port,
          attempts: failure.attempts,
          platform: failure.platform,
          bootloaderHint: bootloaderHint(failure.platform),
          detail: failure.detail()
        })
    )
  )
