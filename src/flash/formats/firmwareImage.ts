import { Either } from "effect"
import type { ImageInvalid } from "../../domain/errors/flash.js"
import type { FlashRegion } from "../Flasher.js"
import { parseIntelHex, segmentsToImage } from "./intelHex.js"

/**
 * A firmware file as flash regions, by its name: `.hex` (Intel HEX: one region
 * from the lowest address, gaps 0xFF — addresses are absolute, e.g. 0x08000000
 * for STM32, which its flasher accepts), anything else raw at `offset`
 * (`.bin`; `.uf2` passes through for the RP2040 flasher, which reads its blocks).
 */
export const firmwareRegions = (
  name: string,
  fileName: string,
  bytes: Uint8Array,
  offset: number
): Either.Either<ReadonlyArray<FlashRegion>, ImageInvalid> => {
  if (!/\.(hex|ihex|ihx)$/i.test(fileName)) return Either.right([{ name, offset, data: bytes }])
  return Either.map(parseIntelHex(new TextDecoder("latin1").decode(bytes), fileName), (segments) => {
    if (segments.length === 0) return []
    const origin = segments[0]!.address
    return [{ name, offset: origin, data: segmentsToImage(segments, origin) }]
  })
}
