/**
 * The board-family registry: every family the factory line flashes, as
 * esptool's `CHIP_DEFS` and espflash's `Chip` list theirs. The platform list,
 * the board-config fields, the default offsets, the session settings bag
 * (`McuOptions`), the bootloader hints and the flashers FlasherLive builds are
 * all derived from this one list. A new family is one folder under
 * src/flash/ with its `family.ts` (see ./family.ts) plus one line here.
 */
import { Schema } from "effect"
import { avrFamily } from "./avr/family.js"
import { espFamily } from "./esp/family.js"
import { rp2040Family } from "./rp2040/family.js"
import { stm32Family } from "./stm32/family.js"

export const FAMILIES = [espFamily, avrFamily, stm32Family, rp2040Family] as const

type Family = (typeof FAMILIES)[number]

/** `platform:` of factory-config.yaml: `esp32`, `esp8266`, `avr`, `stm32`, `rp2040`. */
export type Platform = Family["platforms"][number]

export const PLATFORMS: ReadonlyArray<Platform> = FAMILIES.flatMap((family): ReadonlyArray<Platform> => family.platforms)

export const PlatformSchema = Schema.Literal(...(PLATFORMS as readonly [Platform, ...Array<Platform>]))

type FieldsOf<T> = T extends readonly [infer Head extends Family, ...infer Rest] ? Head["configFields"] & FieldsOf<Rest> : {}
type OptionsOf<T> = T extends readonly [infer Head extends Family, ...infer Rest]
  ? ReturnType<Head["sessionOptions"]> & OptionsOf<Rest>
  : {}

/** Settings of the families beyond ESP that a flash session takes from the board config (`SessionOptions.mcu`). */
export type McuOptions = OptionsOf<typeof FAMILIES>

/** The board-config fields of every family (factory/config.ts adds them to the shared ones). */
export const familyConfigFields = Object.assign({}, ...FAMILIES.map((family) => family.configFields)) as FieldsOf<typeof FAMILIES>

export const familyOf = (platform: Platform): Family =>
  FAMILIES.find((family) => (family.platforms as ReadonlyArray<string>).includes(platform))!

/** Where each image goes when the config does not say (the chip's boot ROM expectations). */
export const defaultOffsets = (platform: Platform) =>
  (familyOf(platform).defaultOffsets as (p: Platform) => ReturnType<Family["defaultOffsets"]>)(platform)

/** How to get a board of this platform into its bootloader. */
export const bootloaderHint = (platform: Platform): string => familyOf(platform).bootloaderHint

type BoardConfigFields = Schema.Struct.Type<typeof familyConfigFields> & { readonly app_baud: number }

/**
 * The session settings every family takes from one board config; where two
 * families read the same setting (the expected chip: AVR `mcu`, STM32 `part`),
 * the first family in FAMILIES that sets it wins.
 */
export const mcuOptionsOf = (config: BoardConfigFields): McuOptions => {
  const options: Record<string, unknown> = {}
  for (const family of FAMILIES) {
    const own = (family.sessionOptions as (c: BoardConfigFields) => object)(config)
    for (const [key, value] of Object.entries(own)) if (options[key] === undefined) options[key] = value
  }
  return options as McuOptions
}

/** Every family's flasher, built from the services it needs. */
export const loadFlashers = () => Promise.all(FAMILIES.map((family) => family.load()))
