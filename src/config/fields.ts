// Field types shared by the config sections. Each carries the message an
// operator sees when the value does not fit.
import { Either, ParseResult, Schema } from "effect"
import { parseIpv4 } from "../domain/ipv4.js"

export { Ipv4FromString } from "../domain/ipv4.js"

/** A sub-section that may be left out: it then takes the defaults of all its fields. */
export const withDefaults = <A, I>(schema: Schema.Schema<A, I>) =>
  Schema.optionalWith(schema, { default: () => Schema.decodeUnknownSync(schema)({}) })

/** A path relative to the project root (or absolute). */
export const FilePath = Schema.String.pipe(Schema.filter((s) => s.trim().length > 0 || "expected a file path, found an empty string"))

/**
 * The longest timer Node keeps: 2³¹−1 ms (about 24.8 days). A longer one
 * fires after 1 ms (with a warning), so a typo such as `3000000000` would turn
 * every timeout into "at once" — duration fields refuse it instead.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1
export const MAX_SECONDS = Math.floor(MAX_TIMER_MS / 1000)

/** A duration in seconds (runbook style: `timeout: 20`), at most MAX_SECONDS (about 24 days). */
export const Seconds = Schema.Number.pipe(
  Schema.filter((n) => (Number.isFinite(n) && n > 0) || `expected a positive number of seconds, found ${n}`),
  Schema.filter((n) => n <= MAX_SECONDS || `expected at most ${MAX_SECONDS} seconds (about 24 days), found ${n}`)
)

/** 0 (off) or a duration in seconds, at most MAX_SECONDS. */
export const SecondsOrOff = Schema.Number.pipe(
  Schema.filter((n) => (Number.isFinite(n) && n >= 0) || `expected 0 (off) or a positive number of seconds, found ${n}`),
  Schema.filter((n) => n <= MAX_SECONDS || `expected at most ${MAX_SECONDS} seconds (about 24 days), found ${n}`)
)

/** A duration in milliseconds, at most MAX_TIMER_MS. */
export const Millis = Schema.Int.pipe(
  Schema.filter((n) => n > 0 || `expected a positive whole number of milliseconds, found ${n}`),
  Schema.filter((n) => n <= MAX_TIMER_MS || `expected at most ${MAX_TIMER_MS} ms (about 24 days), found ${n}`)
)

export const PositiveInt = Schema.Int.pipe(Schema.filter((n) => n > 0 || `expected a whole number of at least 1, found ${n}`))

export const NonNegativeInt = Schema.Int.pipe(Schema.filter((n) => n >= 0 || `expected a whole number of at least 0, found ${n}`))

export const Port = Schema.Int.pipe(Schema.filter((n) => (n >= 1 && n <= 65535) || `expected a TCP port 1-65535, found ${n}`))

export interface Cidr {
  readonly network: string
  readonly prefix: number
  /** As written in the file, e.g. `192.168.1.0/24`. */
  readonly text: string
}

const cidrPattern = /^\s*([0-9.]+)\/(\d{1,2})\s*$/

/** `192.168.1.0/24` → { network, prefix }. Host bits must be zero. */
export const parseCidr = (input: string): Either.Either<Cidr, string> => {
  const match = cidrPattern.exec(input)
  const ip = match ? parseIpv4(match[1]!) : Either.left("")
  const prefix = match ? Number(match[2]) : NaN
  if (!match || Either.isLeft(ip) || prefix > 32) {
    return Either.left(`"${input}" is not a subnet in CIDR form (expected e.g. 192.168.1.0/24)`)
  }
  const value = ip.right.split(".").reduce((acc, part) => acc * 256 + Number(part), 0)
  const hostBits = 2 ** (32 - prefix)
  if (value % hostBits !== 0) {
    return Either.left(`"${input}" has host bits set (the network of /${prefix} starts at a multiple of ${hostBits})`)
  }
  return Either.right({ network: ip.right, prefix, text: input.trim() })
}

export const CidrFromString = Schema.transformOrFail(
  Schema.String,
  Schema.Struct({ network: Schema.String, prefix: Schema.Number, text: Schema.String }),
  {
    strict: true,
    decode: (input, _options, ast) =>
      Either.match(parseCidr(input), {
        onLeft: (message) => ParseResult.fail(new ParseResult.Type(ast, input, message)),
        onRight: (cidr) => ParseResult.succeed(cidr)
      }),
    encode: (cidr) => ParseResult.succeed(cidr.text)
  }
)

const sizeUnits: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3
}

/** Bytes: a number, or a string such as `5MB`, `512 KiB` (binary units). */
export const ByteSize = Schema.Union(
  Schema.Int.pipe(Schema.filter((n) => n > 0 || `expected a positive size in bytes, found ${n}`)),
  Schema.transformOrFail(Schema.String, Schema.Number, {
    strict: true,
    decode: (input, _options, ast) => {
      const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(input)
      const unit = match ? sizeUnits[match[2]!.toLowerCase()] : undefined
      return match && unit !== undefined && Number(match[1]) > 0
        ? ParseResult.succeed(Math.round(Number(match[1]) * unit))
        : ParseResult.fail(new ParseResult.Type(ast, input, `"${input}" is not a size (expected bytes or e.g. 5MB, 512KB)`))
    },
    encode: (n) => ParseResult.succeed(String(n))
  })
)
