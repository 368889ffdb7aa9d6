/**
 * The DNS message codec and the pure half of mDNS discovery: round trips,
 * compression, hostile input, and turning responses into Shelly devices.
 */
import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  CLASS_IN,
  type DnsMessage,
  decodeMessage,
  encodeMessage,
  Flags,
  type Name,
  nameFromDotted,
  type RData,
  RecordType,
  type ResourceRecord,
  txtAttributes,
  txtEntry
} from "../../src/shelly/dnsMessage.js"
import { browseQuery, SHELLY_SERVICES, ShellyAnswers, shellyIdentityFromLabel } from "../../src/shelly/mdns.js"

const utf8Length = (s: string) => new TextEncoder().encode(s).length
const wireLength = (name: Name) => 1 + name.reduce((n, label) => n + utf8Length(label) + 1, 0)

// ---- arbitraries ---------------------------------------------------------------

const label = fc.string({ unit: "grapheme", minLength: 1, maxLength: 16 }).filter((s) => utf8Length(s) >= 1 && utf8Length(s) <= 63)
/** Shared suffixes so that compression pointers actually occur. */
const suffix = fc.constantFrom<Name>([], ["local"], ["_tcp", "local"], ["_shelly", "_tcp", "local"], ["_http", "_tcp", "local"], ["LOCAL"])
const name: fc.Arbitrary<Name> = fc
  .tuple(fc.array(label, { maxLength: 3 }), suffix)
  .map(([prefix, tail]) => [...prefix, ...tail])
  .filter((n) => wireLength(n) <= 255)
const u16 = fc.integer({ min: 0, max: 0xffff })
const known = new Set<number>([RecordType.A, RecordType.PTR, RecordType.TXT, RecordType.AAAA, RecordType.SRV])

const rdata: fc.Arbitrary<RData> = fc.oneof(
  fc.ipV4().map((address): RData => ({ _tag: "A", address })),
  fc
    .array(u16, { minLength: 8, maxLength: 8 })
    .map((groups): RData => ({ _tag: "AAAA", address: groups.map((g) => g.toString(16)).join(":") })),
  name.map((target): RData => ({ _tag: "PTR", target })),
  fc.record({ priority: u16, weight: u16, port: u16, target: name }).map((srv): RData => ({ _tag: "SRV", ...srv })),
  fc
    .array(fc.uint8Array({ maxLength: 40 }), { maxLength: 4 })
    // One empty string is how an empty TXT record is written; it decodes as no entries.
    .filter((entries) => !(entries.length === 1 && entries[0]!.length === 0))
    .map((entries): RData => ({ _tag: "TXT", entries })),
  fc
    .record({ type: u16.filter((t) => !known.has(t)), bytes: fc.uint8Array({ maxLength: 30 }) })
    .map((u): RData => ({ _tag: "Unknown", ...u }))
)

const record: fc.Arbitrary<ResourceRecord> = fc.record({
  name,
  class: fc.integer({ min: 0, max: 0x7fff }),
  cacheFlush: fc.boolean(),
  ttl: fc.integer({ min: 0, max: 0xffffffff }),
  data: rdata
})

const message: fc.Arbitrary<DnsMessage> = fc.record({
  id: u16,
  flags: u16,
  questions: fc.array(fc.record({ name, type: u16, class: fc.integer({ min: 0, max: 0x7fff }), unicastResponse: fc.boolean() }), {
    maxLength: 3
  }),
  answers: fc.array(record, { maxLength: 4 }),
  authorities: fc.array(record, { maxLength: 2 }),
  additionals: fc.array(record, { maxLength: 4 })
})

const encoded = (m: DnsMessage): Uint8Array => Either.getOrThrowWith(encodeMessage(m), (e) => new Error(e))

/** Size without any compression: what the encoder must never exceed. */
const uncompressedSize = (m: DnsMessage): number => {
  const rdataSize = (d: RData): number => {
    switch (d._tag) {
      case "A":
        return 4
      case "AAAA":
        return 16
      case "PTR":
        return wireLength(d.target)
      case "SRV":
        return 6 + wireLength(d.target)
      case "TXT":
        return d.entries.length === 0 ? 1 : d.entries.reduce((n, e) => n + 1 + e.length, 0)
      case "Unknown":
        return d.bytes.length
    }
  }
  const records = [...m.answers, ...m.authorities, ...m.additionals]
  return (
    12 +
    m.questions.reduce((n, q) => n + wireLength(q.name) + 4, 0) +
    records.reduce((n, r) => n + wireLength(r.name) + 10 + rdataSize(r.data), 0)
  )
}

// ---- codec ---------------------------------------------------------------------

describe("DNS message codec", () => {
  it("decode(encode(m)) = m for any message (fast-check)", () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(decodeMessage(encoded(m))).toEqual(Either.right(m))
      }),
      { numRuns: 400 }
    )
  })

  it("compression never grows a message, and shrinks it when names repeat (fast-check)", () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = encoded(m)
        expect(bytes.length).toBeLessThanOrEqual(uncompressedSize(m))
        const names = [...m.questions.map((q) => q.name), ...[...m.answers, ...m.authorities, ...m.additionals].map((r) => r.name)]
        const repeated = names.some((n, i) => n.length > 0 && names.findIndex((o) => JSON.stringify(o) === JSON.stringify(n)) !== i)
        if (repeated) expect(bytes.length).toBeLessThan(uncompressedSize(m))
      }),
      { numRuns: 300 }
    )
  })

  it("writes a repeated suffix as a pointer to its first occurrence, also inside PTR and SRV data", () => {
    const service = nameFromDotted("_shelly._tcp.local")
    const instance = ["shelly2pmg3-a1b2c3d4e5f6", ...service]
    const m: DnsMessage = {
      id: 0,
      flags: Flags.response | Flags.authoritative,
      questions: [],
      answers: [{ name: service, class: CLASS_IN, cacheFlush: false, ttl: 120, data: { _tag: "PTR", target: instance } }],
      authorities: [],
      additionals: [
        {
          name: instance,
          class: CLASS_IN,
          cacheFlush: true,
          ttl: 120,
          data: { _tag: "SRV", priority: 0, weight: 0, port: 80, target: ["Shelly2PMG3-A1B2C3D4E5F6", "local"] }
        }
      ]
    }
    const bytes = encoded(m)
    // Answer owner `_shelly._tcp.local` at 12; the PTR target's label is followed by a pointer to 12.
    expect(Array.from(bytes.subarray(12, 14))).toEqual([7, "_".charCodeAt(0)])
    const ptrData = 12 + wireLength(service) + 10
    expect(bytes[ptrData]).toBe(24)
    expect(Array.from(bytes.subarray(ptrData + 25, ptrData + 27))).toEqual([0xc0, 12])
    // The SRV owner is the whole instance name: one pointer to the PTR data.
    const srvOwner = ptrData + 27
    expect(Array.from(bytes.subarray(srvOwner, srvOwner + 2))).toEqual([0xc0, ptrData])
    // The SRV target's `local` points at the `local` of the first name.
    expect(Array.from(bytes.subarray(bytes.length - 2))).toEqual([0xc0, 12 + 8 + 5])
    expect(decodeMessage(bytes)).toEqual(Either.right(m))
  })

  it("decodes pointers written by another encoder (to a name inside an earlier record's data)", () => {
    // Header: response, 1 answer, 1 additional.
    const header = [0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    const owner = [
      5,
      ..."_http".split("").map((c) => c.charCodeAt(0)),
      4,
      ..."_tcp".split("").map((c) => c.charCodeAt(0)),
      5,
      ..."local".split("").map((c) => c.charCodeAt(0)),
      0
    ]
    // PTR at 12: data = "Kitchen" + pointer to 12.
    const ptrData = [7, ..."Kitchen".split("").map((c) => c.charCodeAt(0)), 0xc0, 12]
    const answer = [...owner, 0, 12, 0, 1, 0, 0, 0, 120, 0, ptrData.length, ...ptrData]
    const ptrDataAt = 12 + owner.length + 10
    // TXT whose owner is a pointer into the PTR's data.
    const txt = [3, ..."a=b".split("").map((c) => c.charCodeAt(0))]
    const additional = [0xc0, ptrDataAt, 0, 16, 0x80, 1, 0, 0, 0, 120, 0, txt.length, ...txt]
    const decoded = decodeMessage(Uint8Array.from([...header, ...answer, ...additional]))
    expect(Either.map(decoded, (m) => [m.answers[0]!.data, m.additionals[0]!.name, m.additionals[0]!.cacheFlush])).toEqual(
      Either.right([{ _tag: "PTR", target: ["Kitchen", "_http", "_tcp", "local"] }, ["Kitchen", "_http", "_tcp", "local"], true])
    )
  })

  it("refuses to encode what DNS cannot carry, naming the problem", () => {
    const bad = (data: RData, n: Name = ["x"]) =>
      encodeMessage({
        id: 0,
        flags: 0,
        questions: [],
        answers: [{ name: n, class: 1, cacheFlush: false, ttl: 1, data }],
        authorities: [],
        additionals: []
      })
    expect(bad({ _tag: "A", address: "127.0.0.300" })).toEqual(Either.left(expect.stringContaining("127.0.0.300")))
    expect(bad({ _tag: "PTR", target: ["a".repeat(64)] })).toEqual(Either.left(expect.stringContaining("64 bytes")))
    expect(bad({ _tag: "PTR", target: [""] })).toEqual(Either.left(expect.stringContaining("empty label")))
    expect(
      bad(
        { _tag: "A", address: "127.0.0.1" },
        Array.from({ length: 5 }, () => "b".repeat(60))
      )
    ).toEqual(Either.left(expect.stringContaining("at most 255")))
    expect(bad({ _tag: "TXT", entries: [new Uint8Array(256)] })).toEqual(Either.left(expect.stringContaining("255 bytes")))
  })
})

describe("DNS message codec on hostile input", () => {
  it("never throws on arbitrary bytes (fast-check)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const result = decodeMessage(bytes)
        expect(Either.isLeft(result) || Either.isRight(result)).toBe(true)
      }),
      { numRuns: 2000 }
    )
  })

  it("rejects every truncation of a valid message, and survives any byte changed (fast-check)", () => {
    fc.assert(
      fc.property(
        message.filter((m) => m.questions.length + m.answers.length > 0),
        fc.nat(),
        fc.nat(),
        u16,
        (m, cut, at, value) => {
          const bytes = encoded(m)
          expect(Either.isLeft(decodeMessage(bytes.subarray(0, cut % bytes.length)))).toBe(true)
          const changed = Uint8Array.from(bytes)
          changed[at % bytes.length] = value & 0xff
          const result = decodeMessage(changed)
          expect(Either.isLeft(result) || Either.isRight(result)).toBe(true)
        }
      ),
      { numRuns: 500 }
    )
  })

  const oneQuestion = (nameBytes: ReadonlyArray<number>) => Uint8Array.from([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...nameBytes, 0, 12, 0, 1])

  it("rejects a pointer to itself or forwards", () => {
    expect(decodeMessage(oneQuestion([0xc0, 12]))).toEqual(Either.left(expect.stringContaining("does not point backwards")))
    expect(decodeMessage(oneQuestion([1, 97, 0xc0, 16, 0]))).toEqual(Either.left(expect.stringContaining("does not point backwards")))
  })

  it("stops a label loop built from backward pointers at 255 bytes", () => {
    expect(decodeMessage(oneQuestion([1, 97, 0xc0, 12]))).toEqual(Either.left(expect.stringContaining("longer than 255")))
  })

  it("rejects absurd counts, short records, reserved label types and trailing bytes", () => {
    expect(decodeMessage(Uint8Array.from([0, 0, 0x84, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0]))).toEqual(
      Either.left(expect.stringContaining("more than"))
    )
    // An A record whose data length says 3.
    const shortA = [0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 120, 0, 0, 1, 0, 1, 0, 0, 0, 10, 0, 3, 127, 0, 0]
    expect(Either.isLeft(decodeMessage(Uint8Array.from(shortA)))).toBe(true)
    expect(decodeMessage(oneQuestion([0x40, 0]))).toEqual(Either.left(expect.stringContaining("label type")))
    const valid = encoded({ id: 1, flags: 0, questions: [], answers: [], authorities: [], additionals: [] })
    expect(decodeMessage(Uint8Array.from([...valid, 0]))).toEqual(Either.left(expect.stringContaining("left over")))
    expect(Either.isLeft(decodeMessage(new Uint8Array(0)))).toBe(true)
  })
})

// ---- Shelly answers ------------------------------------------------------------

const from = { address: "127.63.0.9", port: 5353 }
const rr = (n: Name, data: RData, ttl = 120): ResourceRecord => ({ name: n, class: CLASS_IN, cacheFlush: false, ttl, data })
const response = (answers: ReadonlyArray<ResourceRecord>, additionals: ReadonlyArray<ResourceRecord> = []): DnsMessage => ({
  id: 0,
  flags: Flags.response | Flags.authoritative,
  questions: [],
  answers,
  authorities: [],
  additionals
})
const shelly = nameFromDotted("_shelly._tcp.local")
const http = nameFromDotted("_http._tcp.local")

describe("Shelly devices from mDNS answers", () => {
  it("the browse query asks PTR for both services", () => {
    const bytes = Either.getOrThrow(browseQuery(SHELLY_SERVICES))
    const m = Either.getOrThrow(decodeMessage(bytes))
    expect(m.questions.map((q) => [q.name.join("."), q.type, q.unicastResponse])).toEqual([
      ["_shelly._tcp.local", RecordType.PTR, false],
      ["_http._tcp.local", RecordType.PTR, false]
    ])
  })

  it("reads id, MAC, address, port and TXT from one response, and reports a device once for both services", () => {
    const answers = new ShellyAnswers(SHELLY_SERVICES)
    const instance = (service: Name) => ["shellyplus1pm-aabbccddeeff", ...service]
    const host = ["ShellyPlus1PM-AABBCCDDEEFF", "local"]
    const records = (service: Name) => [
      rr(instance(service), { _tag: "SRV", priority: 0, weight: 0, port: 80, target: host }),
      rr(instance(service), { _tag: "TXT", entries: ["gen=2", "app=Plus1PM", "ver=1.1.0"].map(txtEntry) }),
      rr(host, { _tag: "A", address: "127.63.0.20" })
    ]
    const first = answers.add(response([rr(shelly, { _tag: "PTR", target: instance(shelly) })], records(shelly)), from)
    expect(first).toEqual([
      {
        mac: "AABBCCDDEEFF",
        id: "shellyplus1pm-aabbccddeeff",
        instance: "shellyplus1pm-aabbccddeeff._shelly._tcp.local",
        host: "ShellyPlus1PM-AABBCCDDEEFF.local",
        ip: "127.63.0.20",
        port: 80,
        gen: 2,
        app: "Plus1PM",
        ver: "1.1.0",
        from: "127.63.0.9:5353"
      }
    ])
    expect(answers.add(response([rr(http, { _tag: "PTR", target: instance(http) })], records(http)), from)).toEqual([])
  })

  it("takes the MAC from the host when the user renamed the instance, and combines records from several packets", () => {
    const answers = new ShellyAnswers(SHELLY_SERVICES)
    const instance = ["Küche Licht 1.OG", ...http]
    const host = ["Shelly2PMG3-A1B2C3D4E5F6", "local"]
    expect(answers.add(response([rr(http, { _tag: "PTR", target: instance })]), from)).toEqual([])
    expect(answers.add(response([rr(instance, { _tag: "SRV", priority: 0, weight: 0, port: 80, target: host })]), from)).toEqual([
      expect.objectContaining({ mac: "A1B2C3D4E5F6", id: undefined, ip: "127.63.0.9", instance: "Küche Licht 1\\.OG._http._tcp.local" })
    ])
  })

  it("ignores other vendors' services, goodbyes (TTL 0), queries and unbrowsed services", () => {
    const answers = new ShellyAnswers(SHELLY_SERVICES)
    const printer = ["Office Printer", ...http]
    const device = ["shelly1pmg3-34b7dac68344", ...shelly]
    const host = ["Shelly1PMG3-34B7DAC68344", "local"]
    const srv = (n: Name, target: Name, ttl = 120) => rr(n, { _tag: "SRV", priority: 0, weight: 0, port: 80, target }, ttl)
    expect(answers.add(response([rr(http, { _tag: "PTR", target: printer }), srv(printer, ["printer", "local"])]), from)).toEqual([])
    expect(answers.add(response([rr(shelly, { _tag: "PTR", target: device }, 0), srv(device, host, 0)]), from)).toEqual([])
    const asQuery = { ...response([rr(shelly, { _tag: "PTR", target: device }), srv(device, host)]), flags: 0 }
    expect(answers.add(asQuery, from)).toEqual([])
    const other = nameFromDotted("_hap._tcp.local")
    expect(answers.add(response([rr(other, { _tag: "PTR", target: ["shelly1pmg3-34b7dac68344", ...other] })]), from)).toEqual([])
  })

  it("reads ids and MACs from device labels only", () => {
    expect(shellyIdentityFromLabel("shelly2pmg3-A1B2C3D4E5F6")).toEqual({ id: "shelly2pmg3-a1b2c3d4e5f6", mac: "A1B2C3D4E5F6" })
    expect(shellyIdentityFromLabel("printer-a1b2c3d4e5f6")).toBeUndefined()
    expect(shellyIdentityFromLabel("shelly1-a1b2c3")).toBeUndefined()
    expect(txtAttributes(["GEN=3", "app=S1PMG3", "flag", "gen=9", "=x"].map(txtEntry))).toEqual(
      new Map([
        ["gen", "3"],
        ["app", "S1PMG3"],
        ["flag", ""]
      ])
    )
  })
})
