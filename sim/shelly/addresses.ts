/** Loopback address arithmetic for device addresses and the DHCP pool. */
import { Either } from "effect"
import type { Ipv4 } from "../../src/domain/ipv4.js"
import { ipv4ToNumber, isLoopback, numberToIpv4, parseIpv4 } from "../../src/domain/ipv4.js"

/** A usable host address: not the x.x.x.0 network or x.x.x.255 broadcast of a /24. */
const usableHost = (n: number): boolean => n % 256 !== 0 && n % 256 !== 255

/** The next usable host address after `ip` (skipping .0 and .255). */
export const nextHost = (ip: Ipv4): Ipv4 => {
  let n = ipv4ToNumber(ip) + 1
  while (!usableHost(n)) n += 1
  return numberToIpv4(n)
}

/** `count` consecutive usable host addresses starting at `base`. */
export const hostSequence = (base: Ipv4, count: number): Array<Ipv4> => {
  const out: Array<Ipv4> = []
  let n = ipv4ToNumber(base)
  while (!usableHost(n)) n += 1
  while (out.length < count) {
    if (usableHost(n)) out.push(numberToIpv4(n))
    n += 1
  }
  return out
}

/** Parses an address the simulator may bind: loopback only (127.0.0.0/8). */
export const loopbackAddress = (input: string, what: string): Either.Either<Ipv4, string> =>
  Either.flatMap(parseIpv4(input), (ip) =>
    isLoopback(ip) ? Either.right(ip) : Either.left(`${what} ${input} is not a loopback address (the simulator binds 127.0.0.0/8 only)`)
  )

export const inRange = (ip: Ipv4, start: Ipv4, end: Ipv4): boolean => {
  const n = ipv4ToNumber(ip)
  return n >= ipv4ToNumber(start) && n <= ipv4ToNumber(end)
}

/** First usable address in [start, end] not in `taken`. */
export const firstFree = (start: Ipv4, end: Ipv4, taken: (ip: string) => boolean): Ipv4 | undefined => {
  for (let n = ipv4ToNumber(start); n <= ipv4ToNumber(end); n++) {
    if (!usableHost(n)) continue
    const ip = numberToIpv4(n)
    if (!taken(ip)) return ip
  }
  return undefined
}
