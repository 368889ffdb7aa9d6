/** The STM32 family (system bootloader, AN3155 over USART): facts for the registry in ../families.ts. */
import { Schema } from "effect"
import { defineFamily } from "../family.js"

export interface Stm32SessionOptions {
  readonly expectedChip?: string | undefined
  /** STM32: which modem line drives BOOT0 and which NRST (documented in src/flash/stm32/reset.ts). */
  readonly resetMapping?: "rts_boot0_dtr_nrst" | "dtr_boot0_rts_nrst" | undefined
}

export const stm32Family = defineFamily({
  name: "stm32",
  platforms: ["stm32"] as const,
  configFields: {
    /** STM32: the product id GET_ID must report (`"0x410"` = F10x medium density); unset accepts what answers. */
    part: Schema.optional(Schema.NonEmptyTrimmedString),
    /** STM32: which modem line drives BOOT0 and which NRST on this station's adapters. */
    reset_mapping: Schema.optional(Schema.Literal("rts_boot0_dtr_nrst", "dtr_boot0_rts_nrst"))
  },
  // Offsets are relative to the start of flash (0x08000000); the image starts there.
  defaultOffsets: () => ({ bootloader: 0x0, partitionTable: 0x0, firmware: 0x0 }),
  imageFormats: ["intel-hex", "raw-binary"],
  bootloaderHint:
    "the STM32 system bootloader did not answer: BOOT0 must be high at reset (set the BOOT0 jumper and press RESET, or fix reset_mapping to match how the adapter's RTS/DTR drive BOOT0/NRST), with the adapter on USART1 (PA9/PA10)",
  sessionOptions: (config): Stm32SessionOptions => ({ expectedChip: config.part, resetMapping: config.reset_mapping }),
  load: () => import("./Stm32Flasher.js").then((m) => m.makeStm32Flasher())
})
