import { Duration, Schedule } from "effect"
import type { FlashFailure } from "../../domain/errors/flash.js"

/**
 * Whole-attempt retries for the factory pipeline (it owns the outer loop):
 * failures a fresh connect can cure are retried; a wrong chip, a bad image,
 * a missing port or a port without reset lines is not.
 */
export const isRetryableFlashFailure = (error: FlashFailure): boolean => {
  switch (error._tag) {
    case "SyncFailed":
    case "FlashTimeout":
    case "VerifyFailed":
    case "ProtocolError":
    case "CommandRejected":
    case "SerialIoError":
      return true
    default:
      return false
  }
}

/** `retries` more attempts after the first, exponential from 500 ms with jitter. */
export const flashAttemptSchedule = (retries: number, base: Duration.DurationInput = Duration.millis(500)) =>
  Schedule.exponential(base).pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(Math.max(0, retries))))
