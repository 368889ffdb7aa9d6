/**
 * Finds Shelly devices by asking `GET /shelly` (open even with auth on) over
 * a set of IPv4 addresses, CIDR blocks or `a-b` ranges, many hosts at once with
 * a short timeout each. On loopback refused hosts answer at once; on a LAN the
 * per-host timeout bounds a /24 to about (254 / concurrency) × timeout.
 * `findByMac` also browses mDNS alongside the scan when an `Mdns` service is
 * provided, which finds devices outside the configured subnets too;
 * `subscribeAnnouncements` + `announcedDevice` catch a device announcing
 * itself as it comes back (RFC 6762 §8.3) without waiting for a scan round.
 */
import { Duration, Effect, Either, Option, Stream } from "effect"
import type { Scope } from "effect"
import { type Ipv4, ipv4ToNumber, isLoopback, numberToIpv4, parseIpv4 } from "../domain/ipv4.js"
import type { RpcFailure } from "../domain/errors/shelly.js"
import type { Mac } from "../domain/mac.js"
import { sameMac } from "./identity.js"
import { type BrowseOptions, type ListenOptions, Mdns, type MdnsDevice, type MdnsService } from "./mdns.js"
import type { ShellyIdentity } from "./schemas.js"
import { type DeviceTls, ShellyRpc } from "./ShellyRpc.js"

export interface DiscoveryOptions {
  /** HTTP port of the devices (80 on real devices). */
  readonly port?: number
  /** Hosts asked at once. */
  readonly concurrency?: number
  /** Per-host timeout of `GET /shelly`. */
  readonly timeout?: Duration.DurationInput
  /**
   * mDNS browse run by `findByMac` beside the scan, when the `Mdns` service is
   * provided; `false` turns it off. Without `iface`, a scan of loopback
   * addresses only queries on 127.0.0.1 (tests and demo stay on loopback).
   */
  readonly mdns?: BrowseOptions | false | undefined
  /**
   * HTTPS with this certificate setting for `GET /shelly` (a device Stage 1
   * knew as HTTPS, held to its pin: other hosts' certificates fail, which is
   * simply not a find); absent: plain HTTP.
   */
  readonly tls?: DeviceTls | undefined
}

export interface Found {
  readonly ip: Ipv4
  readonly port: number
  readonly identity: ShellyIdentity
  /** How the address was found; `GET /shelly` confirmed the identity either way. */
  readonly source?: "scan" | "mdns" | undefined
}

/** Upper bound on one scan, so a typo such as `/8` cannot start 16 million requests. */
export const MAX_SCAN_HOSTS = 65_536

const defaults = { port: 80, concurrency: 128, timeout: Duration.millis(400) }

const expandOne = (spec: string): Either.Either<ReadonlyArray<Ipv4>, string> => {
  const text = spec.trim()
  const cidr = /^([0-9.]+)\/(\d{1,2})$/.exec(text)
  if (cidr !== null) {
    const bits = Number(cidr[2])
    return Either.flatMap(parseIpv4(cidr[1]!), (base) => {
      if (bits > 32) return Either.left(`"${spec}": prefix length must be 0-32`)
      const size = 2 ** (32 - bits)
      if (size > MAX_SCAN_HOSTS)
        return Either.left(`"${spec}": ${size} addresses is more than one scan takes (${MAX_SCAN_HOSTS}); use /16 or smaller`)
      const network = Math.floor(ipv4ToNumber(base) / size) * size
      // Network and broadcast addresses hold no device (blocks of 4 and more).
      const first = size >= 4 ? network + 1 : network
      const last = size >= 4 ? network + size - 2 : network + size - 1
      return Either.right(Array.from({ length: last - first + 1 }, (_, i) => numberToIpv4(first + i)))
    })
  }
  const range = /^([0-9.]+)\s*-\s*([0-9.]+)$/.exec(text)
  if (range !== null) {
    return Either.flatMap(Either.all([parseIpv4(range[1]!), parseIpv4(range[2]!)]), ([from, to]) => {
      const a = ipv4ToNumber(from)
      const b = ipv4ToNumber(to)
      if (b < a) return Either.left(`"${spec}": range ends before it starts`)
      if (b - a + 1 > MAX_SCAN_HOSTS) return Either.left(`"${spec}": more than ${MAX_SCAN_HOSTS} addresses in one scan`)
      return Either.right(Array.from({ length: b - a + 1 }, (_, i) => numberToIpv4(a + i)))
    })
  }
  return Either.map(parseIpv4(text), (ip) => [ip])
}

/** Addresses of `specs` (IPs, CIDR blocks, `a-b` ranges), de-duplicated, in order. */
export const expandTargets = (specs: ReadonlyArray<string>): Either.Either<ReadonlyArray<Ipv4>, string> =>
  Either.flatMap(Either.all(specs.map(expandOne)), (lists) => {
    const unique = [...new Set(lists.flat())]
    return unique.length > MAX_SCAN_HOSTS
      ? Either.left(`${unique.length} addresses is more than one scan takes (${MAX_SCAN_HOSTS})`)
      : Either.right(unique)
  })

/**
 * Not a find. A Gen1 device (`GET /shelly` without `gen`) is named in a warning
 * with the fix, so the operator learns why a device on the network was skipped.
 */
const notFound = (error: RpcFailure): Effect.Effect<Option.Option<Found>> =>
  error._tag === "Gen1Unsupported"
    ? Effect.as(Effect.logWarning(`${error.message}; ${error.hint}`).pipe(Effect.annotateLogs("code", error.code)), Option.none<Found>())
    : Effect.succeed(Option.none<Found>())

/** Every address that answers `GET /shelly` like a Shelly device, as they answer. */
export const scan = (ips: ReadonlyArray<Ipv4>, options: DiscoveryOptions = {}): Stream.Stream<Found, never, ShellyRpc> => {
  const port = options.port ?? defaults.port
  const timeout = options.timeout ?? defaults.timeout
  // A bare TCP connect first, `GET /shelly` only where it was accepted: most
  // addresses of a subnet hold nothing, and a refused connect costs about half
  // the CPU of a refused HTTP request (measured on loopback, /24 all refusing:
  // 50-100 ms per scan against 100-290 ms for `GET /shelly` alone and 115-175
  // ms with its `connectTimeout`). A live device pays one extra handshake.
  const probeOne = (ip: Ipv4) =>
    Effect.flatMap(ShellyRpc, (rpc) =>
      Effect.flatMap(rpc.probe({ host: ip, port }, timeout), (accepted) =>
        accepted
          ? rpc.getShelly({ host: ip, port, tls: options.tls }, { timeout }).pipe(
              Effect.map((identity): Option.Option<Found> => Option.some({ ip, port, identity, source: "scan" })),
              // Anything that is not a Shelly answering is simply not a find; a Gen1 device is said so.
              Effect.catchAll(notFound)
            )
          : Effect.succeed(Option.none<Found>())
      )
    )
  // The hosts go through a plain bounded forEach and only the finds through the
  // stream: Stream.mapEffect's per-element machinery cost several times the
  // probes' own CPU, enough on a busy machine to push a live device's answer
  // past its timeout (bench/stage1.ts: a /24 took 0.6-3.5 s and missed the device).
  return Stream.asyncScoped<Found, never, ShellyRpc>((emit) =>
    Effect.forEach(
      ips,
      (ip) =>
        Effect.flatMap(
          probeOne(ip),
          Option.match({ onNone: () => Effect.void, onSome: (found) => Effect.promise(() => emit.single(found)) })
        ),
      { concurrency: options.concurrency ?? defaults.concurrency, discard: true }
    ).pipe(Effect.ensuring(Effect.promise(() => emit.end())), Effect.forkScoped)
  )
}

/** All devices found on `ips`. */
export const discoverAll = (ips: ReadonlyArray<Ipv4>, options?: DiscoveryOptions) =>
  Effect.map(Stream.runCollect(scan(ips, options)), (chunk) => Array.from(chunk))

/** The announced address, if `GET /shelly` there reports `mac`: an mDNS answer alone proves nothing. */
const verify = (device: MdnsDevice, mac: Mac, timeout: Duration.DurationInput, tls?: DeviceTls) =>
  Effect.flatMap(ShellyRpc, (rpc) => rpc.getShelly({ host: device.ip, port: device.port, tls }, { timeout })).pipe(
    Effect.map((identity) =>
      sameMac(identity.mac, mac) ? Option.some<Found>({ ip: device.ip, port: device.port, identity, source: "mdns" }) : Option.none<Found>()
    ),
    Effect.catchAll(notFound)
  )

/** Without an interface, a search of loopback addresses stays on 127.0.0.1 (tests and demo stay on loopback). */
const onInterfaceFor = <O extends { readonly iface?: string | undefined }>(options: O, ips: ReadonlyArray<Ipv4>): O =>
  options.iface === undefined && ips.length > 0 && ips.every(isLoopback) ? { ...options, iface: "127.0.0.1" } : options

const browseFor = (
  mdns: MdnsService,
  mac: Mac,
  ips: ReadonlyArray<Ipv4>,
  browse: BrowseOptions,
  timeout: Duration.DurationInput,
  tls: DeviceTls | undefined
) => {
  const options = onInterfaceFor(browse, ips)
  return mdns.browse(options).pipe(
    // Without mDNS (no multicast route, port refused) the scan still runs. Debug level:
    // Stage 1 polls every half second, and its stdout carries the runbook's lines only.
    Stream.catchAll((error) => Stream.fromEffect(Effect.logDebug(error.message)).pipe(Stream.drain)),
    Stream.filter((device) => device.mac === mac),
    Stream.mapEffect((device) => verify(device, mac, timeout, tls)),
    Stream.filterMap((found) => found)
  )
}

/**
 * The first address whose device reports `mac`, by the subnet scan or by mDNS
 * (when the `Mdns` service is provided and `options.mdns` is not false),
 * whichever confirms it first with `GET /shelly`; the other search is stopped
 * then. None once both have ended without it.
 */
export const findByMac = (
  mac: Mac,
  ips: ReadonlyArray<Ipv4>,
  options?: DiscoveryOptions
): Effect.Effect<Option.Option<Found>, never, ShellyRpc> =>
  Effect.flatMap(Effect.serviceOption(Mdns), (mdns) => {
    const scanned = scan(ips, options).pipe(Stream.filter((found) => sameMac(found.identity.mac, mac)))
    const browse = options?.mdns
    const searches =
      Option.isSome(mdns) && browse !== false
        ? Stream.merge(scanned, browseFor(mdns.value, mac, ips, browse ?? {}, options?.timeout ?? defaults.timeout, options?.tls))
        : scanned
    return Stream.runHead(searches)
  })

/**
 * Starts listening for mDNS announcements on the network of `ips` (group,
 * port and interface as the browse settings say), for the rest of the scope.
 * None when there is no `Mdns` service, mDNS is off, or the socket cannot be
 * opened (logged at debug level: the scan still finds the device).
 */
export const subscribeAnnouncements = (
  mdns: BrowseOptions | false | undefined,
  ips: ReadonlyArray<Ipv4>
): Effect.Effect<Option.Option<Stream.Stream<MdnsDevice>>, never, Scope.Scope> =>
  Effect.flatMap(Effect.serviceOption(Mdns), (service) => {
    if (Option.isNone(service) || mdns === false) return Effect.succeed(Option.none())
    const options: ListenOptions = onInterfaceFor(
      { group: mdns?.group, port: mdns?.port, iface: mdns?.iface, services: mdns?.services },
      ips
    )
    return service.value.listen(options).pipe(
      Effect.map(Option.some),
      Effect.catchAll((error) => Effect.as(Effect.logDebug(error.message), Option.none()))
    )
  })

/**
 * The first announced device with `mac` (at `ip`, when given) that `GET
 * /shelly` at the announced address confirms; an announcement alone proves
 * nothing. Does not complete until one does: race it against a search.
 */
export const announcedDevice = (
  announcements: Stream.Stream<MdnsDevice>,
  mac: Mac,
  options: {
    readonly timeout?: Duration.DurationInput | undefined
    readonly ip?: string | undefined
    readonly tls?: DeviceTls | undefined
  } = {}
): Effect.Effect<Found, never, ShellyRpc> =>
  announcements.pipe(
    Stream.filter((device) => device.mac === mac && (options.ip === undefined || device.ip === options.ip)),
    Stream.mapEffect((device) => verify(device, mac, options.timeout ?? defaults.timeout, options.tls)),
    Stream.filterMap((found) => found),
    Stream.runHead,
    Effect.flatMap(Option.match({ onNone: () => Effect.never, onSome: Effect.succeed }))
  )
