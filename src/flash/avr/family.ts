/** The AVR family (optiboot / STK500v1): facts for the registry in ../families.ts. */
import { Schema } from "effect"
import { defineFamily } from "../family.js"

export interface AvrSessionOptions {
  /** AVR: `atmega328p`, `atmega2560`, … or a signature `1e950f`; STM32: product id `0x410`. Unset: accept what answers. */
  readonly expectedChip?: string | undefined
}

export const avrFamily = defineFamily({
  name: "avr",
  platforms: ["avr"] as const,
  configFields: {
    /** AVR: the MCU the signature must match (`atmega328p`, `atmega2560`, or a signature `1e950f`); unset accepts what answers. */
    mcu: Schema.optional(Schema.NonEmptyTrimmedString)
  },
  // Single image at the start of flash (optiboot sits at the top).
  defaultOffsets: () => ({ bootloader: 0x0, partitionTable: 0x0, firmware: 0x0 }),
  imageFormats: ["intel-hex", "raw-binary"],
  bootloaderHint:
    "optiboot did not answer: check the board has a bootloader (a blank ATmega needs one burnt with an ISP programmer), that DTR auto-reset works (or press RESET just before flashing, with --before no_reset), the USB cable and the baud rate (Uno 115200, older boards 57600)",
  sessionOptions: (config): AvrSessionOptions => ({ expectedChip: config.mcu }),
  load: () => import("./AvrFlasher.js").then((m) => m.makeAvrFlasher())
})
