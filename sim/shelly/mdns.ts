/**
 * mDNS responder for the simulated fleet: every device on the production
 * network answers for its own DNS-SD instance, as a Gen2+ Shelly does
 * (shared/reference/shelly-rpc.md §4 and the captures cited at `announcementOf`):
 * PTR `_shelly._tcp.local` and `_http._tcp.local` → the id-named instance,
 * SRV → `<AP-SSID form>.local` on the fleet's HTTP port, A → the device's
 * loopback address; a named device adds a name-named `_http` instance with its
 * own host. TXT per service as the captures show.
 * Devices in AP/factory mode, joining, rebooting or offline stay silent;
 * `blackhole` devices do answer (their network stack is up, their HTTP is not).
 *
 * One socket serves the whole fleet, but each device sends its own response
 * datagram, as separate hosts would. `announce` sends a device's unsolicited
 * announcement (RFC 6762 §8.3: every record of the device in the answer
 * section, unique ones with cache-flush) to the group; the fleet calls it when
 * the device comes up on the production network, twice, 1 s apart (device time). Multicast goes out on the loopback
 * interface only (IP_MULTICAST_IF 127.0.0.1), and queries from anything but
 * 127.0.0.0/8 are ignored.
 */
import { Effect } from "effect"
import * as Dgram from "node:dgram"
import { isLoopback, parseIpv4 } from "../../src/domain/ipv4.js"
import {
  CLASS_IN,
  type DnsMessage,
  decodeMessage,
  encodeMessage,
  Flags,
  isResponse,
  type Name,
  nameFromDotted,
  type Question,
  RecordType,
  type ResourceRecord,
  sameName,
  txtEntry,
  typeOf
} from "../../src/shelly/dnsMessage.js"
import { groupKind, MDNS_GROUP, MDNS_PORT, SHELLY_SERVICES } from "../../src/shelly/mdns.js"
import { SimStartError } from "./errors.js"
import type { DeviceView } from "./view.js"

export interface MdnsResponderOptions {
  /** Multicast group (default 224.0.0.251), or a loopback address: then a unicast-only responder bound there. */
  readonly group?: string
  /** Default 5353; 0 lets the OS pick (read it back from `port`). */
  readonly port?: number
  /** Loopback address of the multicast interface (default 127.0.0.1). */
  readonly iface?: string
  /** TTL of the records in multicast answers (default 120 s, as real devices). */
  readonly ttl?: number
}

export interface MdnsResponder {
  readonly group: string
  readonly port: number
  /** Response datagrams sent so far. */
  readonly answered: () => number
  /**
   * Announces the device if it is on the production network (a multicast
   * responder only; a unicast-only one has no group to announce to).
   */
  readonly announce: (device: DeviceView) => void
  /** Announcements sent so far. */
  readonly announced: () => number
  readonly stop: () => Promise<void>
}

const SERVICES = SHELLY_SERVICES.map(nameFromDotted)
const META_QUERY = nameFromDotted("_services._dns-sd._udp.local")
/** RFC 6762 §6.7: answers to legacy (non-5353) queriers carry a TTL of at most 10 s. */
const LEGACY_TTL = 10

/** One DNS-SD instance of a device: `<instance>.<service>` → SRV host, TXT. */
interface Entry {
  readonly service: Name
  readonly instance: Name
  readonly host: Name
  readonly txt: ReadonlyArray<string>
}

interface Announcement {
  readonly entries: ReadonlyArray<Entry>
  readonly ip: string
  readonly port: number
}

const [SHELLY_SERVICE, HTTP_SERVICE] = SERVICES as [Name, Name]

/**
 * The instances a device announces, as published captures of real devices
 * show them (matterbridge-shelly `src/mock/shelly1pmg3-34B7DAC68344.mdns.json`,
 * `shelly2pmg3-34CDB0770C4C.mdns.json`, firmware 1.6.2):
 * - `_http._tcp`: the id-named instance (`shelly1pmg3-34b7dac68344`, host
 *   `Shelly1PMG3-34B7DAC68344.local`, TXT `gen` only) and, once the device has
 *   a name, the name-named instance (`1PM Gen3`) with its own host, the name
 *   with `-` for blanks (`1PM-Gen3.local`), TXT `gen`, `app`, `ver`;
 * - `_shelly._tcp`: the id-named instance with TXT `gen`, `app`, `ver`
 *   (reference §4; home-assistant/core shelly tests announce `gen` and `app` there).
 */
const announcementOf = (d: DeviceView): Announcement | undefined => {
  if (d.mode !== "sta" || d.ip === null) return undefined
  // A `wrong_mac` device is, to the network, the device it claims to be.
  const id = d.id.replace(/[0-9a-f]{12}$/, d.reportedMac.toLowerCase())
  const host: Name = [d.apSsid, "local"]
  const full = [`gen=${d.gen}`, `app=${d.app}`, `ver=${d.fw}`]
  const entries: Array<Entry> = [
    { service: SHELLY_SERVICE, instance: [id], host, txt: full },
    { service: HTTP_SERVICE, instance: [id], host, txt: [`gen=${d.gen}`] }
  ]
  const name = d.name?.trim() ?? ""
  if (name.length > 0) {
    entries.push({ service: HTTP_SERVICE, instance: [name], host: [name.replace(/\s+/g, "-"), "local"], txt: full })
  }
  return { entries, ip: d.ip, port: d.port }
}

const record = (name: Name, data: ResourceRecord["data"], ttl: number, unique: boolean): ResourceRecord => ({
  name,
  class: CLASS_IN,
  cacheFlush: unique,
  ttl,
  data
})

const wants = (q: Question, type: number) => q.type === type || q.type === RecordType.ANY

/** The records of one device that answer `questions`, plus what a querier needs next (RFC 6763 §12). */
const answerFor = (a: Announcement, questions: ReadonlyArray<Question>, ttl: number, multicast: boolean) => {
  const answers: Array<ResourceRecord> = []
  const additionals: Array<ResourceRecord> = []
  const srv = (e: Entry) =>
    record([...e.instance, ...e.service], { _tag: "SRV", priority: 0, weight: 0, port: a.port, target: e.host }, ttl, multicast)
  const txt = (e: Entry) => record([...e.instance, ...e.service], { _tag: "TXT", entries: e.txt.map(txtEntry) }, ttl, multicast)
  const address = (e: Entry) => record(e.host, { _tag: "A", address: a.ip }, ttl, multicast)
  for (const q of questions) {
    if (q.class !== CLASS_IN && q.class !== RecordType.ANY) continue
    if (sameName(q.name, META_QUERY) && wants(q, RecordType.PTR)) {
      for (const service of SERVICES) answers.push(record(META_QUERY, { _tag: "PTR", target: service }, ttl, false))
    }
    for (const e of a.entries) {
      const instanceName = [...e.instance, ...e.service]
      if (sameName(q.name, e.service) && wants(q, RecordType.PTR)) {
        answers.push(record(e.service, { _tag: "PTR", target: instanceName }, ttl, false))
        additionals.push(srv(e), txt(e), address(e))
      }
      if (sameName(q.name, instanceName)) {
        if (wants(q, RecordType.SRV)) {
          answers.push(srv(e))
          additionals.push(address(e))
        }
        if (wants(q, RecordType.TXT)) answers.push(txt(e))
      }
      if (sameName(q.name, e.host) && wants(q, RecordType.A)) answers.push(address(e))
    }
  }
  const same = (x: ResourceRecord, y: ResourceRecord) =>
    sameName(x.name, y.name) && typeOf(x.data) === typeOf(y.data) && JSON.stringify(x.data) === JSON.stringify(y.data)
  const unique = (list: ReadonlyArray<ResourceRecord>) => list.filter((r, i) => list.findIndex((s) => same(r, s)) === i)
  const answered = unique(answers)
  return { answers: answered, additionals: unique(additionals).filter((r) => !answered.some((s) => same(r, s))) }
}

const bind = (socket: Dgram.Socket, port: number, address: string | undefined) =>
  Effect.async<void, string>((resume) => {
    const onError = (error: Error) => resume(Effect.fail(error.message))
    socket.once("error", onError)
    socket.bind({ port, ...(address !== undefined && { address }) }, () => {
      socket.off("error", onError)
      resume(Effect.void)
    })
  })

/** Starts answering for `devices()` (read at every query, so state changes show at once). */
export const makeMdnsResponder = (
  devices: () => ReadonlyArray<DeviceView>,
  options: MdnsResponderOptions = {}
): Effect.Effect<MdnsResponder, SimStartError> =>
  Effect.gen(function* () {
    const fail = (reason: string) => new SimStartError({ reason: `mDNS responder: ${reason}` })
    const group = options.group ?? MDNS_GROUP
    const kind = groupKind(group)
    // The real group and the loopback segment: every peer on the port hears what is sent to the group.
    const shared = kind !== "unicast"
    const iface = options.iface ?? "127.0.0.1"
    const ttl = options.ttl ?? 120
    for (const [what, address] of [["interface", iface], ...(kind === "multicast" ? [] : [["address", group]])] as const) {
      const ip = parseIpv4(address)
      if (ip._tag === "Left" || !isLoopback(ip.right)) return yield* Effect.fail(fail(`${what} ${address} is not a loopback address`))
    }
    const socket = Dgram.createSocket({ type: "udp4", reuseAddr: true })
    const closeSocket = () => new Promise<void>((resolve) => socket.close(() => resolve()))
    yield* bind(socket, options.port ?? MDNS_PORT, shared ? undefined : group).pipe(
      Effect.mapError((reason) => fail(`cannot bind ${group}:${options.port ?? MDNS_PORT}: ${reason}`)),
      Effect.tapError(() => Effect.sync(() => socket.close()))
    )
    const port = socket.address().port
    if (shared) {
      yield* Effect.try({
        try: () => {
          if (kind === "segment") return socket.setBroadcast(true)
          socket.setMulticastInterface(iface)
          socket.addMembership(group, iface)
          socket.setMulticastTTL(255)
          socket.setMulticastLoopback(true)
        },
        catch: (error) => fail(`cannot join ${group} on ${iface}: ${error instanceof Error ? error.message : String(error)}`)
      }).pipe(Effect.tapError(() => Effect.promise(closeSocket)))
    }
    socket.on("error", () => {})
    let answered = 0
    let announced = 0
    let stopped = false

    const announce = (device: DeviceView) => {
      if (stopped || !shared) return
      const a = announcementOf(device)
      if (a === undefined) return
      const answers: Array<ResourceRecord> = []
      for (const e of a.entries) {
        const instanceName = [...e.instance, ...e.service]
        answers.push(record(e.service, { _tag: "PTR", target: instanceName }, ttl, false))
        answers.push(record(instanceName, { _tag: "SRV", priority: 0, weight: 0, port: a.port, target: e.host }, ttl, true))
        answers.push(record(instanceName, { _tag: "TXT", entries: e.txt.map(txtEntry) }, ttl, true))
      }
      const hosts = a.entries.map((e) => e.host).filter((h, i, all) => all.findIndex((o) => sameName(o, h)) === i)
      for (const host of hosts) answers.push(record(host, { _tag: "A", address: a.ip }, ttl, true))
      const message = encodeMessage({
        id: 0,
        flags: Flags.response | Flags.authoritative,
        questions: [],
        answers,
        authorities: [],
        additionals: []
      })
      if (message._tag === "Left") return
      announced += 1
      socket.send(message.right, port, group)
    }

    const respond = (query: DnsMessage, from: Dgram.RemoteInfo) => {
      // Unicast back when the querier is a legacy resolver (not on the mDNS port),
      // asked for it (QU), or reached us by unicast in the first place (§5.5, §6.7).
      const direct = !shared || from.port !== port || query.questions.some((q) => q.unicastResponse)
      const legacy = from.port !== port
      for (const device of devices()) {
        const announcement = announcementOf(device)
        if (announcement === undefined) continue
        const { answers, additionals } = answerFor(announcement, query.questions, legacy ? Math.min(ttl, LEGACY_TTL) : ttl, !legacy)
        if (answers.length === 0) continue
        const response = encodeMessage({
          id: legacy ? query.id : 0,
          flags: Flags.response | Flags.authoritative,
          questions: legacy ? query.questions : [],
          answers,
          authorities: [],
          additionals
        })
        if (response._tag === "Left") continue
        answered += 1
        if (direct) socket.send(response.right, from.port, from.address)
        else socket.send(response.right, port, group)
      }
    }

    socket.on("message", (bytes, from) => {
      if (stopped) return
      const source = parseIpv4(from.address)
      if (source._tag === "Left" || !isLoopback(source.right)) return
      const message = decodeMessage(bytes)
      if (message._tag === "Left" || isResponse(message.right)) return
      respond(message.right, from)
    })

    return {
      group,
      port,
      answered: () => answered,
      announce,
      announced: () => announced,
      stop: async () => {
        if (stopped) return
        stopped = true
        await closeSocket()
      }
    }
  })
