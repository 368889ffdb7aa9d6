/**
 * STM32 parts by the product id GET_ID returns (AN2606 lists them with their
 * bootloader versions). `uidAddress`: the 96-bit unique id; `flashSizeAddress`:
 * the 16-bit flash size in KiB (reference manuals, "device electronic signature").
 */
export interface Stm32Part {
  readonly pid: number
  readonly name: string
  readonly uidAddress: number
  readonly flashSizeAddress: number
  readonly flashBase: number
  /** Erase unit of a page-list erase (reference manuals); F4 parts erase sectors of mixed size: none. */
  readonly pageBytes?: number
}

export const STM32_PARTS: ReadonlyArray<Stm32Part> = [
  {
    pid: 0x410,
    pageBytes: 1024,
    name: "STM32F10x medium-density",
    uidAddress: 0x1ffff7e8,
    flashSizeAddress: 0x1ffff7e0,
    flashBase: 0x08000000
  },
  {
    pid: 0x412,
    pageBytes: 1024,
    name: "STM32F10x low-density",
    uidAddress: 0x1ffff7e8,
    flashSizeAddress: 0x1ffff7e0,
    flashBase: 0x08000000
  },
  {
    pid: 0x414,
    pageBytes: 2048,
    name: "STM32F10x high-density",
    uidAddress: 0x1ffff7e8,
    flashSizeAddress: 0x1ffff7e0,
    flashBase: 0x08000000
  },
  {
    pid: 0x418,
    pageBytes: 2048,
    name: "STM32F105/107 connectivity line",
    uidAddress: 0x1ffff7e8,
    flashSizeAddress: 0x1ffff7e0,
    flashBase: 0x08000000
  },
  {
    pid: 0x420,
    pageBytes: 1024,
    name: "STM32F100 value line",
    uidAddress: 0x1ffff7e8,
    flashSizeAddress: 0x1ffff7e0,
    flashBase: 0x08000000
  },
  {
    pid: 0x430,
    pageBytes: 2048,
    name: "STM32F10x XL-density",
    uidAddress: 0x1ffff7e8,
    flashSizeAddress: 0x1ffff7e0,
    flashBase: 0x08000000
  },
  { pid: 0x440, pageBytes: 1024, name: "STM32F030x8/F05x", uidAddress: 0x1ffff7ac, flashSizeAddress: 0x1ffff7cc, flashBase: 0x08000000 },
  { pid: 0x413, name: "STM32F405/407/415/417", uidAddress: 0x1fff7a10, flashSizeAddress: 0x1fff7a22, flashBase: 0x08000000 }
]

export const findStm32Part = (pid: number): Stm32Part | undefined => STM32_PARTS.find((p) => p.pid === pid)

/** `0x410`, `410`, `stm32f103` (→ 0x410) … to a product id; undefined when unknown. */
export const expectedPid = (text: string): number | undefined => {
  const t = text.trim().toLowerCase()
  const aliases: Record<string, number> = {
    stm32f103: 0x410,
    stm32f101: 0x410,
    stm32f100: 0x420,
    stm32f030: 0x440,
    stm32f407: 0x413,
    stm32f405: 0x413
  }
  if (aliases[t] !== undefined) return aliases[t]
  const hex = t.replace(/^0x/, "")
  return /^[0-9a-f]{3,4}$/.test(hex) ? Number.parseInt(hex, 16) : undefined
}

export const pidHex = (pid: number) => `0x${pid.toString(16).padStart(3, "0")}`
