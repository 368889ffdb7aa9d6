/**
 * AVR parts that ship with an STK500v1 bootloader (optiboot / ATmegaBOOT).
 * Signatures and sizes from the Microchip datasheets; `bootBytes` is the
 * optiboot section at the top of flash that an application may not overwrite.
 * (ATmega32U4 and ATmega2560 boards use AVR109 / STK500v2 bootloaders instead.)
 */
export interface AvrMcu {
  readonly id: string
  readonly name: string
  readonly signature: readonly [number, number, number]
  readonly flashBytes: number
  readonly pageBytes: number
  readonly bootBytes: number
  readonly eepromBytes: number
  /** Start of the no-read-while-write section: optiboot cannot erase a page there while it still receives the data. */
  readonly nrwwStart: number
}

export const AVR_MCUS: ReadonlyArray<AvrMcu> = [
  {
    id: "atmega328p",
    name: "ATmega328P",
    signature: [0x1e, 0x95, 0x0f],
    flashBytes: 32768,
    pageBytes: 128,
    bootBytes: 512,
    eepromBytes: 1024,
    nrwwStart: 0x7000
  },
  {
    id: "atmega328",
    name: "ATmega328",
    signature: [0x1e, 0x95, 0x14],
    flashBytes: 32768,
    pageBytes: 128,
    bootBytes: 512,
    eepromBytes: 1024,
    nrwwStart: 0x7000
  },
  {
    id: "atmega168p",
    name: "ATmega168P",
    signature: [0x1e, 0x94, 0x0b],
    flashBytes: 16384,
    pageBytes: 128,
    bootBytes: 512,
    eepromBytes: 512,
    nrwwStart: 0x3800
  },
  {
    id: "atmega168",
    name: "ATmega168",
    signature: [0x1e, 0x94, 0x06],
    flashBytes: 16384,
    pageBytes: 128,
    bootBytes: 512,
    eepromBytes: 512,
    nrwwStart: 0x3800
  },
  {
    id: "atmega88p",
    name: "ATmega88P",
    signature: [0x1e, 0x93, 0x0f],
    flashBytes: 8192,
    pageBytes: 64,
    bootBytes: 512,
    eepromBytes: 512,
    nrwwStart: 0x1800
  }
]

export const signatureHex = (signature: ArrayLike<number>): string => Array.from(signature, (b) => b.toString(16).padStart(2, "0")).join("")

/** By id (`atmega328p`, `m328p`), name, or signature hex (`1e950f`). */
export const findAvrMcu = (key: string): AvrMcu | undefined => {
  const k = key
    .trim()
    .toLowerCase()
    .replace(/^m(?=\d)/, "atmega")
    .replace(/^0x/, "")
  return AVR_MCUS.find((m) => m.id === k || m.name.toLowerCase() === k || signatureHex(m.signature) === k)
}
