// Errors of the serial area (see base.ts for the convention).
import { Data } from "effect"
import type { OperatorError } from "./base.js"

/**
 * Why a port could not be opened. Each maps to a different operator fix, so
 * they are told apart from the OS error (ENOENT, EACCES, EBUSY/lock).
 */
export type PortUnavailableReason = "not_found" | "permission" | "busy" | "directory" | "not_a_tty" | "other"

export class PortUnavailable
  extends Data.TaggedError("PortUnavailable")<{
    readonly port: string
    readonly reason: PortUnavailableReason
    readonly detail: string
  }>
  implements OperatorError
{
  readonly code = "port_unavailable"
  get hint() {
    switch (this.reason) {
      case "not_found":
        return "the port does not exist: is the board plugged in, and is the cable a data cable (not charge-only)?"
      case "permission":
        return "no permission to open the port: add the user to the dialout group (sudo usermod -aG dialout $USER) and log in again"
      case "busy":
        return "the port is in use by another program (serial monitor, another flasher, ModemManager); close it and retry"
      case "directory":
        return `${this.port} is a directory, not a serial port: name the port itself (e.g. /dev/ttyUSB0 or a /dev/serial/by-id/... link)`
      case "not_a_tty":
        return `${this.port} is not a serial port (not a terminal device, e.g. /dev/null or a plain file): name the board's port (e.g. /dev/ttyUSB0); \`provision flash --test-mode\` lists what answers`
      case "other":
        return "check the cable and the USB hub; unplug and replug the board"
    }
  }
  override get message() {
    return `cannot open ${this.port}: ${this.detail}`
  }
}

/** The port went away or failed after it was opened (cable pulled, device reset its USB). */
export class SerialIoError
  extends Data.TaggedError("SerialIoError")<{
    readonly port: string
    readonly operation: string
    readonly detail: string
  }>
  implements OperatorError
{
  readonly code = "serial_io_error"
  get hint() {
    return "the port stopped working mid-session: check the cable (a loose or charge-only cable), the hub's power, and that the board did not reset its USB"
  }
  override get message() {
    return `${this.operation} on ${this.port} failed: ${this.detail}`
  }
}

/** DTR/RTS cannot be driven (pseudo-terminal, some adapters without modem lines). */
export class SignalsUnsupported
  extends Data.TaggedError("SignalsUnsupported")<{
    readonly port: string
    readonly detail: string
  }>
  implements OperatorError
{
  readonly code = "signals_unsupported"
  get hint() {
    return "this port has no DTR/RTS lines: use --before no_reset and put the board into its bootloader by hand (hold BOOT, tap RESET)"
  }
  override get message() {
    return `cannot set DTR/RTS on ${this.port}: ${this.detail}`
  }
}

/** A port selector (path, USB serial number, VID:PID) matched no port or more than one. */
export class PortNotFound
  extends Data.TaggedError("PortNotFound")<{
    readonly selector: string
    /** Paths of the ports that matched (empty: none did). */
    readonly matches: ReadonlyArray<string>
    /** Ports that were listed, for the operator to pick from. */
    readonly available: ReadonlyArray<string>
  }>
  implements OperatorError
{
  readonly code = "port_not_found"
  get hint() {
    return this.matches.length > 1
      ? "several ports match: select by USB serial number or by path instead"
      : "plug the board in (data cable), or pick one of the listed ports; `provision flash --test-mode` lists what is connected"
  }
  override get message() {
    const listed = this.available.length > 0 ? this.available.join(", ") : "none"
    return this.matches.length > 1
      ? `port selector "${this.selector}" matches ${this.matches.length} ports: ${this.matches.join(", ")}`
      : `no serial port matches "${this.selector}" (ports present: ${listed})`
  }
}
