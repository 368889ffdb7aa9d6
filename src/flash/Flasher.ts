import type { Effect, Scope } from "effect"
import { Context } from "effect"
import type { FlashFailure } from "../domain/errors/flash.js"
import type { McuOptions, Platform } from "./families.js"
import { md5Hex } from "./formats/md5.js"

// Both derive from the family registry (families.ts).
export type { McuOptions, Platform } from "./families.js"

/** What identifies a board where there is no MAC (AVR serial, STM32 UID, RP2040 flash id). */
export interface BoardIdentity {
  readonly kind: "mac" | "uid" | "serial"
  readonly value: string
}

export interface DetectedBoard {
  readonly port: string
  readonly platform: Platform
  /** e.g. `ESP32-D0WDQ6`, `ESP8266EX`, `ATmega328P`, `STM32F10x medium-density`, `RP2040` */
  readonly chip: string
  readonly identity: BoardIdentity
  readonly flashSizeBytes?: number | undefined
  readonly details: Readonly<Record<string, string>>
}

/** One region to write: bootloader, partition table, application … */
export interface FlashRegion {
  readonly name: string
  readonly offset: number
  readonly data: Uint8Array
}

export interface FlashProgress {
  readonly region: string
  /** Bytes of this region's (uncompressed) image acknowledged by the device so far. */
  readonly written: number
  readonly total: number
  /** Bytes put on the wire so far for this region (after compression/framing). */
  readonly wireBytes: number
}

/** One region of a WriteReport. */
export interface WrittenRegion {
  readonly name: string
  readonly offset: number
  readonly size: number
  readonly digest: string
  /**
   * How the device confirmed the region: `md5` (device-computed digest
   * matched), `readback`, or `none` where the loader has no way to read
   * back (ESP8266 ROM): then only the boot banner / self-test confirms it.
   */
  readonly verifiedBy?: "md5" | "readback" | "none" | undefined
}

export interface WriteReport {
  /** Regions written and verified (MD5 / read-back) — a region counts only after verification. */
  readonly regions: ReadonlyArray<WrittenRegion>
  readonly wireBytes: number
  readonly retries: number
}

/** A region's entry in the report once the device has confirmed it (`verifiedBy`): size and MD5 of the image. */
export const writtenRegion = (region: FlashRegion, verifiedBy: NonNullable<WrittenRegion["verifiedBy"]>): WrittenRegion => ({
  name: region.name,
  offset: region.offset,
  size: region.data.length,
  digest: md5Hex(region.data),
  verifiedBy
})

export interface SessionOptions {
  readonly baudRate: number
  /** Faster rate to switch to after connecting (ESP CHANGE_BAUDRATE); undefined keeps baudRate. */
  readonly flashBaudRate?: number | undefined
  /** `default_reset` (DTR/RTS per family), `usb_reset`, `no_reset` (pty / already in bootloader). */
  readonly before: "default_reset" | "usb_reset" | "no_reset"
  readonly connectAttempts: number
  /** ESP: load Espressif's flasher stub (default); false keeps to the ROM loader like esptool's --no-stub. */
  readonly stub?: boolean | undefined
  /** Settings of the AVR / STM32 / RP2040 families (see `McuOptions`); the ESP flasher ignores them. */
  readonly mcu?: McuOptions | undefined
}

/** A connected bootloader session on one port (closed with its scope). */
export interface FlashSession {
  readonly board: DetectedBoard
  readonly write: (
    regions: ReadonlyArray<FlashRegion>,
    onProgress: (progress: FlashProgress) => Effect.Effect<void>
  ) => Effect.Effect<WriteReport, FlashFailure>
  /** Leaves the bootloader and starts the application. */
  readonly resetToApp: Effect.Effect<void, FlashFailure>
}

/** One implementation per board family; the factory pipeline picks by platform. */
export interface FlasherService {
  readonly platform: ReadonlyArray<Platform>
  readonly connect: (port: string, platform: Platform, options: SessionOptions) => Effect.Effect<FlashSession, FlashFailure, Scope.Scope>
}

export class Flasher extends Context.Tag("fleet-provision/Flasher")<
  Flasher,
  {
    /** Dispatch by platform: returns the implementation for that family. */
    readonly forPlatform: (platform: Platform) => Effect.Effect<FlasherService, FlashFailure>
  }
>() {}
