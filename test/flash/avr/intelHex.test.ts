import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import fc from "fast-check"
import { encodeIntelHex, type HexSegment, parseIntelHex, segmentsToImage } from "../../../src/flash/formats/intelHex.js"

/** Non-overlapping, non-adjacent segments (adjacent ones merge on parse), some across 64 KiB boundaries. */
const segmentsArb = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 4000 }), fc.uint8Array({ minLength: 1, maxLength: 300 })), { minLength: 0, maxLength: 6 })
  .map((parts) => {
    let address = 0xfe00
    return parts.map(([gap, data]): HexSegment => {
      address += gap
      const segment = { address, data }
      address += data.length
      return segment
    })
  })

describe("Intel HEX", () => {
  it("encode → parse gives the same segments (fast-check)", () => {
    fc.assert(
      fc.property(segmentsArb, fc.integer({ min: 1, max: 32 }), (segments, perRecord) => {
        const parsed = parseIntelHex(encodeIntelHex(segments, perRecord))
        expect(Either.isRight(parsed)).toBe(true)
        const got = Either.getOrThrow(parsed)
        expect(got.map((s) => [s.address, Buffer.from(s.data).toString("hex")])).toEqual(
          segments.map((s) => [s.address, Buffer.from(s.data).toString("hex")])
        )
      }),
      { numRuns: 200 }
    )
  })

  it("reads 02 (segment) and 04 (linear) base records, ignores 03/05, flattens gaps as 0xFF", () => {
    const text = [
      ":0400000001020304F2",
      ":020000021000EC",
      ":02000000AABB99",
      ":04000005000000CD2A",
      ":020000040001F9",
      ":01001000CC23",
      ":00000001FF"
    ].join("\r\n")
    const segments = Either.getOrThrow(parseIntelHex(text))
    expect(segments.map((s) => [s.address.toString(16), Buffer.from(s.data).toString("hex")])).toEqual([
      ["0", "01020304"],
      ["10000", "aabb"],
      ["10010", "cc"]
    ])
    const image = segmentsToImage(segments.slice(0, 1).concat([{ address: 8, data: Uint8Array.of(9) }]))
    expect(Buffer.from(image).toString("hex")).toBe("01020304ffffffff09")
  })

  it("names the line and the problem: checksum, truncation, garbage, overlap", () => {
    const cases: Array<[string, string]> = [
      [":0400000001020304F3\n:00000001FF", "line 1: checksum 0xF3 is wrong, expected 0xF2"],
      [":0400000001020304F2\n", "no end-of-file record"],
      ["hello\n:00000001FF", "line 1: a record must start with ':'"],
      [":0400000001020304F2\n:0400000001020304F2\n:00000001FF", "line 2: address 0x0 is written twice"],
      [":0500000001020304F2\n:00000001FF", "line 1: byte count says 5 data bytes, the record holds 4"],
      [":00000001FF\n:0400000001020304F2", "line 2: data after the end-of-file record"]
    ]
    for (const [text, message] of cases) {
      const result = parseIntelHex(text, "fw.hex")
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left._tag).toBe("ImageInvalid")
        expect(result.left.message).toContain("fw.hex (Intel HEX)")
        expect(result.left.message).toContain(message)
      }
    }
  })
})

describe("firmwareRegions", () => {
  it("a .hex becomes one region from its lowest address; a .bin stays raw at the offset; bad HEX names the file", async () => {
    const { firmwareRegions } = await import("../../../src/flash/formats/firmwareImage.js")
    const hex = encodeIntelHex([
      { address: 0x08000000, data: Uint8Array.of(1, 2) },
      { address: 0x08000004, data: Uint8Array.of(5) }
    ])
    const regions = Either.getOrThrow(firmwareRegions("firmware", "app.hex", new TextEncoder().encode(hex), 0))
    expect(regions.map((r) => [r.offset, Buffer.from(r.data).toString("hex")])).toEqual([[0x08000000, "0102ffff05"]])
    const raw = Either.getOrThrow(firmwareRegions("firmware", "app.bin", Uint8Array.of(9), 0x100))
    expect(raw).toEqual([{ name: "firmware", offset: 0x100, data: Uint8Array.of(9) }])
    const bad = firmwareRegions("firmware", "data/fw/uno.hex", new TextEncoder().encode(":00000001FE\n"), 0)
    expect(Either.isLeft(bad) && bad.left.message).toContain("data/fw/uno.hex (Intel HEX): line 1: checksum")
  })
})
