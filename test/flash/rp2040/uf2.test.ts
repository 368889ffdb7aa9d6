import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import fc from "fast-check"
import {
  binToUf2,
  isUf2,
  parseUf2,
  RP2040_FAMILY_ID,
  UF2_MAGIC_END,
  UF2_MAGIC_START0,
  UF2_MAGIC_START1,
  uf2ToImage
} from "../../../src/flash/formats/uf2.js"

describe("UF2", () => {
  it("block layout: magics, flags with family id, 256-byte payloads at 0x10000000, numbering", () => {
    const uf2 = binToUf2(Uint8Array.from({ length: 600 }, (_, i) => i & 0xff))
    expect(uf2.length).toBe(3 * 512)
    const view = new DataView(uf2.buffer)
    for (let block = 0; block < 3; block++) {
      const at = block * 512
      expect(view.getUint32(at, true)).toBe(UF2_MAGIC_START0)
      expect(view.getUint32(at + 4, true)).toBe(UF2_MAGIC_START1)
      expect(view.getUint32(at + 8, true)).toBe(0x2000)
      expect(view.getUint32(at + 12, true)).toBe(0x10000000 + block * 256)
      expect(view.getUint32(at + 16, true)).toBe(256)
      expect(view.getUint32(at + 20, true)).toBe(block)
      expect(view.getUint32(at + 24, true)).toBe(3)
      expect(view.getUint32(at + 28, true)).toBe(RP2040_FAMILY_ID)
      expect(view.getUint32(at + 508, true)).toBe(UF2_MAGIC_END)
    }
    expect(uf2[2 * 512 + 32 + 87]).toBe(599 & 0xff) // last data byte
    expect(uf2[2 * 512 + 32 + 88]).toBe(0xff) // padding of the short last payload
    expect(isUf2(uf2)).toBe(true)
    expect(isUf2(new Uint8Array(512))).toBe(false)
  })

  it("bin → uf2 → image round trip (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 5000 }), fc.integer({ min: 0, max: 255 }), (image, page) => {
        const base = 0x10000000 + page * 256
        const { baseAddress, image: back } = uf2ToImage(Either.getOrThrow(parseUf2(binToUf2(image, { baseAddress: base }))))
        expect(baseAddress).toBe(base)
        expect(Buffer.from(back.subarray(0, image.length)).equals(Buffer.from(image))).toBe(true)
        expect(back.subarray(image.length).every((b) => b === 0xff)).toBe(true)
      }),
      { numRuns: 100 }
    )
  })

  it("rejects a torn file or a broken block, naming the block", () => {
    const uf2 = binToUf2(new Uint8Array(1024))
    expect(Either.isLeft(parseUf2(uf2.subarray(0, 700), "fw.uf2"))).toBe(true)
    const broken = Uint8Array.from(uf2)
    broken[512 + 508] = 0
    const result = parseUf2(broken, "fw.uf2")
    expect(Either.isLeft(result) && result.left.message).toContain("fw.uf2 (UF2): block 1: bad magic numbers")
  })
})
