/** The RP2040 family (BOOTSEL: UF2 copy or picotool): facts for the registry in ../families.ts. */
import { Schema } from "effect"
import { defineFamily } from "../family.js"

export interface Rp2040SessionOptions {
  /** RP2040: where BOOTSEL volumes get mounted; `*` matches one directory level. */
  readonly volumeRoots?: ReadonlyArray<string> | undefined
  /** Application console baud rate (RP2040: the identity query after the reboot). */
  readonly appBaudRate?: number | undefined
  /** RP2040: seconds to wait for the BOOTSEL volume, and for the CDC port after the copy. */
  readonly bootWaitSeconds?: number | undefined
  /** RP2040: `auto` (picotool when on PATH, else UF2 copy), `picotool`, `uf2_copy`. */
  readonly rp2040Method?: "auto" | "picotool" | "uf2_copy" | undefined
}

const configFields = {
  /** RP2040: where BOOTSEL volumes get mounted (`*` = one directory level); unset: /media/*\/*, /run/media/*\/*, /mnt/*. */
  volume_roots: Schema.optional(Schema.Array(Schema.NonEmptyTrimmedString).pipe(Schema.minItems(1))),
  /** RP2040: seconds to wait for the BOOTSEL volume, and for the CDC port after the copy. */
  boot_wait: Schema.optional(Schema.Number.pipe(Schema.positive())),
  /** RP2040: `auto` uses picotool when it is on PATH, else the UF2 copy; `picotool` / `uf2_copy` force one. */
  rp2040_method: Schema.optionalWith(Schema.Literal("auto", "picotool", "uf2_copy"), { default: () => "auto" as const })
}

export const rp2040Family = defineFamily({
  name: "rp2040",
  platforms: ["rp2040"] as const,
  configFields,
  // A UF2 carries its own addresses; a raw image starts at the beginning of flash.
  defaultOffsets: () => ({ bootloader: 0x0, partitionTable: 0x0, firmware: 0x0 }),
  imageFormats: ["uf2", "raw-binary"],
  bootloaderHint:
    "the Pico did not come up in BOOTSEL: hold BOOTSEL while plugging it in, check the USB cable and that volume_roots covers where RPI-RP2 gets mounted",
  sessionOptions: (config: Schema.Struct.Type<typeof configFields> & { readonly app_baud: number }): Rp2040SessionOptions => ({
    volumeRoots: config.volume_roots,
    appBaudRate: config.app_baud,
    bootWaitSeconds: config.boot_wait,
    rp2040Method: config.rp2040_method
  }),
  load: () => import("./Rp2040Flasher.js").then((m) => m.makeRp2040FlasherNode())
})
