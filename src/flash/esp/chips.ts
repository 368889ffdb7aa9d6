/** The ESP platforms: declared here, where the chips are, and registered by ./family.ts (which imports this module). */
export const ESP_PLATFORMS = ["esp32", "esp8266"] as const
type Platform = (typeof ESP_PLATFORMS)[number]

/**
 * What the flasher needs to know per chip (esptool targets/*.py, espflash
 * target/): how to recognise it, where its MAC and SPI registers are, and
 * which ROM commands it lacks.
 */
export interface ChipSpec {
  /** `ESP32`, `ESP8266`, `ESP32-C3` … */
  readonly name: string
  readonly platform: Platform | "esp32-family"
  /** Values of the register at 0x40001000 (older chips). */
  readonly magic: ReadonlyArray<number>
  /** GET_SECURITY_INFO / image extended-header chip id; undefined for ESP8266 (no extended header). */
  readonly imageChipId: number | undefined
  /** Status bytes at the end of each ROM reply. */
  readonly romStatusBytes: 2 | 4
  readonly bootloaderOffset: number
  /** ROM can inflate (FLASH_DEFL_*), change baud, MD5 and attach SPI: false only on ESP8266. */
  readonly romHasDeflate: boolean
  readonly romHasMd5: boolean
  readonly romHasChangeBaud: boolean
  readonly romNeedsSpiAttach: boolean
  /** FLASH_BEGIN / FLASH_DEFL_BEGIN take a fifth `encrypted` word. */
  readonly beginHasEncryptedWord: boolean
  readonly mac: MacSource
  readonly spi: SpiRegisters
}

export type MacSource =
  /** Two eFuse words read as big-endian [hi, lo], first two bytes dropped. */
  { readonly kind: "efuse-pair"; readonly hiAddress: number; readonly loAddress: number } | { readonly kind: "esp8266" }

export interface SpiRegisters {
  readonly base: number
  readonly usrOffset: number
  readonly usr1Offset: number
  readonly usr2Offset: number
  readonly w0Offset: number
  /** ESP32 and later have separate MOSI/MISO bit-length registers; ESP8266 packs them into USR1. */
  readonly mosiDlenOffset: number | undefined
  readonly misoDlenOffset: number | undefined
}

export const ESP8266_MAC = { mac0: 0x3ff00050, mac1: 0x3ff00054, mac3: 0x3ff0005c } as const
export const CHIP_DETECT_MAGIC_REG = 0x40001000

const ESP32_SPI: SpiRegisters = {
  base: 0x3ff42000,
  usrOffset: 0x1c,
  usr1Offset: 0x20,
  usr2Offset: 0x24,
  w0Offset: 0x80,
  mosiDlenOffset: 0x28,
  misoDlenOffset: 0x2c
}
const ESP8266_SPI: SpiRegisters = {
  base: 0x60000200,
  usrOffset: 0x1c,
  usr1Offset: 0x20,
  usr2Offset: 0x24,
  w0Offset: 0x40,
  mosiDlenOffset: undefined,
  misoDlenOffset: undefined
}
const C3_SPI: SpiRegisters = {
  base: 0x60002000,
  usrOffset: 0x18,
  usr1Offset: 0x1c,
  usr2Offset: 0x20,
  w0Offset: 0x58,
  mosiDlenOffset: 0x24,
  misoDlenOffset: 0x28
}

const modern = (
  name: string,
  imageChipId: number,
  magic: ReadonlyArray<number>,
  efuseMac: number,
  bootloaderOffset: number,
  spi = C3_SPI
): ChipSpec => ({
  name,
  platform: "esp32-family",
  magic,
  imageChipId,
  romStatusBytes: 4,
  bootloaderOffset,
  romHasDeflate: true,
  romHasMd5: true,
  romHasChangeBaud: true,
  romNeedsSpiAttach: true,
  beginHasEncryptedWord: true,
  mac: { kind: "efuse-pair", hiAddress: efuseMac + 4, loAddress: efuseMac },
  spi
})

export const CHIPS: ReadonlyArray<ChipSpec> = [
  {
    name: "ESP32",
    platform: "esp32",
    magic: [0x00f01d83],
    imageChipId: 0,
    romStatusBytes: 4,
    bootloaderOffset: 0x1000,
    romHasDeflate: true,
    romHasMd5: true,
    romHasChangeBaud: true,
    romNeedsSpiAttach: true,
    beginHasEncryptedWord: false,
    mac: { kind: "efuse-pair", hiAddress: 0x3ff5a008, loAddress: 0x3ff5a004 },
    spi: ESP32_SPI
  },
  {
    name: "ESP8266",
    platform: "esp8266",
    magic: [0xfff0c101],
    imageChipId: undefined,
    romStatusBytes: 2,
    bootloaderOffset: 0x0,
    romHasDeflate: false,
    romHasMd5: false,
    romHasChangeBaud: false,
    romNeedsSpiAttach: false,
    beginHasEncryptedWord: false,
    mac: { kind: "esp8266" },
    spi: ESP8266_SPI
  },
  { ...modern("ESP32-S2", 2, [0x000007c6], 0x3f41a044, 0x1000), spi: { ...C3_SPI, base: 0x3f402000 } },
  modern("ESP32-S3", 9, [0x9], 0x60007044, 0x0),
  modern("ESP32-C3", 5, [0x6921506f, 0x1b31506f, 0x4881606f, 0x4361606f], 0x60008844, 0x0),
  modern("ESP32-C2", 12, [0x6f51306f, 0x7c41a06f, 0x0c21e06f], 0x60008840, 0x0),
  modern("ESP32-C6", 13, [0x2ce0806f], 0x600b0844, 0x0),
  modern("ESP32-H2", 16, [0xd7b73e80], 0x600b0844, 0x0),
  modern("ESP32-P4", 18, [], 0x5012d044, 0x2000),
  modern("ESP32-C5", 23, [0x1101406f], 0x600b4844, 0x2000)
]

export const chipByMagic = (magic: number): ChipSpec | undefined => CHIPS.find((chip) => chip.magic.includes(magic >>> 0))

export const chipByImageId = (id: number): ChipSpec | undefined => CHIPS.find((chip) => chip.imageChipId === id)

/** Whether a board of this chip may be flashed under a configured platform. */
export const chipFitsPlatform = (chip: ChipSpec, platform: string): boolean =>
  chip.platform === platform || (platform === "esp32" && chip.platform === "esp32-family")

/**
 * The one source of ESP default flash offsets (factory config, emulator
 * images, bench). ESP-IDF defaults: partition table at 0x8000
 * (CONFIG_PARTITION_TABLE_OFFSET) and the factory app at 0x10000; the
 * bootloader where the ROM looks (esptool BOOTLOADER_FLASH_OFFSET). A non-OTA
 * ESP8266 build is one image at 0x0 that the ROM loads directly.
 */
export interface DefaultOffsets {
  readonly bootloader: number
  readonly partitionTable: number
  readonly app: number
}

export const ESP_PARTITION_TABLE_OFFSET = 0x8000
export const ESP_APP_OFFSET = 0x10000

export const defaultOffsets = (chip: ChipSpec): DefaultOffsets => ({
  bootloader: chip.bootloaderOffset,
  partitionTable: ESP_PARTITION_TABLE_OFFSET,
  app: chip.platform === "esp8266" ? 0x0 : ESP_APP_OFFSET
})

/** Defaults by configured platform, before a board is detected. */
export const defaultOffsetsForPlatform = (platform: Platform): DefaultOffsets =>
  defaultOffsets(CHIPS.find((chip) => chip.platform === platform)!)
