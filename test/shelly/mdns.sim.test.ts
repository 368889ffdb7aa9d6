/**
 * mDNS discovery through real UDP sockets: the Live browse against the
 * fleet's responder on the loopback segment (127.255.255.255 on a high port:
 * every socket on the port hears it, as group members do, and nothing leaves
 * 127.0.0.0/8), unicast queries straight to a responder, hostile responders,
 * and `findByMac` with mDNS beside the subnet scan.
 * Loopback block of this file: 127.63.0.0/16.
 */
import { NodeContext } from "@effect/platform-node"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Layer, Option, Schema, Stream } from "effect"
import * as Dgram from "node:dgram"
import { Stage1Config } from "../../src/config/stage1.js"
import type { Ipv4 } from "../../src/domain/ipv4.js"
import type { Mac } from "../../src/domain/mac.js"
import { expandTargets, findByMac } from "../../src/shelly/discovery.js"
import {
  CLASS_IN,
  type DnsMessage,
  decodeMessage,
  encodeMessage,
  Flags,
  isResponse,
  nameFromDotted,
  RecordType,
  txtEntry
} from "../../src/shelly/dnsMessage.js"
import type { BrowseOptions } from "../../src/shelly/mdns.js"
import { LOOPBACK_SEGMENT, Mdns, MDNS_GROUP } from "../../src/shelly/mdns.js"
import { browse, MdnsLive } from "../../src/shelly/mdnsLive.js"
import { ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import { type FleetHandle, makeMdnsResponder, type MdnsResponder, startFleet } from "../../sim/shelly/index.js"
import { freeUdpPort } from "../support/udp.js"

const GROUP = LOOPBACK_SEGMENT
const LO = "127.0.0.1"
const ips = (specs: ReadonlyArray<string>): ReadonlyArray<Ipv4> => Either.getOrThrow(expandTargets(specs))
/** Where no device lives: a scan of it finds nothing. */
const elsewhere = ips(["127.63.20.0/29"])

let fleet: FleetHandle
let unicastResponder: MdnsResponder

/** A hand-written responder on the group and `port`: answers each query with `reply(query)`. */
const fakeResponder = async (port: number, reply: (query: DnsMessage) => ReadonlyArray<Uint8Array>) => {
  const socket = Dgram.createSocket({ type: "udp4", reuseAddr: true })
  const queries: Array<{ readonly message: DnsMessage; readonly fromPort: number }> = []
  await new Promise<void>((resolve) => socket.bind(port, () => resolve()))
  socket.setBroadcast(true)
  socket.on("message", (bytes, from) => {
    const message = decodeMessage(bytes)
    if (Either.isLeft(message) || isResponse(message.right)) return
    queries.push({ message: message.right, fromPort: from.port })
    for (const datagram of reply(message.right)) {
      if (from.port === port) socket.send(datagram, port, GROUP)
      else socket.send(datagram, from.port, from.address)
    }
  })
  return { queries, close: () => new Promise<void>((resolve) => socket.close(() => resolve())) }
}

const answerBytes = (mac: string, ip: string, port: number): Uint8Array => {
  const service = nameFromDotted("_shelly._tcp.local")
  const instance = [`shellyplus1pm-${mac.toLowerCase()}`, ...service]
  const host = [`ShellyPlus1PM-${mac}`, "local"]
  const rr = <D extends DnsMessage["answers"][number]["data"]>(name: ReadonlyArray<string>, data: D) => ({
    name,
    class: CLASS_IN,
    cacheFlush: false,
    ttl: 120,
    data
  })
  return Either.getOrThrow(
    encodeMessage({
      id: 0,
      flags: Flags.response | Flags.authoritative,
      questions: [],
      answers: [rr(service, { _tag: "PTR", target: instance })],
      authorities: [],
      additionals: [
        rr(instance, { _tag: "SRV", priority: 0, weight: 0, port, target: host }),
        rr(instance, { _tag: "TXT", entries: [txtEntry("gen=2")] }),
        rr(host, { _tag: "A", address: ip })
      ]
    })
  )
}

const collect = (options: BrowseOptions) =>
  Effect.map(
    Stream.runCollect(browse({ group: GROUP, iface: LO, timeout: "700 millis", resendEvery: "200 millis", ...options })),
    Chunk.toArray
  )

beforeAll(async () => {
  fleet = await startFleet({
    devices: 6,
    baseIp: "127.63.10.1",
    port: 0,
    seed: 63,
    timeScale: 0.01,
    apIp: "127.63.33.1",
    dhcpPool: { start: "127.63.210.1", end: "127.63.210.30" },
    control: false,
    mdns: { group: GROUP, port: 0 },
    faults: ["2=factory", "3=offline", "4=name:Küche Licht", "5=wrong_mac", "6=blackhole"]
  })
  unicastResponder = await Effect.runPromise(makeMdnsResponder(() => fleet.devices, { group: "127.63.0.53", port: 0 }))
})

afterAll(async () => {
  await unicastResponder?.stop()
  await fleet?.stop()
})

describe("mDNS browse against the simulated fleet", () => {
  it.live("finds on the loopback segment exactly the devices on the production network, each once", () =>
    Effect.gen(function* () {
      const found = yield* collect({ port: fleet.mdns!.port })
      const online = fleet.devices.filter((d) => d.mode === "sta")
      // Factory (AP mode) and offline devices stay silent.
      expect(online.map((d) => d.index).sort()).toEqual([1, 4, 5, 6])
      expect(found.map((f) => [f.mac, f.ip, f.port]).sort()).toEqual(online.map((d) => [d.reportedMac, d.ip, fleet.port]).sort())
      const byMac = new Map(found.map((f) => [f.mac, f]))
      const first = fleet.device(1)!
      expect(byMac.get(first.mac as Mac)).toMatchObject({ id: first.id, gen: first.gen, app: first.app, ver: first.fw })
      // The renamed device is still found, by the id-named instance it keeps announcing beside its name-named one.
      const renamed = fleet.device(4)!
      expect(byMac.get(renamed.mac as Mac)).toMatchObject({
        id: renamed.id,
        instance: expect.stringMatching(new RegExp(`^${renamed.id}\\._(shelly|http)\\._tcp\\.local$`))
      })
      expect(fleet.mdns!.answered()).toBeGreaterThan(0)
    })
  )

  it.live("answers from the current state: a device taken offline stops answering", () =>
    Effect.gen(function* () {
      const one = fleet.device(1)!
      yield* Effect.promise(() => fleet.setFaults(1, ["offline"]))
      const without = yield* collect({ port: fleet.mdns!.port }).pipe(Effect.ensuring(Effect.promise(() => fleet.clearFaults(1))))
      expect(without.map((f) => f.mac)).not.toContain(one.mac)
      expect(without.length).toBe(3)
    })
  )

  it.live("queries one responder by unicast (RFC 6762 §5.5) and gets the same devices", () =>
    Effect.gen(function* () {
      const found = yield* collect({ group: unicastResponder.group, port: unicastResponder.port })
      expect(found.map((f) => f.mac).sort()).toEqual(
        fleet.devices
          .filter((d) => d.mode === "sta")
          .map((d) => d.reportedMac)
          .sort()
      )
    })
  )

  it.live("stops after maxDevices", () =>
    Effect.gen(function* () {
      const found = yield* collect({ port: fleet.mdns!.port, maxDevices: 2, timeout: "5 seconds" })
      expect(found.length).toBe(2)
    })
  )

  it.live("ends empty at its timeout when nothing answers", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freeUdpPort)
      const found = yield* collect({ port, timeout: "300 millis" })
      expect(found).toEqual([])
    })
  )

  it.live("skips malformed datagrams and still takes the valid answer after them", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freeUdpPort)
      const garbage = [
        Uint8Array.from([1, 2, 3]),
        Uint8Array.from([0, 0, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 12, 0, 1]),
        new Uint8Array(40).fill(0xff)
      ]
      const fake = yield* Effect.promise(() => fakeResponder(port, () => [...garbage, answerBytes("AABBCCDDEE01", "127.63.0.77", 8080)]))
      const found = yield* collect({ port }).pipe(Effect.ensuring(Effect.promise(fake.close)))
      expect(found.map((f) => [f.mac, f.ip, f.port])).toEqual([["AABBCCDDEE01", "127.63.0.77", 8080]])
      // Sent from the mDNS port itself (RFC 6762 §5.2), asking PTR for both services.
      expect(fake.queries[0]!.fromPort).toBe(port)
      expect(fake.queries[0]!.message.questions.map((q) => [q.name.join("."), q.type])).toEqual([
        ["_shelly._tcp.local", RecordType.PTR],
        ["_http._tcp.local", RecordType.PTR]
      ])
    })
  )

  it("the responder answers a legacy querier (not on the mDNS port) by unicast with its id, question and TTL ≤ 10", async () => {
    const socket = Dgram.createSocket("udp4")
    await new Promise<void>((resolve) => socket.bind(0, LO, () => resolve()))
    socket.setBroadcast(true)
    const replies: Array<DnsMessage> = []
    socket.on("message", (bytes) => Either.map(decodeMessage(bytes), (m) => replies.push(m)))
    const query = Either.getOrThrow(
      encodeMessage({
        id: 4242,
        flags: 0,
        questions: [{ name: nameFromDotted("_shelly._tcp.local"), type: RecordType.PTR, class: CLASS_IN, unicastResponse: false }],
        answers: [],
        authorities: [],
        additionals: []
      })
    )
    socket.send(query, fleet.mdns!.port, GROUP)
    const online = fleet.devices.filter((d) => d.mode === "sta").length
    for (let i = 0; i < 50 && replies.length < online; i++) await new Promise((r) => setTimeout(r, 20))
    await new Promise<void>((resolve) => socket.close(() => resolve()))
    expect(replies.length).toBe(online)
    for (const reply of replies) {
      expect(reply.id).toBe(4242)
      expect(reply.questions.map((q) => q.name.join("."))).toEqual(["_shelly._tcp.local"])
      expect(Math.max(...[...reply.answers, ...reply.additionals].map((r) => r.ttl))).toBeLessThanOrEqual(10)
    }
  })
})

describe("the responder's records, as real devices send them", () => {
  /** One legacy (unicast) PTR query for `service`; the replies of every device on the production network. */
  const ask = async (service: string): Promise<ReadonlyArray<DnsMessage>> => {
    const socket = Dgram.createSocket("udp4")
    await new Promise<void>((resolve) => socket.bind(0, LO, () => resolve()))
    socket.setBroadcast(true)
    const replies: Array<DnsMessage> = []
    socket.on("message", (bytes) => Either.map(decodeMessage(bytes), (m) => replies.push(m)))
    const query = Either.getOrThrow(
      encodeMessage({
        id: 7,
        flags: 0,
        questions: [{ name: nameFromDotted(service), type: RecordType.PTR, class: CLASS_IN, unicastResponse: false }],
        answers: [],
        authorities: [],
        additionals: []
      })
    )
    socket.send(query, fleet.mdns!.port, GROUP)
    const online = fleet.devices.filter((d) => d.mode === "sta").length
    for (let i = 0; i < 50 && replies.length < online; i++) await new Promise((r) => setTimeout(r, 20))
    await new Promise<void>((resolve) => socket.close(() => resolve()))
    return replies
  }
  const records = (reply: DnsMessage) => [...reply.answers, ...reply.additionals]
  const txtOf = (reply: DnsMessage, instance: string) =>
    records(reply).flatMap((r) =>
      r.data._tag === "TXT" && r.name.join(".") === instance ? r.data.entries.map((e) => new TextDecoder().decode(e)) : []
    )
  const srvOf = (reply: DnsMessage, instance: string) =>
    records(reply).flatMap((r) => (r.data._tag === "SRV" && r.name.join(".") === instance ? [r.data.target.join(".")] : []))

  it("_http._tcp: the id-named instance (TXT gen), and for a renamed device also the name-named one with its own host (TXT gen, app, ver)", async () => {
    const renamed = fleet.device(4)!
    const replies = await ask("_http._tcp.local")
    const reply = replies.find((m) => records(m).some((r) => r.data._tag === "A" && r.data.address === renamed.ip))!
    const ptrs = reply.answers.flatMap((r) => (r.data._tag === "PTR" ? [r.data.target.join(".")] : []))
    expect(ptrs.sort()).toEqual(["Küche Licht._http._tcp.local", `${renamed.id}._http._tcp.local`].sort())
    expect(srvOf(reply, `${renamed.id}._http._tcp.local`)).toEqual([`${renamed.apSsid}.local`])
    expect(txtOf(reply, `${renamed.id}._http._tcp.local`)).toEqual([`gen=${renamed.gen}`])
    expect(srvOf(reply, "Küche Licht._http._tcp.local")).toEqual(["Küche-Licht.local"])
    expect(txtOf(reply, "Küche Licht._http._tcp.local")).toEqual([`gen=${renamed.gen}`, `app=${renamed.app}`, `ver=${renamed.fw}`])
    // Both hosts resolve to the device.
    const hosts = records(reply).flatMap((r) => (r.data._tag === "A" ? [r.name.join(".")] : []))
    expect(hosts.sort()).toEqual(["Küche-Licht.local", `${renamed.apSsid}.local`].sort())
    // A device without a name has only its id-named instance.
    const plain = fleet.device(1)!
    const other = replies.find((m) => records(m).some((r) => r.data._tag === "A" && r.data.address === plain.ip))!
    expect(other.answers.flatMap((r) => (r.data._tag === "PTR" ? [r.data.target.join(".")] : []))).toEqual([`${plain.id}._http._tcp.local`])
  })

  it("_shelly._tcp: the id-named instance only, TXT gen, app, ver", async () => {
    const renamed = fleet.device(4)!
    const reply = (await ask("_shelly._tcp.local")).find((m) =>
      records(m).some((r) => r.data._tag === "A" && r.data.address === renamed.ip)
    )!
    expect(reply.answers.flatMap((r) => (r.data._tag === "PTR" ? [r.data.target.join(".")] : []))).toEqual([
      `${renamed.id}._shelly._tcp.local`
    ])
    expect(txtOf(reply, `${renamed.id}._shelly._tcp.local`)).toEqual([`gen=${renamed.gen}`, `app=${renamed.app}`, `ver=${renamed.fw}`])
  })
})

describe("findByMac with mDNS", () => {
  const live = Layer.merge(ShellyRpcLive, MdnsLive)

  it.live("finds a device outside the scanned subnets through mDNS, confirmed by GET /shelly", () =>
    Effect.gen(function* () {
      const target = fleet.device(1)!
      const options = {
        port: fleet.port,
        timeout: "2 seconds",
        mdns: { group: GROUP, port: fleet.mdns!.port, timeout: "1 second" }
      } as const
      const found = yield* findByMac(target.mac as Mac, elsewhere, options).pipe(Effect.provide(live))
      expect(Option.map(found, (f) => [f.ip, f.port, f.identity.mac, f.source])).toEqual(
        Option.some([target.ip, fleet.port, target.mac, "mdns"])
      )
      // The same search without mDNS does not reach it: the scan alone is bounded by its subnets.
      const disabled = yield* findByMac(target.mac as Mac, elsewhere, { ...options, mdns: false }).pipe(Effect.provide(live))
      const noService = yield* findByMac(target.mac as Mac, elsewhere, options).pipe(Effect.provide(ShellyRpcLive))
      expect([Option.isNone(disabled), Option.isNone(noService)]).toEqual([true, true])
    })
  )

  it.live("still finds devices by the scan when mDNS has nothing to say", () =>
    Effect.gen(function* () {
      const target = fleet.device(4)!
      const quiet = yield* Effect.promise(freeUdpPort)
      const found = yield* findByMac(target.mac as Mac, ips([`${target.ip}/32`]), {
        port: fleet.port,
        mdns: { group: GROUP, port: quiet, timeout: "300 millis" }
      })
      expect(Option.map(found, (f) => [f.ip, f.source])).toEqual(Option.some([target.ip, "scan"]))
    }).pipe(Effect.provide(live))
  )

  it.live("returns nothing when the announced address holds another device or does not answer HTTP", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freeUdpPort)
      const other = fleet.device(1)!
      const blackhole = fleet.device(6)!
      // Claims: AABBCCDDEE02 lives at device 1's address; device 6 (HTTP dead) at its own.
      const fake = yield* Effect.promise(() =>
        fakeResponder(port, () => [
          answerBytes("AABBCCDDEE02", other.ip!, fleet.port),
          answerBytes(blackhole.mac, blackhole.ip!, fleet.port)
        ])
      )
      const options = { port: fleet.port, timeout: "500 millis", mdns: { group: GROUP, port, timeout: "800 millis" } } as const
      const results = yield* Effect.all([
        findByMac("AABBCCDDEE02" as Mac, elsewhere, options),
        findByMac(blackhole.mac as Mac, elsewhere, options)
      ]).pipe(Effect.ensuring(Effect.promise(fake.close)))
      expect(results.map(Option.isNone)).toEqual([true, true])
      expect(fake.queries.length).toBeGreaterThan(0)
    }).pipe(Effect.provide(live))
  )

  it.live("an mDNS socket that cannot be opened leaves the scan working", () =>
    Effect.gen(function* () {
      const target = fleet.device(1)!
      const port = yield* Effect.promise(freeUdpPort)
      // The real group (the default) on 0.0.0.1, no interface of this host:
      // choosing it fails before anything is sent.
      const found = yield* findByMac(target.mac as Mac, ips([`${target.ip}/32`]), { port: fleet.port, mdns: { port, iface: "0.0.0.1" } })
      expect(Option.map(found, (f) => f.source)).toEqual(Option.some("scan"))
      const failure = yield* Effect.flip(Stream.runDrain(browse({ port, iface: "0.0.0.1", timeout: "200 millis" })))
      expect(failure).toMatchObject({ _tag: "MdnsSocketError", operation: "join", code: "mdns_socket" })
    }).pipe(Effect.provide(live))
  )
})

describe("stage1.discovery.mdns config", () => {
  const decode = Schema.decodeUnknownEither(Stage1Config)

  it("defaults to enabled on 224.0.0.251:5353 and takes overrides", () => {
    expect(Either.map(decode({}), (c) => c.discovery.mdns)).toEqual(
      Either.right({ enabled: true, group: MDNS_GROUP, port: 5353, timeout: 1 })
    )
    expect(
      Either.map(decode({ discovery: { mdns: { port: 15353, interface: "127.63.0.1", enabled: false } } }), (c) => c.discovery.mdns)
    ).toEqual(Either.right({ enabled: false, group: MDNS_GROUP, port: 15353, interface: "127.63.0.1", timeout: 1 }))
    expect(Either.isLeft(decode({ discovery: { mdns: { port: 70000 } } }))).toBe(true)
    expect(Either.isLeft(decode({ discovery: { mdns: { group: "not-an-ip" } } }))).toBe(true)
  })

  it("is wired to Mdns in the stage1 layer", async () => {
    const { stage1Layer } = await import("../../src/app/stage1.js")
    const mdns = await Effect.runPromise(Effect.serviceOption(Mdns).pipe(Effect.provide(stage1Layer), Effect.provide(NodeContext.layer)))
    expect(Option.isSome(mdns)).toBe(true)
  })
})
