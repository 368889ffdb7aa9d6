// Errors of the flash area (see base.ts for the convention).
import { Data } from "effect"
import type { OperatorError } from "./base.js"
import type { Rp2040Failure } from "./rp2040.js"
import type { PortUnavailable, SerialIoError, SignalsUnsupported } from "./serial.js"

/** The bootloader never answered SYNC: wrong boot mode, wrong port, or a board that needs BOOT held. */
export class SyncFailed
  extends Data.TaggedError("SyncFailed")<{
    readonly port: string
    readonly attempts: number
    /** What was seen instead, e.g. an application boot log. */
    readonly detail: string
    /** The platform whose bootloader was expected (unset: ESP). */
    readonly platform?: string | undefined
    /** How to get that family's boards into the bootloader (its `bootloaderHint` in flash/families.ts). */
    readonly bootloaderHint?: string | undefined
  }>
  implements OperatorError
{
  readonly code = "sync_failed"
  get hint() {
    return (
      this.bootloaderHint ?? "the board did not enter its bootloader: check the boot mode, the USB cable and that this is the board's port"
    )
  }
  override get message() {
    return `no answer from the ROM bootloader on ${this.port} after ${this.attempts} connect attempt(s)${this.detail ? `: ${this.detail}` : ""}`
  }
}

/** A command got no (matching) reply in time. */
export class FlashTimeout
  extends Data.TaggedError("FlashTimeout")<{
    readonly port: string
    /** The step that timed out, e.g. `FLASH_DEFL_BEGIN (erase 1.0 MiB)`. */
    readonly step: string
    readonly timeoutMs: number
  }>
  implements OperatorError
{
  readonly code = "flash_timeout"
  get hint() {
    return "the board stopped answering: check power and cable; a slow or failing flash chip can also take longer to erase (raise the per-MB timeouts)"
  }
  override get message() {
    return `${this.step} on ${this.port}: no reply within ${this.timeoutMs} ms`
  }
}

/** The board (or the image) is not what the configuration says. Nothing was written. */
export class ChipMismatch
  extends Data.TaggedError("ChipMismatch")<{
    readonly port: string
    /** What the port holds, e.g. `ESP8266`. */
    readonly detected: string
    /** What the config or the image asks for, e.g. `esp32`. */
    readonly expected: string
    /** `config` or the region whose image header disagrees. */
    readonly source: string
  }>
  implements OperatorError
{
  readonly code = "chip_mismatch"
  get hint() {
    return this.source === "config"
      ? "plug the right board into this port or fix the station's board_type / platform"
      : `the ${this.source} image was built for another chip: rebuild it for ${this.detected} or fix the board config`
  }
  override get message() {
    return this.source === "config"
      ? `the port ${this.port} holds an ${this.detected}, the config says ${this.expected}`
      : `the port ${this.port} holds an ${this.detected}, the ${this.source} image is for ${this.expected}`
  }
}

/** Read-back digest of a region differs from the image: the flash does not hold what was sent. */
export class VerifyFailed
  extends Data.TaggedError("VerifyFailed")<{
    readonly port: string
    readonly region: string
    readonly offset: number
    readonly expected: string
    readonly received: string
  }>
  implements OperatorError
{
  readonly code = "verify_failed"
  get hint() {
    return "the written data did not read back correctly: retry; if it repeats, the flash chip or its power supply is failing"
  }
  override get message() {
    return `${this.region} at 0x${this.offset.toString(16)} on ${this.port}: MD5 expected ${this.expected}, device has ${this.received}`
  }
}

/** The device answered, but not in a way the protocol allows (garbled reply, wrong length). */
export class ProtocolError
  extends Data.TaggedError("ProtocolError")<{
    readonly port: string
    readonly command: string
    readonly detail: string
  }>
  implements OperatorError
{
  readonly code = "protocol_error"
  get hint() {
    return "unexpected bytes from the bootloader: check the baud rate and the cable; another program may be writing to the port"
  }
  override get message() {
    return `${this.command} on ${this.port}: ${this.detail}`
  }
}

/** The bootloader answered a command with a failure status. */
export class CommandRejected
  extends Data.TaggedError("CommandRejected")<{
    readonly port: string
    readonly command: string
    readonly errorCode: number
  }>
  implements OperatorError
{
  readonly code = "command_rejected"
  get meaning(): string {
    switch (this.errorCode) {
      case 0x05:
        return "invalid or unsupported command"
      case 0x06:
        return "failed to act on the command"
      case 0x07:
        return "checksum error"
      case 0x08:
        return "flash write error"
      case 0x09:
        return "flash read error"
      case 0x0a:
        return "flash read length error"
      case 0x0b:
      case 0x0c:
      case 0x0d:
        return "deflate error"
      default:
        return "error"
    }
  }
  get hint() {
    return this.errorCode === 0x07 || this.errorCode >= 0x0b
      ? "data arrived damaged: lower the flash baud rate or use a shorter cable"
      : "the bootloader refused the command: check that the chip and flash size match the board config"
  }
  override get message() {
    return `${this.command} on ${this.port} rejected by the bootloader: ${this.meaning} (0x${this.errorCode.toString(16).padStart(2, "0")})`
  }
}

/** A firmware file that cannot be flashed as given (bad header, too big for the flash, overlapping regions). */
export class ImageInvalid
  extends Data.TaggedError("ImageInvalid")<{
    readonly region: string
    readonly detail: string
  }>
  implements OperatorError
{
  readonly code = "image_invalid"
  get hint() {
    return "check the firmware, bootloader and partition table paths and offsets in the board config"
  }
  override get message() {
    return `${this.region}: ${this.detail}`
  }
}

/** No flasher is registered for a platform. */
export class UnsupportedPlatform
  extends Data.TaggedError("UnsupportedPlatform")<{
    readonly platform: string
    readonly supported: ReadonlyArray<string>
  }>
  implements OperatorError
{
  readonly code = "unsupported_platform"
  get hint() {
    return `use one of: ${this.supported.join(", ")}`
  }
  override get message() {
    return `no flasher for platform "${this.platform}"`
  }
}

/** Everything a flash session can fail with. */
export type FlashFailure =
  | SyncFailed
  | FlashTimeout
  | ChipMismatch
  | VerifyFailed
  | ProtocolError
  | CommandRejected
  | ImageInvalid
  | UnsupportedPlatform
  | PortUnavailable
  | SerialIoError
  | SignalsUnsupported
  | McuFlashFailure

// ---------------------------------------------------------------------------
// AVR / STM32 / RP2040 flashers (src/flash/{avr,stm32,rp2040}). They also use
// SyncFailed, FlashTimeout, ChipMismatch, VerifyFailed (MD5 of the page or
// block read back), ProtocolError and ImageInvalid (HEX/UF2 parse errors).
// ---------------------------------------------------------------------------

/** The STM32 system bootloader answered NACK (0x1F): command refused, bad checksum, or protected flash. */
export class BootloaderNack
  extends Data.TaggedError("BootloaderNack")<{
    readonly port: string
    /** e.g. `WRITE_MEMORY 0x08000400 (address)`. */
    readonly command: string
  }>
  implements OperatorError
{
  readonly code = "bootloader_nack"
  get hint() {
    return "the bootloader refused the command: the flash may be read- or write-protected (clear the option bytes), the address may be outside the part's flash, or bytes were damaged on the line (lower the baud rate)"
  }
  override get message() {
    return `${this.command} on ${this.port}: the bootloader answered NACK`
  }
}

/** No mounted RP2040 BOOTSEL volume (a directory holding INFO_UF2.TXT) was found. */
export class BootVolumeNotFound
  extends Data.TaggedError("BootVolumeNotFound")<{
    /** The mount roots that were scanned. */
    readonly roots: ReadonlyArray<string>
    readonly waitedMs: number
  }>
  implements OperatorError
{
  readonly code = "boot_volume_not_found"
  get hint() {
    return "hold BOOTSEL while plugging the Pico in (or while tapping RUN), and check that the RPI-RP2 drive gets mounted under one of the configured volume_roots"
  }
  override get message() {
    return `no RPI-RP2 volume (INFO_UF2.TXT) under ${this.roots.join(", ")} within ${this.waitedMs} ms`
  }
}

/** Copying the UF2 onto the BOOTSEL volume failed (read-only mount, volume vanished, disk full). */
export class BootVolumeWriteFailed
  extends Data.TaggedError("BootVolumeWriteFailed")<{
    readonly volume: string
    readonly detail: string
  }>
  implements OperatorError
{
  readonly code = "boot_volume_write_failed"
  get hint() {
    return "the RPI-RP2 drive must be mounted writable by this user (udisks/automount as the operator) and stay plugged in during the copy"
  }
  override get message() {
    return `copying the UF2 to ${this.volume} failed: ${this.detail}`
  }
}

export type McuFlashFailure = BootloaderNack | BootVolumeNotFound | BootVolumeWriteFailed | Rp2040Failure
