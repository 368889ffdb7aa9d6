import { Either } from "effect"
import { ImageInvalid } from "../../domain/errors/flash.js"

/**
 * UF2 (Microsoft's USB flashing format, used by the RP2040 boot ROM): 512-byte
 * blocks, each carrying up to 476 payload bytes (the RP2040 ROM wants 256) for
 * one target address. Field layout per the UF2 specification:
 *   0 magicStart0, 4 magicStart1, 8 flags, 12 targetAddr, 16 payloadSize,
 *   20 blockNo, 24 numBlocks, 28 fileSize | familyID, 32 data[476], 508 magicEnd
 */
export const UF2_MAGIC_START0 = 0x0a324655
export const UF2_MAGIC_START1 = 0x9e5d5157
export const UF2_MAGIC_END = 0x0ab16f30
export const UF2_FLAG_NOT_MAIN_FLASH = 0x00000001
export const UF2_FLAG_FAMILY_ID_PRESENT = 0x00002000
export const UF2_BLOCK_SIZE = 512
export const RP2040_FAMILY_ID = 0xe48bff56
export const RP2040_FLASH_BASE = 0x10000000
export const RP2040_PAYLOAD = 256

export interface Uf2Block {
  readonly flags: number
  readonly targetAddr: number
  readonly blockNo: number
  readonly numBlocks: number
  readonly familyId: number | undefined
  readonly data: Uint8Array
}

/** A UF2 file starts with the two start magics; anything else is a raw binary. */
export const isUf2 = (bytes: Uint8Array): boolean => {
  if (bytes.length < UF2_BLOCK_SIZE) return false
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return view.getUint32(0, true) === UF2_MAGIC_START0 && view.getUint32(4, true) === UF2_MAGIC_START1
}

/** Wraps a raw flash image in UF2 blocks (the RP2040's 256-byte payload, flash base, family id). */
export const binToUf2 = (
  image: Uint8Array,
  options: { readonly baseAddress?: number; readonly familyId?: number; readonly payloadSize?: number } = {}
): Uint8Array => {
  const base = options.baseAddress ?? RP2040_FLASH_BASE
  const familyId = options.familyId ?? RP2040_FAMILY_ID
  const payload = options.payloadSize ?? RP2040_PAYLOAD
  const numBlocks = Math.max(1, Math.ceil(image.length / payload))
  const out = new Uint8Array(numBlocks * UF2_BLOCK_SIZE)
  const view = new DataView(out.buffer)
  for (let blockNo = 0; blockNo < numBlocks; blockNo++) {
    const at = blockNo * UF2_BLOCK_SIZE
    view.setUint32(at + 0, UF2_MAGIC_START0, true)
    view.setUint32(at + 4, UF2_MAGIC_START1, true)
    view.setUint32(at + 8, UF2_FLAG_FAMILY_ID_PRESENT, true)
    view.setUint32(at + 12, base + blockNo * payload, true)
    view.setUint32(at + 16, payload, true)
    view.setUint32(at + 20, blockNo, true)
    view.setUint32(at + 24, numBlocks, true)
    view.setUint32(at + 28, familyId, true)
    // A short last chunk is padded with 0xFF (erased flash) to the full payload.
    const chunk = image.subarray(blockNo * payload, (blockNo + 1) * payload)
    out.fill(0xff, at + 32, at + 32 + payload)
    out.set(chunk, at + 32)
    view.setUint32(at + 508, UF2_MAGIC_END, true)
  }
  return out
}

/** Parses and checks every block (magics, payload size, numbering); `source` names the file in errors. */
export const parseUf2 = (bytes: Uint8Array, source = "<uf2>"): Either.Either<ReadonlyArray<Uf2Block>, ImageInvalid> => {
  const fail = (detail: string) => Either.left(new ImageInvalid({ region: `${source} (UF2)`, detail }))
  if (bytes.length === 0 || bytes.length % UF2_BLOCK_SIZE !== 0) {
    return fail(`size ${bytes.length} is not a multiple of ${UF2_BLOCK_SIZE}-byte blocks`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const blocks: Array<Uf2Block> = []
  for (let at = 0; at < bytes.length; at += UF2_BLOCK_SIZE) {
    const index = at / UF2_BLOCK_SIZE
    if (
      view.getUint32(at, true) !== UF2_MAGIC_START0 ||
      view.getUint32(at + 4, true) !== UF2_MAGIC_START1 ||
      view.getUint32(at + 508, true) !== UF2_MAGIC_END
    ) {
      return fail(`block ${index}: bad magic numbers`)
    }
    const flags = view.getUint32(at + 8, true)
    const payloadSize = view.getUint32(at + 16, true)
    if (payloadSize > 476) return fail(`block ${index}: payload size ${payloadSize} exceeds 476`)
    const blockNo = view.getUint32(at + 20, true)
    const numBlocks = view.getUint32(at + 24, true)
    if (blockNo >= numBlocks) return fail(`block ${index}: block number ${blockNo} is not below the count ${numBlocks}`)
    blocks.push({
      flags,
      targetAddr: view.getUint32(at + 12, true),
      blockNo,
      numBlocks,
      familyId: flags & UF2_FLAG_FAMILY_ID_PRESENT ? view.getUint32(at + 28, true) : undefined,
      data: bytes.slice(at + 32, at + 32 + payloadSize)
    })
  }
  return Either.right(blocks)
}

/**
 * Rebuilds the flash image the blocks describe (from the lowest target
 * address), skipping blocks marked not-for-main-flash or of another family.
 */
export const uf2ToImage = (
  blocks: ReadonlyArray<Uf2Block>,
  familyId: number = RP2040_FAMILY_ID
): { readonly baseAddress: number; readonly image: Uint8Array } => {
  const wanted = blocks.filter((b) => (b.flags & UF2_FLAG_NOT_MAIN_FLASH) === 0 && (b.familyId === undefined || b.familyId === familyId))
  if (wanted.length === 0) return { baseAddress: RP2040_FLASH_BASE, image: new Uint8Array(0) }
  const baseAddress = Math.min(...wanted.map((b) => b.targetAddr))
  const end = Math.max(...wanted.map((b) => b.targetAddr + b.data.length))
  const image = new Uint8Array(end - baseAddress).fill(0xff)
  for (const block of wanted) image.set(block.data, block.targetAddr - baseAddress)
  return { baseAddress, image }
}
