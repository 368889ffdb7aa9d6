/**
 * mDNS / DNS-SD discovery of Shelly Gen2+ devices (RFC 6762, RFC 6763).
 *
 * Devices announce `_shelly._tcp.local` and `_http._tcp.local`; the instance is
 * the device id (`shellyplus1pm-aabbccddeeff`) or the name the user gave it,
 * the SRV target is `Shelly1PMG3-<MAC>.local`, TXT holds `gen`, `app`, `ver`
 * (shared/reference/shelly-rpc.md §4). The MAC therefore comes from the
 * instance label or, for renamed devices, from the host label.
 *
 * This module holds the service interface and the pure part: the query, and
 * turning responses into devices. The socket side is `mdnsLive.ts`.
 */
import type { Duration, Effect, Scope, Stream } from "effect"
import { Context, Either } from "effect"
import type { MdnsSocketError } from "../domain/errors/mdns.js"
import { type Ipv4, parseIpv4 } from "../domain/ipv4.js"
import { type Mac, parseMac } from "../domain/mac.js"
import {
  CLASS_IN,
  type DnsMessage,
  encodeMessage,
  isResponse,
  type Name,
  nameFromDotted,
  nameToString,
  RecordType,
  type ResourceRecord,
  sameName,
  txtAttributes
} from "./dnsMessage.js"

export const MDNS_GROUP = "224.0.0.251"
export const MDNS_PORT = 5353
export const SHELLY_SERVICES: ReadonlyArray<string> = ["_shelly._tcp.local", "_http._tcp.local"]

export interface BrowseOptions {
  /**
   * Multicast group (default 224.0.0.251), or the unicast address of one
   * responder: RFC 6762 §5.5 lets a querier send to port 5353 unicast, which
   * reaches a device whose address is known but not its identity.
   */
  readonly group?: string | undefined
  /** Destination port (5353 on real networks; tests use a high port). */
  readonly port?: number | undefined
  /**
   * IPv4 address of the interface to query on (IP_MULTICAST_IF and the group
   * membership). Unset: the routing table decides, i.e. the default route.
   */
  readonly iface?: string | undefined
  readonly services?: ReadonlyArray<string> | undefined
  /** How long answers are collected. */
  readonly timeout?: Duration.DurationInput | undefined
  /** The browse ends after this many devices. */
  readonly maxDevices?: number | undefined
  /** Datagrams looked at, at most (a busy network must not keep us parsing). */
  readonly maxPackets?: number | undefined
  /** Times the query is sent (UDP on WiFi loses packets); spaced by `resendEvery`. */
  readonly queries?: number | undefined
  readonly resendEvery?: Duration.DurationInput | undefined
}

export interface ListenOptions {
  /** Multicast group (default 224.0.0.251); announcements go only to a group. */
  readonly group?: string | undefined
  /** Port of the group (5353 on real networks; tests use a high port). */
  readonly port?: number | undefined
  /** IPv4 address of the interface to listen on; unset: the routing table decides. */
  readonly iface?: string | undefined
  readonly services?: ReadonlyArray<string> | undefined
  /**
   * Datagrams held until read (the newest kept): the subscription starts
   * before the device reboots, and is read only after the WiFi is restored.
   */
  readonly buffer?: number | undefined
}

/** A Shelly device as announced over mDNS (not yet verified over HTTP). */
export interface MdnsDevice {
  readonly mac: Mac
  /**
   * The device id (`shelly2pmg3-a1b2c3d4e5f6`) when the instance is named by
   * it; a renamed device's host label gives the MAC but not reliably the id
   * (its prefix is the AP-SSID form, not the id prefix).
   */
  readonly id: string | undefined
  /** Service instance name, e.g. `shellyplus1pm-aabbccddeeff._shelly._tcp.local` or `Kitchen._http._tcp.local`. */
  readonly instance: string
  /** SRV target, e.g. `ShellyPlus1PM-AABBCCDDEEFF.local`. */
  readonly host: string
  readonly ip: Ipv4
  /** HTTP port from SRV (80 on real devices). */
  readonly port: number
  readonly gen: number | undefined
  readonly app: string | undefined
  readonly ver: string | undefined
  /** `address:port` the answer came from. */
  readonly from: string
}

export interface MdnsService {
  /**
   * Sends the PTR query for the services and streams each Shelly device found,
   * once per MAC, as answers arrive; ends at the timeout or after `maxDevices`.
   */
  readonly browse: (options?: BrowseOptions) => Stream.Stream<MdnsDevice, MdnsSocketError>
  /**
   * Subscribes to what responders send to the group unasked (RFC 6762 §8.3
   * announcements, and answers to anyone's query): the socket is bound and
   * joined when the effect runs, and datagrams are held from then on, so a
   * subscription made before a device reboots misses none of its
   * announcements. The stream yields a device for every datagram naming it
   * (not once per MAC: a device that comes back elsewhere says so again);
   * the socket closes with the scope.
   */
  readonly listen: (options?: ListenOptions) => Effect.Effect<Stream.Stream<MdnsDevice>, MdnsSocketError, Scope.Scope>
}

export class Mdns extends Context.Tag("fleet-provision/Mdns")<Mdns, MdnsService>() {}

export const isMulticast = (address: string): boolean => {
  const first = Number(address.split(".")[0])
  return first >= 224 && first <= 239
}

/**
 * The broadcast address of the loopback network. Every socket bound to the
 * port (SO_REUSEADDR) gets a datagram sent there, as members of a multicast
 * group do, and nothing leaves 127.0.0.0/8: tests, the demo and the bench use
 * it as the group, so their mDNS traffic stays on loopback addresses.
 */
export const LOOPBACK_SEGMENT = "127.255.255.255"

/**
 * How datagrams to `group` reach their peers: `multicast` (the real mDNS
 * group: membership on an interface), `segment` (the loopback stand-in: a
 * broadcast every socket on the port receives), or `unicast` (one responder,
 * RFC 6762 §5.5).
 */
export type GroupKind = "multicast" | "segment" | "unicast"

export const groupKind = (group: string): GroupKind =>
  isMulticast(group) ? "multicast" : group === LOOPBACK_SEGMENT ? "segment" : "unicast"

/** One question per service, class IN, QM (multicast answers, heard by every querier). */
export const browseQuery = (services: ReadonlyArray<string>, id = 0): Either.Either<Uint8Array, string> =>
  encodeMessage({
    id,
    flags: 0,
    questions: services.map((service) => ({
      name: nameFromDotted(service),
      type: RecordType.PTR,
      class: CLASS_IN,
      unicastResponse: false
    })),
    answers: [],
    authorities: [],
    additionals: []
  })

/** The Shelly devices one response datagram names completely (records spread over several datagrams are not joined). */
export const devicesInResponse = (
  message: DnsMessage,
  from: { readonly address: string; readonly port: number },
  services: ReadonlyArray<string> = SHELLY_SERVICES
): ReadonlyArray<MdnsDevice> => new ShellyAnswers(services).add(message, from)

const shellyLabel = /^shelly[a-z0-9]*-([0-9a-f]{12})$/i

/** `shellyplus1pm-aabbccddeeff` or `ShellyPlus1PM-AABBCCDDEEFF` → id + MAC; anything else → undefined. */
export const shellyIdentityFromLabel = (label: string): { readonly id: string; readonly mac: Mac } | undefined => {
  const match = shellyLabel.exec(label)
  if (match === null) return undefined
  const mac = parseMac(match[1]!)
  return Either.isRight(mac) ? { id: label.toLowerCase(), mac: mac.right } : undefined
}

const key = (name: Name): string => nameToString(name.map((label) => label.replace(/[A-Z]/g, (c) => c.toLowerCase())))

/** Entries kept per kind: a flood of records cannot grow memory without bound. */
const MAX_ENTRIES = 4096

interface Service {
  readonly target: Name
  readonly port: number
  /** Source of the datagram that carried the SRV: the address when no A record comes. */
  readonly from: { readonly address: string; readonly port: number }
}

/**
 * Collects records from responses (answers and additionals of any of them,
 * as RFC 6762 §6 lets a responder spread them) and reports each Shelly
 * device once its SRV and address are known.
 */
export class ShellyAnswers {
  private readonly services: ReadonlyArray<Name>
  private readonly instances = new Map<string, Name>()
  private readonly srv = new Map<string, Service>()
  private readonly txt = new Map<string, ReadonlyMap<string, string>>()
  private readonly addresses = new Map<string, Ipv4>()
  private readonly reported = new Set<string>()

  constructor(services: ReadonlyArray<string>) {
    this.services = services.map(nameFromDotted)
  }

  /** Devices completed by this message (each MAC only the first time). */
  add(message: DnsMessage, from: { readonly address: string; readonly port: number }): ReadonlyArray<MdnsDevice> {
    if (!isResponse(message)) return []
    const records = [...message.answers, ...message.additionals]
    for (const record of records) this.remember(record, from)
    const done: Array<MdnsDevice> = []
    for (const [instanceKey, instance] of this.instances) {
      const device = this.complete(instanceKey, instance)
      if (device === undefined || this.reported.has(device.mac)) continue
      this.reported.add(device.mac)
      done.push(device)
    }
    return done
  }

  private isBrowsed(service: Name): boolean {
    return this.services.some((s) => sameName(s, service))
  }

  private remember(record: ResourceRecord, from: { readonly address: string; readonly port: number }): void {
    // TTL 0 is a goodbye (RFC 6762 §10.1): the device is leaving, not arriving.
    if (record.ttl === 0) return
    const put = <V>(map: Map<string, V>, k: string, v: V) => {
      if (map.has(k) || map.size < MAX_ENTRIES) map.set(k, v)
    }
    const data = record.data
    switch (data._tag) {
      case "PTR":
        if (this.isBrowsed(record.name) && data.target.length > 0) put(this.instances, key(data.target), data.target)
        break
      case "SRV":
        // An SRV for `<instance>.<service>` names the instance even without its PTR.
        if (record.name.length > 0 && this.isBrowsed(record.name.slice(1))) put(this.instances, key(record.name), record.name)
        put(this.srv, key(record.name), { target: data.target, port: data.port, from })
        break
      case "TXT":
        put(this.txt, key(record.name), txtAttributes(data.entries))
        break
      case "A": {
        const ip = parseIpv4(data.address)
        if (Either.isRight(ip)) put(this.addresses, key(record.name), ip.right)
        break
      }
    }
  }

  private complete(instanceKey: string, instance: Name): MdnsDevice | undefined {
    const service = this.srv.get(instanceKey)
    if (service === undefined) return undefined
    const byInstance = shellyIdentityFromLabel(instance[0] ?? "")
    const identity = byInstance ?? shellyIdentityFromLabel(service.target[0] ?? "")
    if (identity === undefined) return undefined
    const ip = this.addresses.get(key(service.target)) ?? Either.getOrUndefined(parseIpv4(service.from.address))
    if (ip === undefined) return undefined
    const txt = this.txt.get(instanceKey)
    const gen = txt?.get("gen")
    return {
      mac: identity.mac,
      id: byInstance?.id,
      instance: nameToString(instance),
      host: nameToString(service.target),
      ip,
      port: service.port,
      gen: gen !== undefined && /^\d+$/.test(gen) ? Number(gen) : undefined,
      app: txt?.get("app"),
      ver: txt?.get("ver"),
      from: `${service.from.address}:${service.from.port}`
    }
  }
}
