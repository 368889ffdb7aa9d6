import { createHash } from "node:crypto"

export const SECTOR = 0x1000
const BLOCK_64K = 0x10000

/** SPI NOR flash: erased cells read 0xFF, programming can only clear bits. */
export class FlashMemory {
  readonly bytes: Uint8Array

  constructor(readonly size: number) {
    this.bytes = new Uint8Array(size).fill(0xff)
  }

  contains(offset: number, length: number): boolean {
    return offset >= 0 && length >= 0 && offset + length <= this.size
  }

  /** Erases whole sectors covering [offset, offset+length). Returns the bytes erased. */
  erase(offset: number, length: number): number {
    if (length <= 0) return 0
    const start = Math.floor(offset / SECTOR) * SECTOR
    const end = Math.min(this.size, Math.ceil((offset + length) / SECTOR) * SECTOR)
    this.bytes.fill(0xff, start, end)
    return end - start
  }

  /**
   * The ESP8266 ROM's SPIEraseArea counts the sectors up to the next 64 KiB boundary
   * twice, which is why esptool's get_erase_size sends a smaller size. Modelled so that
   * a flasher with the workaround erases exactly its region and one without over-erases.
   */
  eraseEsp8266Rom(offset: number, length: number): number {
    const sectors = Math.ceil(length / SECTOR)
    const startSector = Math.floor(offset / SECTOR)
    const head = Math.min(sectors, BLOCK_64K / SECTOR - (startSector % (BLOCK_64K / SECTOR)))
    return this.erase(startSector * SECTOR, (sectors + head) * SECTOR)
  }

  program(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) this.bytes[offset + i]! &= data[i]!
  }

  read(offset: number, length: number): Uint8Array {
    return this.bytes.slice(offset, offset + length)
  }

  md5(offset: number, length: number): Buffer {
    return createHash("md5")
      .update(this.bytes.subarray(offset, offset + length))
      .digest()
  }

  flipBit(offset: number): void {
    if (offset >= 0 && offset < this.size) this.bytes[offset]! ^= 0x01
  }
}
