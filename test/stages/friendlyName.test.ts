import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { FRIENDLY_NAME_MAX_LENGTH, normalizeFriendlyName } from "../../src/stages/friendlyName.js"

describe("normalizeFriendlyName", () => {
  it("trims and collapses spaces, keeps umlauts", () => {
    expect(normalizeFriendlyName("  Küche   Licht  ")).toEqual(Either.right("Küche Licht"))
    expect(normalizeFriendlyName("Wohn\u00a0zimmer")).toEqual(Either.right("Wohn zimmer"))
  })

  it("composes decomposed characters (NFC)", () => {
    expect(normalizeFriendlyName("Ku\u0308che")).toEqual(Either.right("Küche"))
  })

  it("rejects control and invisible characters by code point", () => {
    expect(normalizeFriendlyName("Bad\nName")).toEqual(Either.left("name contains a control/invisible character U+000A"))
    expect(normalizeFriendlyName("Zero\u200bWidth")).toEqual(Either.left("name contains a control/invisible character U+200B"))
  })

  it("rejects names that are empty after trimming", () => {
    expect(normalizeFriendlyName("   ")).toEqual(Either.left("name is empty after trimming spaces"))
  })

  it("rejects names over the limit instead of cutting them", () => {
    const long = "x".repeat(FRIENDLY_NAME_MAX_LENGTH + 1)
    expect(normalizeFriendlyName(long)).toEqual(Either.left(`name is 65 characters, the limit is 64`))
    expect(normalizeFriendlyName("x".repeat(FRIENDLY_NAME_MAX_LENGTH))).toEqual(Either.right("x".repeat(64)))
  })

  it("is idempotent and its output has no edge spaces, no double spaces, no controls", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 80 }), (raw) => {
        const once = normalizeFriendlyName(raw)
        if (Either.isLeft(once)) return
        const name = once.right
        expect(name).toBe(name.trim())
        expect(name).not.toMatch(/ {2}|\p{Cc}/u)
        expect([...name].length).toBeLessThanOrEqual(FRIENDLY_NAME_MAX_LENGTH)
        expect(normalizeFriendlyName(name)).toEqual(Either.right(name))
      })
    )
  })
})
