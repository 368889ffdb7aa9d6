import { Duration, Effect } from "effect"
import type { SerialIoError, SignalsUnsupported } from "../../domain/errors/serial.js"
import type { SerialConnection } from "../../serial/SerialPorts.js"

/**
 * Reset sequences as data, so tests can compare them and one runner drives
 * them. On the usual auto-reset circuit DTR drives IO0 (boot mode) and RTS
 * drives EN (reset), both inverted. Values are logic levels set on the port.
 */
export type ResetStep =
  | { readonly _tag: "Lines"; readonly dtr?: boolean; readonly rts?: boolean }
  | { readonly _tag: "Sleep"; readonly duration: Duration.Duration }

const lines = (value: { readonly dtr?: boolean; readonly rts?: boolean }): ResetStep => ({ _tag: "Lines", ...value })
const sleep = (millis: number): ResetStep => ({ _tag: "Sleep", duration: Duration.millis(millis) })

/** esptool's default delays before releasing IO0: a short one, and a long one for boards with slow EN capacitors. */
export const RESET_DELAY_MS = 50
export const EXTRA_RESET_DELAY_MS = 550

/** One line at a time (works on drivers that cannot set both together). */
export const classicReset = (delayMs = RESET_DELAY_MS): ReadonlyArray<ResetStep> => [
  lines({ dtr: false }),
  lines({ rts: true }), // EN low: chip held in reset
  sleep(100),
  lines({ dtr: true }), // IO0 low …
  lines({ rts: false }), // … while EN is released: ROM samples download mode
  sleep(delayMs),
  lines({ dtr: false })
]

/** Both lines per step (one TIOCMSET), avoiding the glitch between two separate ioctls. */
export const unixTightReset = (delayMs = RESET_DELAY_MS): ReadonlyArray<ResetStep> => [
  lines({ dtr: false, rts: false }),
  lines({ dtr: true, rts: true }),
  lines({ dtr: false, rts: true }),
  sleep(100),
  lines({ dtr: true, rts: false }),
  sleep(delayMs),
  lines({ dtr: false, rts: false }),
  lines({ dtr: false })
]

/** ESP32-S3/C3/C6 built-in USB-JTAG-serial (VID 303a, PID 1001): the lines are decoded by the USB peripheral. */
export const usbJtagSerialReset = (): ReadonlyArray<ResetStep> => [
  lines({ rts: false }),
  lines({ dtr: false }),
  sleep(100),
  lines({ dtr: true }),
  lines({ rts: false }),
  sleep(100),
  lines({ rts: true }),
  lines({ dtr: false }),
  lines({ rts: true }), // some drivers apply RTS only together with a later DTR write
  sleep(100),
  lines({ dtr: false }),
  lines({ rts: false })
]

/** After flashing: pulse EN with IO0 released, so the chip boots the new image. */
export const hardReset = (usb = false): ReadonlyArray<ResetStep> =>
  usb ? [lines({ rts: true }), sleep(200), lines({ rts: false }), sleep(200)] : [lines({ rts: true }), sleep(100), lines({ rts: false })]

export const runReset = (
  serial: SerialConnection,
  steps: ReadonlyArray<ResetStep>
): Effect.Effect<void, SignalsUnsupported | SerialIoError> =>
  Effect.forEach(steps, (step) => (step._tag === "Sleep" ? Effect.sleep(step.duration) : serial.setSignals(step)), { discard: true })

export type BeforeMode = "default_reset" | "usb_reset" | "no_reset"

export const ESPRESSIF_USB = { vendorId: "303a", productId: "1001" } as const

/**
 * The sequence for connect attempt `attempt` (0-based), cycling like esptool on
 * Unix: tight with the short delay, tight with the long one, then classic.
 * `undefined`: do not touch the lines.
 */
export const resetForAttempt = (before: BeforeMode, attempt: number, usbJtagSerial: boolean): ReadonlyArray<ResetStep> | undefined => {
  if (before === "no_reset") return undefined
  if (before === "usb_reset" || usbJtagSerial) return usbJtagSerialReset()
  const delay = attempt % 2 === 0 ? RESET_DELAY_MS : EXTRA_RESET_DELAY_MS
  return attempt % 4 < 2 ? unixTightReset(delay) : classicReset(delay)
}
