import { Op } from "../../src/flash/esp/commands.js"
import type { EspChip } from "./types.js"

export { Op } from "../../src/flash/esp/commands.js"

export const opName = (op: number): string =>
  Object.entries(Op).find(([, value]) => value === op)?.[0] ?? `0x${op.toString(16).padStart(2, "0")}`

export const RomError = {
  INVALID_MESSAGE: 0x05,
  FAILED_TO_ACT: 0x06,
  BAD_CHECKSUM: 0x07,
  FLASH_WRITE: 0x08,
  INFLATE: 0x0b
} as const

export const STUB_NOT_IMPLEMENTED = 0xff

export const SYNC_VALUE = 0x20120707
export const CHIP_MAGIC_REG = 0x40001000

export interface ChipProfile {
  readonly chip: EspChip
  readonly name: string
  readonly magic: number
  readonly romStatusBytes: 2 | 4
  readonly romOps: ReadonlySet<number>
  readonly defaultFlashSize: number
  readonly spiBase: number
  readonly spiW0Offset: number
  /** UART clock the ROM runs its divider from: 40 MHz crystal on ESP32, 2 × 26 MHz on ESP8266. */
  readonly uartClockHz: number
  readonly uartClkdivReg: number
  readonly needsSpiAttach: boolean
  readonly defaultMac: string
  /** Where the ROM looks first at boot: the 2nd-stage bootloader (ESP32) or the app (ESP8266). */
  readonly bootOffset: number
  readonly efuses: (mac: Uint8Array) => ReadonlyMap<number, number>
  /**
   * The crystal frequency the ROM believes in after calibrating against its
   * drifting internal 8 MHz clock (ESP32 only), and the registers that let a
   * host compute it; undefined: the ROM's UART runs from the nominal clock.
   */
  readonly romClock: RomClock | undefined
}

/**
 * ESP32 ROM baud change (esptool v4.8.1 targets/esp32.py get_rom_cal_crystal_freq
 * and change_baud): the ROM computes its crystal as
 * `(RTCCALICFG1 >> 7 & 0x1FFFFFF) * 15625 * (eFuse word 4 & 0xFF) / 40` and derives
 * the UART divider from that, so a requested rate R runs at R × 40 MHz / computed.
 * esptool sends R × computed / 40 MHz to land on the rate it wants.
 */
export interface RomClock {
  readonly rtcCaliReg: number
  readonly rtcCaliValue: number
  readonly ck8mEfuseReg: number
  readonly ck8mFreq: number
}

export const romComputedXtalHz = (clock: RomClock): number => (clock.rtcCaliValue * 15625 * clock.ck8mFreq) / 40

const crc8 = (bytes: Uint8Array): number => {
  let crc = 0
  for (const byte of bytes) {
    crc ^= byte
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0x8c : crc >>> 1
  }
  return crc
}

const SPI_SUPPORTED_COMMON = [
  Op.FLASH_BEGIN,
  Op.FLASH_DATA,
  Op.FLASH_END,
  Op.MEM_BEGIN,
  Op.MEM_END,
  Op.MEM_DATA,
  Op.SYNC,
  Op.WRITE_REG,
  Op.READ_REG
]

/**
 * Plausible, not a dump of one chip: CK8M_FREQ 51 and a calibration count of
 * 2028 make the ROM believe in a 40.40 MHz crystal (1 % fast, the order of the
 * 8 MHz clock's drift the esptool workaround is for). RTCCALICFG1 holds the
 * count in bits 7..31 (TIMERS_RTC_CALI_VALUE_S = 7).
 */
const ESP32_ROM_CLOCK: RomClock = { rtcCaliReg: 0x3ff5f06c, rtcCaliValue: 2028, ck8mEfuseReg: 0x3ff5a010, ck8mFreq: 51 }

export const ESP32: ChipProfile = {
  chip: "esp32",
  name: "ESP32",
  magic: 0x00f01d83,
  romStatusBytes: 4,
  romOps: new Set<number>([
    ...SPI_SUPPORTED_COMMON,
    Op.SPI_SET_PARAMS,
    Op.SPI_ATTACH,
    Op.READ_FLASH_SLOW,
    Op.CHANGE_BAUDRATE,
    Op.FLASH_DEFL_BEGIN,
    Op.FLASH_DEFL_DATA,
    Op.FLASH_DEFL_END,
    Op.SPI_FLASH_MD5
  ]),
  defaultFlashSize: 4 * 1024 * 1024,
  spiBase: 0x3ff42000,
  spiW0Offset: 0x80,
  uartClockHz: 40_000_000,
  uartClkdivReg: 0x3ff40014,
  needsSpiAttach: true,
  defaultMac: "24:0a:c4:00:00:01",
  bootOffset: 0x1000,
  romClock: ESP32_ROM_CLOCK,
  efuses: (mac) => {
    const base = 0x3ff5a000
    const w1 = ((mac[2]! << 24) | (mac[3]! << 16) | (mac[4]! << 8) | mac[5]!) >>> 0
    const w2 = ((crc8(mac) << 16) | (mac[0]! << 8) | mac[1]!) >>> 0
    // Word 3 bit 15, word 5 bit 20 and APB_CTL_DATE bit 31 set, package 1:
    // an ESP32-D0WD-V3 (revision 3), the part on current WROOM-32E modules.
    const word3 = ((1 << 15) | (1 << 9)) >>> 0
    const word5 = (1 << 20) >>> 0
    return new Map([
      [base + 4 * 0, 0],
      [base + 4 * 1, w1],
      [base + 4 * 2, w2],
      [base + 4 * 3, word3],
      [base + 4 * 4, ESP32_ROM_CLOCK.ck8mFreq],
      [base + 4 * 5, word5],
      [base + 4 * 6, 0],
      [0x3ff66000 + 0x7c, 0x80000000 >>> 0] // APB_CTL_DATE
    ])
  }
}

export const ESP8266: ChipProfile = {
  chip: "esp8266",
  name: "ESP8266",
  magic: 0xfff0c101,
  romStatusBytes: 2,
  romOps: new Set<number>(SPI_SUPPORTED_COMMON),
  defaultFlashSize: 1024 * 1024,
  spiBase: 0x60000200,
  spiW0Offset: 0x40,
  uartClockHz: 52_000_000,
  uartClkdivReg: 0x60000014,
  needsSpiAttach: false,
  defaultMac: "18:fe:34:00:00:01",
  bootOffset: 0x0,
  romClock: undefined,
  efuses: (mac) => {
    const oui = (mac[0]! << 16) | (mac[1]! << 8) | mac[2]!
    // Espressif's two classic OUIs are encoded by a flag in mac1 with mac3 = 0; any other OUI sits in mac3.
    const ouiFlag = oui === 0x18fe34 ? 0 : oui === 0xacd074 ? 1 : 0
    const mac3 = oui === 0x18fe34 || oui === 0xacd074 ? 0 : oui
    const mac0 = (mac[5]! << 24) >>> 0
    const mac1 = ((ouiFlag << 16) | (mac[3]! << 8) | mac[4]!) >>> 0
    return new Map([
      [0x3ff00050, mac0],
      [0x3ff00054, mac1],
      [0x3ff00058, 0],
      [0x3ff0005c, mac3]
    ])
  }
}

export const chipProfile = (chip: EspChip): ChipProfile => (chip === "esp32" ? ESP32 : ESP8266)

export const parseMacText = (text: string): Uint8Array => {
  const hex = text.replace(/[:\-.]/g, "").toLowerCase()
  if (!/^[0-9a-f]{12}$/.test(hex)) {
    throw new Error(`ESP emulator mac "${text}" is not a MAC address; use aa:bb:cc:dd:ee:ff`)
  }
  return Uint8Array.from({ length: 6 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16))
}

export const formatMac = (mac: Uint8Array): string => Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":")

/** JEDEC RDID as SPI_W0 holds it: manufacturer (Winbond 0xEF), type 0x40, capacity code log2(size). */
export const jedecId = (flashSize: number): number => (((Math.log2(flashSize) & 0xff) << 16) | (0x40 << 8) | 0xef) >>> 0
