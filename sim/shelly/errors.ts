import { Data } from "effect"

/** The fleet could not start: bad options, unreadable scenario, no usable port. */
export class SimStartError extends Data.TaggedError("SimStartError")<{ readonly reason: string }> {
  readonly code = "sim_start_failed"
  get hint() {
    return "check the simulator options (addresses must be loopback, the port range free)"
  }
  override get message() {
    return `shelly simulator: ${this.reason}`
  }
}
