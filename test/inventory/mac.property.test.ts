import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import fc from "fast-check"
import { formatMacColons, MacFromString, macSuffix6, parseMac } from "../../src/domain/mac.js"

const hexByte = fc.integer({ min: 0, max: 255 }).map((n) => n.toString(16).padStart(2, "0"))
const macBytes = fc.array(hexByte, { minLength: 6, maxLength: 6 })

/** Randomly upper/lower-cases each character. */
const randomCase = (s: string, flips: ReadonlyArray<boolean>) =>
  [...s].map((c, i) => (flips[i % flips.length] ? c.toUpperCase() : c.toLowerCase())).join("")

const spellings = (bytes: ReadonlyArray<string>): ReadonlyArray<string> => {
  const hex = bytes.join("")
  return [
    hex,
    hex.toUpperCase(),
    bytes.join(":"),
    bytes.join(":").toUpperCase(),
    bytes.join("-"),
    bytes.join("-").toUpperCase(),
    `${hex.slice(0, 4)}.${hex.slice(4, 8)}.${hex.slice(8)}`,
    `  ${bytes.join(":")}\t`
  ]
}

describe("parseMac (property)", () => {
  it("every common spelling of a MAC parses to the same canonical form", () => {
    fc.assert(
      fc.property(macBytes, fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }), (bytes, flips) => {
        const canonical = bytes.join("").toUpperCase()
        for (const spelling of [...spellings(bytes), randomCase(bytes.join(":"), flips)]) {
          expect(parseMac(spelling)).toEqual(Either.right(canonical))
        }
      })
    )
  })

  it("canonical form round-trips through formatMacColons and the Schema", () => {
    fc.assert(
      fc.property(macBytes, (bytes) => {
        const mac = Either.getOrThrow(parseMac(bytes.join("")))
        expect(parseMac(formatMacColons(mac))).toEqual(Either.right(mac))
        expect(parseMac(formatMacColons(mac, true))).toEqual(Either.right(mac))
        expect(Schema.decodeUnknownSync(MacFromString)(bytes.join("-"))).toBe(mac)
        expect(macSuffix6(mac)).toBe(bytes.slice(3).join("").toLowerCase())
      })
    )
  })

  it("rejects random strings that are not one of the accepted spellings", () => {
    const accepted =
      /^\s*(?:[0-9a-f]{12}|[0-9a-f]{2}(?::[0-9a-f]{2}){5}|[0-9a-f]{2}(?:-[0-9a-f]{2}){5}|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4})\s*$/i
    fc.assert(
      fc.property(fc.string({ maxLength: 24 }), (s) => {
        expect(Either.isRight(parseMac(s))).toBe(accepted.test(s))
      }),
      { numRuns: 2000 }
    )
  })

  it("rejects near misses: wrong length, mixed separators, non-hex digits", () => {
    fc.assert(
      fc.property(macBytes, fc.integer({ min: 0, max: 11 }), (bytes, at) => {
        const hex = bytes.join("")
        expect(Either.isLeft(parseMac(hex.slice(0, 11)))).toBe(true)
        expect(Either.isLeft(parseMac(hex + "0"))).toBe(true)
        expect(Either.isLeft(parseMac(`${bytes.slice(0, 3).join(":")}-${bytes.slice(3).join("-")}`))).toBe(true)
        expect(Either.isLeft(parseMac(hex.slice(0, at) + "g" + hex.slice(at + 1)))).toBe(true)
        expect(Either.isLeft(parseMac(bytes.join(": ")))).toBe(true)
      })
    )
  })

  it("names the input and an example in the error", () => {
    const result = parseMac("not-a-mac")
    expect(Either.isLeft(result) && result.left).toContain('"not-a-mac" is not a MAC address')
  })
})
