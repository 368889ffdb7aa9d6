import { Brand, Either, ParseResult, Schema } from "effect"

/** A dotted-quad IPv4 address, validated (no leading zeros, each octet 0-255). */
export type Ipv4 = string & Brand.Brand<"Ipv4">

const octet = /^(0|[1-9][0-9]{0,2})$/

export const parseIpv4 = (input: string): Either.Either<Ipv4, string> => {
  const trimmed = input.trim()
  const parts = trimmed.split(".")
  const valid = parts.length === 4 && parts.every((p) => octet.test(p) && Number(p) <= 255)
  return valid
    ? Either.right(trimmed as Ipv4)
    : Either.left(`"${input}" is not an IPv4 address (expected four numbers 0-255, e.g. 192.168.1.35)`)
}

export const ipv4ToNumber = (ip: Ipv4): number => ip.split(".").reduce((acc, part) => acc * 256 + Number(part), 0)

export const numberToIpv4 = (n: number): Ipv4 => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".") as Ipv4

/** True for 127.0.0.0/8, where tests, demo and benchmarks must stay. */
export const isLoopback = (ip: Ipv4): boolean => ip.startsWith("127.")

export const Ipv4FromString = Schema.transformOrFail(Schema.String, Schema.String.pipe(Schema.brand("Ipv4")), {
  strict: true,
  decode: (input, _options, ast) =>
    Either.match(parseIpv4(input), {
      onLeft: (message) => ParseResult.fail(new ParseResult.Type(ast, input, message)),
      onRight: (ip) => ParseResult.succeed(ip)
    }),
  encode: (ip) => ParseResult.succeed(ip)
})
