import { Either } from "effect"
import { ChipMismatch, ImageInvalid } from "../../domain/errors/flash.js"
import type { FlashRegion } from "../Flasher.js"
import { type ChipSpec, chipByImageId } from "./chips.js"

export const IMAGE_MAGIC = 0xe9

/** Which chip an image header was built for, as far as the header tells. */
export type ImageTarget =
  | { readonly _tag: "NotAnImage" } // partition table, data blob: nothing to check
  | { readonly _tag: "Esp8266" }
  | { readonly _tag: "Esp32Family"; readonly chipId: number }

const isCodeAddress = (address: number): boolean => {
  const top = address >>> 24
  return top === 0x3f || top === 0x40 || top === 0x42 || top === 0x4f || top === 0x50
}

/**
 * ESP32-family images carry a 16-byte extended header (WP pin, drive
 * settings, chip id) where an ESP8266 image has its first segment's load
 * address; the load address is a code/data address (0x3F…/0x40…), the
 * extended header's first word is not.
 */
export const imageTarget = (data: Uint8Array): ImageTarget => {
  if (data.length < 24 || data[0] !== IMAGE_MAGIC) return { _tag: "NotAnImage" }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  if (isCodeAddress(view.getUint32(8, true))) return { _tag: "Esp8266" }
  return { _tag: "Esp32Family", chipId: view.getUint16(12, true) }
}

const describeTarget = (target: ImageTarget): string =>
  target._tag === "Esp8266"
    ? "ESP8266"
    : target._tag === "Esp32Family"
      ? (chipByImageId(target.chipId)?.name ?? `chip id ${target.chipId}`)
      : "any chip"

/** An image whose header names another chip than the one on the port → ChipMismatch (before anything is written). */
export const checkImageForChip = (port: string, chip: ChipSpec, region: FlashRegion): Either.Either<void, ChipMismatch> => {
  const target = imageTarget(region.data)
  const fits =
    target._tag === "NotAnImage" ||
    (target._tag === "Esp8266" && chip.imageChipId === undefined) ||
    (target._tag === "Esp32Family" && chip.imageChipId === target.chipId)
  return fits
    ? Either.void
    : Either.left(new ChipMismatch({ port, detected: chip.name, expected: describeTarget(target), source: region.name }))
}

const hex = (n: number) => `0x${n.toString(16)}`

/** Regions must be non-empty, inside the flash, and not overlap. */
export const checkRegionLayout = (
  regions: ReadonlyArray<FlashRegion>,
  flashSize: number | undefined
): Either.Either<void, ImageInvalid> => {
  const sorted = [...regions].sort((a, b) => a.offset - b.offset)
  for (let i = 0; i < sorted.length; i++) {
    const region = sorted[i]!
    if (region.data.length === 0) return Either.left(new ImageInvalid({ region: region.name, detail: "the file is empty" }))
    if (region.offset < 0 || region.offset % 0x1000 !== 0) {
      return Either.left(
        new ImageInvalid({ region: region.name, detail: `offset ${hex(region.offset)} is not a multiple of the 4 KiB sector size` })
      )
    }
    const end = region.offset + region.data.length
    if (flashSize !== undefined && end > flashSize) {
      return Either.left(
        new ImageInvalid({
          region: region.name,
          detail: `${region.data.length} bytes at ${hex(region.offset)} end past the ${flashSize / 1048576} MiB flash`
        })
      )
    }
    const next = sorted[i + 1]
    if (next !== undefined && end > next.offset) {
      return Either.left(
        new ImageInvalid({ region: region.name, detail: `ends at ${hex(end)}, overlapping ${next.name} at ${hex(next.offset)}` })
      )
    }
  }
  return Either.void
}
