// Errors of the RP2040 flasher's picotool path and board matching (see base.ts for the convention).
import { Data } from "effect"
import type { OperatorError } from "./base.js"

/** `rp2040_method: picotool` but no `picotool` on PATH. */
export class PicotoolMissing
  extends Data.TaggedError("PicotoolMissing")<{
    readonly port: string
    readonly searched: string
  }>
  implements OperatorError
{
  readonly code = "picotool_missing"
  get hint() {
    return "install picotool (build it from github.com/raspberrypi/picotool, or the pico-sdk-tools release) so it is on PATH, or set rp2040_method: uf2_copy (or auto) in the board config"
  }
  override get message() {
    return `rp2040_method is picotool, but no picotool was found on PATH (${this.searched}) for ${this.port}`
  }
}

/** No RP2040 in BOOTSEL mode where the port's board sits (picotool: "No accessible RP-series devices in BOOTSEL mode were found"). */
export class NoBootselDevice
  extends Data.TaggedError("NoBootselDevice")<{
    readonly port: string
    /** USB location looked at (`usb-0:1.3`) or `any`. */
    readonly location: string
    readonly detail: string
  }>
  implements OperatorError
{
  readonly code = "no_bootsel_device"
  get hint() {
    return "hold BOOTSEL while plugging the Pico in (or run an app built with USB stdio so `picotool reboot -f -u` can reboot it), and check the cable is a data cable"
  }
  override get message() {
    return `no RP2040 in BOOTSEL mode at ${this.location} (port ${this.port}): ${this.detail}`
  }
}

/** picotool sees the device but may not open it (libusb: permission denied). */
export class PicotoolPermissionDenied
  extends Data.TaggedError("PicotoolPermissionDenied")<{
    readonly port: string
    readonly detail: string
  }>
  implements OperatorError
{
  readonly code = "picotool_permission_denied"
  get hint() {
    return "run with udev rules: copy picotool's udev/99-picotool.rules to /etc/udev/rules.d/, run `udevadm control --reload-rules && udevadm trigger`, replug the Pico (and put the operator in plugdev); do not run the line as root"
  }
  override get message() {
    return `picotool cannot open the Pico for ${this.port}: ${this.detail}`
  }
}

/** picotool exited with an error not covered by a more specific type. */
export class PicotoolFailed
  extends Data.TaggedError("PicotoolFailed")<{
    readonly port: string
    readonly command: string
    readonly exitCode: number
    readonly output: string
  }>
  implements OperatorError
{
  readonly code = "picotool_failed"
  get hint() {
    return "see picotool's message; run the same command by hand to reproduce"
  }
  override get message() {
    return `\`${this.command}\` for ${this.port} exited with ${this.exitCode}: ${this.output}`
  }
}

/** The board that came up on the port is not the board that was flashed (USB serial / unique id disagree). */
export class BoardSwapped
  extends Data.TaggedError("BoardSwapped")<{
    readonly port: string
    /** The unique id of the board that was flashed. */
    readonly flashed: string
    /** What the port reports now. */
    readonly found: string
  }>
  implements OperatorError
{
  readonly code = "board_swapped"
  get hint() {
    return "two Picos were confused (swapped cables, or a hub that renumbers ports): give each Pico its own /dev/serial/by-path/... port and reflash both"
  }
  override get message() {
    return `the board flashed for ${this.port} has unique id ${this.flashed}, but ${this.found} answers there`
  }
}

export type Rp2040Failure = PicotoolMissing | NoBootselDevice | PicotoolPermissionDenied | PicotoolFailed | BoardSwapped
