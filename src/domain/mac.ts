import { Brand, Either, ParseResult, Schema } from "effect"

/**
 * A MAC address in canonical form: 12 uppercase hex digits, no separators
 * (the form Shelly devices report, e.g. `A1B2C3D4E5F6`).
 */
export type Mac = string & Brand.Brand<"Mac">

const canonical = /^[0-9A-F]{12}$/

/**
 * Accepts the common spellings: `a1b2c3d4e5f6`, `A1:B2:C3:D4:E5:F6`,
 * `a1-b2-c3-d4-e5-f6`, `a1b2.c3d4.e5f6` (Cisco), with surrounding spaces.
 */
export const parseMac = (input: string): Either.Either<Mac, string> => {
  const trimmed = input.trim()
  const grouped = /^([0-9a-fA-F]{2})([:-])([0-9a-fA-F]{2})(\2[0-9a-fA-F]{2}){4}$/.test(trimmed)
  const cisco = /^[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}$/.test(trimmed)
  const bare = /^[0-9a-fA-F]{12}$/.test(trimmed)
  if (!grouped && !cisco && !bare) {
    return Either.left(`"${input}" is not a MAC address (expected 12 hex digits, e.g. A1:B2:C3:D4:E5:F6)`)
  }
  const hex = trimmed.replace(/[:.-]/g, "").toUpperCase()
  return canonical.test(hex) ? Either.right(hex as Mac) : Either.left(`"${input}" is not a MAC address`)
}

export const isMac = (input: string): boolean => Either.isRight(parseMac(input))

/** `A1B2C3D4E5F6` → `a1:b2:c3:d4:e5:f6` */
export const formatMacColons = (mac: Mac, upper = false): string => {
  const pairs = mac.match(/../g)!.join(":")
  return upper ? pairs : pairs.toLowerCase()
}

/** Last three bytes, lowercase: `d4e5f6` (naming patterns use it). */
export const macSuffix6 = (mac: Mac): string => mac.slice(6).toLowerCase()

/** Schema: decodes any common spelling to the canonical Mac, encodes canonical. */
export const MacFromString = Schema.transformOrFail(Schema.String, Schema.String.pipe(Schema.brand("Mac")), {
  strict: true,
  decode: (input, _options, ast) =>
    Either.match(parseMac(input), {
      onLeft: (message) => ParseResult.fail(new ParseResult.Type(ast, input, message)),
      onRight: (mac) => ParseResult.succeed(mac)
    }),
  encode: (mac) => ParseResult.succeed(mac)
})
