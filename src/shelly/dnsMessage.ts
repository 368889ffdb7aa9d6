/**
 * DNS message codec (RFC 1035 §4) with the Multicast DNS class bits of
 * RFC 6762 §18.12/§18.13: just what mDNS discovery needs (A, AAAA, PTR, SRV,
 * TXT; anything else is carried as raw bytes).
 *
 * Names are arrays of labels, not dotted strings: a DNS-SD instance name such
 * as `Kitchen 1.5` is one label that may itself hold a dot (RFC 6763 §4.3).
 * Decoding never throws, reads nothing out of bounds, follows compression
 * pointers only backwards and stops any name at 255 bytes, so a hostile packet
 * cannot make it loop.
 */
import { Either } from "effect"

export type Name = ReadonlyArray<string>

export const RecordType = { A: 1, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, ANY: 255 } as const

/** Class IN; the top bit of the class field is QU (questions) or cache-flush (records) in mDNS. */
export const CLASS_IN = 1
const TOP_BIT = 0x8000

/** Header flag bits (RFC 1035 §4.1.1). */
export const Flags = { response: 0x8000, authoritative: 0x0400, truncated: 0x0200 } as const

export interface Question {
  readonly name: Name
  readonly type: number
  readonly class: number
  /** mDNS QU bit: the querier asks for a unicast reply (RFC 6762 §5.4). */
  readonly unicastResponse: boolean
}

export type RData =
  | { readonly _tag: "A"; readonly address: string }
  | { readonly _tag: "AAAA"; readonly address: string }
  | { readonly _tag: "PTR"; readonly target: Name }
  | { readonly _tag: "SRV"; readonly priority: number; readonly weight: number; readonly port: number; readonly target: Name }
  | { readonly _tag: "TXT"; readonly entries: ReadonlyArray<Uint8Array> }
  | { readonly _tag: "Unknown"; readonly type: number; readonly bytes: Uint8Array }

export interface ResourceRecord {
  readonly name: Name
  readonly class: number
  /** mDNS cache-flush bit: this record replaces, not adds to, the cached set (RFC 6762 §10.2). */
  readonly cacheFlush: boolean
  readonly ttl: number
  readonly data: RData
}

export interface DnsMessage {
  readonly id: number
  readonly flags: number
  readonly questions: ReadonlyArray<Question>
  readonly answers: ReadonlyArray<ResourceRecord>
  readonly authorities: ReadonlyArray<ResourceRecord>
  readonly additionals: ReadonlyArray<ResourceRecord>
}

export const typeOf = (data: RData): number => (data._tag === "Unknown" ? data.type : RecordType[data._tag])

export const isResponse = (message: DnsMessage): boolean => (message.flags & Flags.response) !== 0

/** `["_shelly","_tcp","local"]` ← `_shelly._tcp.local` (for names whose labels hold no dot). */
export const nameFromDotted = (dotted: string): Name => dotted.split(".").filter((label) => label.length > 0)

/** Dotted form for messages and keys; dots inside a label are escaped as `\.` (RFC 6763 §4.3). */
export const nameToString = (name: Name): string => name.map((label) => label.replace(/\\/g, "\\\\").replace(/\./g, "\\.")).join(".")

/** DNS names compare case-insensitively in ASCII (RFC 1035 §2.3.3). */
export const sameName = (a: Name, b: Name): boolean =>
  a.length === b.length && a.every((label, i) => asciiLower(label) === asciiLower(b[i]!))

const asciiLower = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase())

/** TXT `key=value` entries (RFC 6763 §6.3): keys lowercased, first occurrence wins, bare `key` = "". */
export const txtAttributes = (entries: ReadonlyArray<Uint8Array>): ReadonlyMap<string, string> => {
  const attributes = new Map<string, string>()
  for (const entry of entries) {
    const text = utf8.decode(entry)
    const eq = text.indexOf("=")
    const key = asciiLower(eq < 0 ? text : text.slice(0, eq))
    if (key.length === 0 || attributes.has(key)) continue
    attributes.set(key, eq < 0 ? "" : text.slice(eq + 1))
  }
  return attributes
}

export const txtEntry = (text: string): Uint8Array => utf8.encode(text)

const utf8 = { encode: (s: string) => new TextEncoder().encode(s), decode: (b: Uint8Array) => new TextDecoder().decode(b) }

// ---- encoding ----------------------------------------------------------------

const MAX_LABEL = 63
const MAX_NAME = 255
const MAX_MESSAGE = 9000 // RFC 6762 §17: mDNS messages up to 9000 bytes

class Writer {
  private buffer = new Uint8Array(512)
  length = 0
  /** Offsets of name suffixes already written, keyed exactly (case kept, so decode(encode(x)) = x). */
  private readonly suffixes = new Map<string, number>()

  private ensure(extra: number): void {
    if (this.length + extra <= this.buffer.length) return
    const next = new Uint8Array(Math.max(this.buffer.length * 2, this.length + extra))
    next.set(this.buffer.subarray(0, this.length))
    this.buffer = next
  }
  u8(n: number): void {
    this.ensure(1)
    this.buffer[this.length++] = n & 0xff
  }
  u16(n: number): void {
    this.u8(n >>> 8)
    this.u8(n)
  }
  u32(n: number): void {
    this.u16(Math.floor(n / 0x10000))
    this.u16(n % 0x10000)
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length)
    this.buffer.set(b, this.length)
    this.length += b.length
  }
  setU16(at: number, n: number): void {
    this.buffer[at] = (n >>> 8) & 0xff
    this.buffer[at + 1] = n & 0xff
  }
  name(name: Name): void {
    for (let i = 0; i < name.length; i++) {
      const key = JSON.stringify(name.slice(i))
      const earlier = this.suffixes.get(key)
      if (earlier !== undefined) return this.u16(0xc000 | earlier)
      // Pointers hold 14 bits: suffixes beyond 16 KiB are written out in full.
      if (this.length < 0x4000) this.suffixes.set(key, this.length)
      const label = utf8.encode(name[i]!)
      this.u8(label.length)
      this.bytes(label)
    }
    this.u8(0)
  }
  result(): Uint8Array {
    return this.buffer.slice(0, this.length)
  }
}

const checkName = (name: Name, where: string): string | undefined => {
  let wire = 1
  for (const label of name) {
    const size = utf8.encode(label).length
    if (size === 0) return `${where}: empty label in ${nameToString(name)}`
    if (size > MAX_LABEL) return `${where}: label "${label}" is ${size} bytes (at most ${MAX_LABEL})`
    wire += size + 1
  }
  return wire > MAX_NAME ? `${where}: name ${nameToString(name)} is ${wire} bytes on the wire (at most ${MAX_NAME})` : undefined
}

const u16ok = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0xffff
const u32ok = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff

const checkRecord = (record: ResourceRecord, where: string): string | undefined => {
  const problem = checkName(record.name, where)
  if (problem !== undefined) return problem
  if (!u16ok(record.class) || record.class >= TOP_BIT) return `${where}: class ${record.class} is not 0-32767`
  if (!u32ok(record.ttl)) return `${where}: ttl ${record.ttl} is not a 32-bit unsigned number`
  const data = record.data
  switch (data._tag) {
    case "A":
      return ipv4Bytes(data.address) === undefined ? `${where}: "${data.address}" is not an IPv4 address` : undefined
    case "AAAA":
      return ipv6Bytes(data.address) === undefined ? `${where}: "${data.address}" is not a full IPv6 address` : undefined
    case "PTR":
      return checkName(data.target, `${where} PTR`)
    case "SRV":
      if (![data.priority, data.weight, data.port].every(u16ok)) return `${where}: SRV priority/weight/port must be 0-65535`
      return checkName(data.target, `${where} SRV`)
    case "TXT":
      return data.entries.find((e) => e.length > 255) ? `${where}: a TXT string is longer than 255 bytes` : undefined
    case "Unknown":
      if (!u16ok(data.type)) return `${where}: type ${data.type} is not 0-65535`
      return data.bytes.length > 0xffff ? `${where}: record data is longer than 65535 bytes` : undefined
  }
}

const writeRecord = (w: Writer, record: ResourceRecord): void => {
  w.name(record.name)
  w.u16(typeOf(record.data))
  w.u16(record.class | (record.cacheFlush ? TOP_BIT : 0))
  w.u32(record.ttl)
  const lengthAt = w.length
  w.u16(0)
  const data = record.data
  switch (data._tag) {
    case "A":
      w.bytes(ipv4Bytes(data.address)!)
      break
    case "AAAA":
      w.bytes(ipv6Bytes(data.address)!)
      break
    case "PTR":
      w.name(data.target)
      break
    case "SRV":
      w.u16(data.priority)
      w.u16(data.weight)
      w.u16(data.port)
      w.name(data.target)
      break
    case "TXT":
      // An empty TXT record still holds one empty string (RFC 6763 §6.1).
      for (const entry of data.entries.length === 0 ? [new Uint8Array(0)] : data.entries) {
        w.u8(entry.length)
        w.bytes(entry)
      }
      break
    case "Unknown":
      w.bytes(data.bytes)
  }
  w.setU16(lengthAt, w.length - lengthAt - 2)
}

/** Wire form of `message`, names compressed; Left names the field that cannot be encoded. */
export const encodeMessage = (message: DnsMessage): Either.Either<Uint8Array, string> => {
  if (!u16ok(message.id) || !u16ok(message.flags)) return Either.left("id and flags must be 0-65535")
  const sections = [message.questions, message.answers, message.authorities, message.additionals]
  if (sections.some((s) => s.length > 0xffff)) return Either.left("a section holds more than 65535 entries")
  for (const [i, q] of message.questions.entries()) {
    const problem =
      checkName(q.name, `question ${i + 1}`) ??
      (!u16ok(q.type) ? `question ${i + 1}: type ${q.type} is not 0-65535` : undefined) ??
      (!u16ok(q.class) || q.class >= TOP_BIT ? `question ${i + 1}: class ${q.class} is not 0-32767` : undefined)
    if (problem !== undefined) return Either.left(problem)
  }
  const records = [...message.answers, ...message.authorities, ...message.additionals]
  for (const [i, r] of records.entries()) {
    const problem = checkRecord(r, `record ${i + 1}`)
    if (problem !== undefined) return Either.left(problem)
  }
  const w = new Writer()
  w.u16(message.id)
  w.u16(message.flags)
  for (const section of sections) w.u16(section.length)
  for (const q of message.questions) {
    w.name(q.name)
    w.u16(q.type)
    w.u16(q.class | (q.unicastResponse ? TOP_BIT : 0))
  }
  for (const r of records) writeRecord(w, r)
  return w.length > MAX_MESSAGE ? Either.left(`message is ${w.length} bytes (mDNS allows ${MAX_MESSAGE})`) : Either.right(w.result())
}

// ---- decoding ----------------------------------------------------------------

/**
 * Thrown only inside this module and turned into a Left by `decodeMessage`:
 * every read is bounds-checked, and unwinding from deep inside a record is
 * simpler than threading an Either through each of them.
 */
class Malformed {
  constructor(readonly reason: string) {}
}

class Reader {
  offset = 0
  constructor(readonly bytes: Uint8Array) {}

  need(n: number, what: string): void {
    if (this.offset + n > this.bytes.length) throw new Malformed(`truncated ${what} at byte ${this.offset}`)
  }
  u8(what: string): number {
    this.need(1, what)
    return this.bytes[this.offset++]!
  }
  u16(what: string): number {
    this.need(2, what)
    const n = (this.bytes[this.offset]! << 8) | this.bytes[this.offset + 1]!
    this.offset += 2
    return n
  }
  u32(what: string): number {
    return this.u16(what) * 0x10000 + this.u16(what)
  }
  take(n: number, what: string): Uint8Array {
    this.need(n, what)
    const slice = this.bytes.slice(this.offset, this.offset + n)
    this.offset += n
    return slice
  }
  /** A name at the cursor; pointers must point strictly before the label that holds them. */
  name(): Name {
    const labels: Array<string> = []
    let at = this.offset
    let resumeAt: number | undefined
    let wire = 1
    for (;;) {
      if (at >= this.bytes.length) throw new Malformed(`name runs past the end at byte ${at}`)
      const length = this.bytes[at]!
      if (length === 0) {
        at += 1
        break
      }
      const kind = length & 0xc0
      if (kind === 0xc0) {
        if (at + 1 >= this.bytes.length) throw new Malformed(`truncated compression pointer at byte ${at}`)
        const target = ((length & 0x3f) << 8) | this.bytes[at + 1]!
        if (target >= at) throw new Malformed(`compression pointer at byte ${at} does not point backwards (to ${target})`)
        if (resumeAt === undefined) resumeAt = at + 2
        at = target
        continue
      }
      if (kind !== 0) throw new Malformed(`unsupported label type 0x${kind.toString(16)} at byte ${at}`)
      if (at + 1 + length > this.bytes.length) throw new Malformed(`label runs past the end at byte ${at}`)
      wire += length + 1
      if (wire > MAX_NAME) throw new Malformed(`name longer than ${MAX_NAME} bytes at byte ${at}`)
      labels.push(utf8.decode(this.bytes.subarray(at + 1, at + 1 + length)))
      at += 1 + length
    }
    this.offset = resumeAt ?? at
    return labels
  }
}

const readRecord = (r: Reader): ResourceRecord => {
  const name = r.name()
  const type = r.u16("record type")
  const rawClass = r.u16("record class")
  const ttl = r.u32("record ttl")
  const length = r.u16("record length")
  r.need(length, "record data")
  const end = r.offset + length
  const inside = <A>(read: () => A, what: string): A => {
    const value = read()
    if (r.offset !== end) throw new Malformed(`${what} record data is ${length} bytes but its content takes ${r.offset - (end - length)}`)
    return value
  }
  let data: RData
  switch (type) {
    case RecordType.A:
      data = inside(() => ({ _tag: "A", address: Array.from(r.take(4, "A address")).join(".") }), "A")
      break
    case RecordType.AAAA:
      data = inside(() => ({ _tag: "AAAA", address: ipv6Text(r.take(16, "AAAA address")) }), "AAAA")
      break
    case RecordType.PTR:
      data = inside(() => ({ _tag: "PTR", target: r.name() }), "PTR")
      break
    case RecordType.SRV:
      data = inside(
        () => ({ _tag: "SRV", priority: r.u16("SRV priority"), weight: r.u16("SRV weight"), port: r.u16("SRV port"), target: r.name() }),
        "SRV"
      )
      break
    case RecordType.TXT: {
      const entries: Array<Uint8Array> = []
      while (r.offset < end) {
        const size = r.u8("TXT string length")
        if (r.offset + size > end) throw new Malformed(`TXT string runs past its record at byte ${r.offset}`)
        entries.push(r.take(size, "TXT string"))
      }
      // The single empty string of an empty TXT record is its encoding, not content.
      data = { _tag: "TXT", entries: entries.length === 1 && entries[0]!.length === 0 ? [] : entries }
      break
    }
    default:
      data = { _tag: "Unknown", type, bytes: r.take(length, "record data") }
  }
  return { name, class: rawClass & ~TOP_BIT, cacheFlush: (rawClass & TOP_BIT) !== 0, ttl, data }
}

/** Parses a whole datagram; Left says what is wrong and where, for any input. */
export const decodeMessage = (bytes: Uint8Array): Either.Either<DnsMessage, string> => {
  try {
    const r = new Reader(bytes)
    const id = r.u16("header")
    const flags = r.u16("header")
    const counts = [r.u16("header"), r.u16("header"), r.u16("header"), r.u16("header")] as const
    // Each entry takes at least 5 bytes; reject absurd counts before looping over them.
    if ((counts[0] + counts[1] + counts[2] + counts[3]) * 5 > bytes.length) {
      return Either.left(`header announces ${counts.join("/")} entries, more than ${bytes.length} bytes can hold`)
    }
    const questions: Array<Question> = []
    for (let i = 0; i < counts[0]; i++) {
      const name = r.name()
      const type = r.u16("question type")
      const rawClass = r.u16("question class")
      questions.push({ name, type, class: rawClass & ~TOP_BIT, unicastResponse: (rawClass & TOP_BIT) !== 0 })
    }
    const section = (count: number) => Array.from({ length: count }, () => readRecord(r))
    const answers = section(counts[1])
    const authorities = section(counts[2])
    const additionals = section(counts[3])
    if (r.offset !== bytes.length) return Either.left(`${bytes.length - r.offset} bytes left over after the last record`)
    return Either.right({ id, flags, questions, answers, authorities, additionals })
  } catch (error) {
    if (error instanceof Malformed) return Either.left(error.reason)
    return Either.left(`undecodable message: ${String(error)}`)
  }
}

// ---- addresses -----------------------------------------------------------------

const ipv4Bytes = (address: string): Uint8Array | undefined => {
  const parts = address.split(".")
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return undefined
  return Uint8Array.from(parts.map(Number))
}

/** Only the full eight-group form (what `ipv6Text` produces); no `::` shorthand is needed here. */
const ipv6Bytes = (address: string): Uint8Array | undefined => {
  const groups = address.split(":")
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return undefined
  return Uint8Array.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]))
}

const ipv6Text = (bytes: Uint8Array): string =>
  Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16)).join(":")
