import { Either } from "effect"
import { ImageInvalid } from "../../domain/errors/flash.js"

/**
 * Intel HEX (the format avr-gcc / Arduino builds emit). Record types handled:
 * 00 data, 01 end of file, 02 extended segment address (base = value << 4),
 * 04 extended linear address (base = value << 16); 03/05 (start addresses)
 * are accepted and ignored, since a bootloader flasher never jumps by them.
 */

/** A contiguous run of bytes at an absolute address. */
export interface HexSegment {
  readonly address: number
  readonly data: Uint8Array
}

const invalid = (source: string, line: number, reason: string) =>
  new ImageInvalid({ region: `${source} (Intel HEX)`, detail: `line ${line}: ${reason}` })

/** Parses the text into segments sorted by address; adjacent records are merged, gaps split segments. */
export const parseIntelHex = (text: string, source = "<hex>"): Either.Either<ReadonlyArray<HexSegment>, ImageInvalid> => {
  const bytesAt = new Map<number, number>()
  let base = 0
  let sawEof = false
  const lines = text.split(/\r?\n/)
  for (let index = 0; index < lines.length; index++) {
    const lineNo = index + 1
    const line = lines[index]!.trim()
    if (line === "") continue
    if (sawEof) return Either.left(invalid(source, lineNo, "data after the end-of-file record (01)"))
    if (!line.startsWith(":")) return Either.left(invalid(source, lineNo, "a record must start with ':'"))
    const hex = line.slice(1)
    if (hex.length < 10 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) {
      return Either.left(invalid(source, lineNo, "not an even number of hex digits, or shorter than a record header"))
    }
    const record = Uint8Array.from(hex.match(/../g)!.map((pair) => Number.parseInt(pair, 16)))
    const length = record[0]!
    if (record.length !== length + 5) {
      return Either.left(invalid(source, lineNo, `byte count says ${length} data bytes, the record holds ${record.length - 5}`))
    }
    const sum = record.reduce((acc, byte) => (acc + byte) & 0xff, 0)
    if (sum !== 0) {
      const expected = (0x100 - record.subarray(0, record.length - 1).reduce((acc, b) => (acc + b) & 0xff, 0)) & 0xff
      return Either.left(invalid(source, lineNo, `checksum 0x${hex2(record[record.length - 1]!)} is wrong, expected 0x${hex2(expected)}`))
    }
    const offset = (record[1]! << 8) | record[2]!
    const type = record[3]!
    const data = record.subarray(4, 4 + length)
    switch (type) {
      case 0x00:
        for (let i = 0; i < data.length; i++) {
          const address = base + offset + i
          if (bytesAt.has(address)) return Either.left(invalid(source, lineNo, `address 0x${address.toString(16)} is written twice`))
          bytesAt.set(address, data[i]!)
        }
        break
      case 0x01:
        sawEof = true
        break
      case 0x02:
        if (length !== 2) return Either.left(invalid(source, lineNo, "an extended segment address record (02) carries 2 bytes"))
        base = ((data[0]! << 8) | data[1]!) * 16
        break
      case 0x04:
        if (length !== 2) return Either.left(invalid(source, lineNo, "an extended linear address record (04) carries 2 bytes"))
        base = ((data[0]! << 8) | data[1]!) * 0x10000
        break
      case 0x03:
      case 0x05:
        break
      default:
        return Either.left(invalid(source, lineNo, `unknown record type 0x${hex2(type)}`))
    }
  }
  if (!sawEof) return Either.left(invalid(source, lines.length, "no end-of-file record (:00000001FF); the file is truncated"))
  return Either.right(toSegments(bytesAt))
}

const toSegments = (bytesAt: Map<number, number>): ReadonlyArray<HexSegment> => {
  const addresses = [...bytesAt.keys()].sort((a, b) => a - b)
  const segments: Array<HexSegment> = []
  let start = 0
  while (start < addresses.length) {
    let end = start
    while (end + 1 < addresses.length && addresses[end + 1] === addresses[end]! + 1) end++
    const data = new Uint8Array(end - start + 1)
    for (let i = start; i <= end; i++) data[i - start] = bytesAt.get(addresses[i]!)!
    segments.push({ address: addresses[start]!, data })
    start = end + 1
  }
  return segments
}

/**
 * Flattens segments into one image from `origin`, gaps filled with `fill`
 * (0xFF: erased flash, so unprogrammed bytes read back as they would on the chip).
 */
export const segmentsToImage = (segments: ReadonlyArray<HexSegment>, origin = 0, fill = 0xff): Uint8Array => {
  if (segments.length === 0) return new Uint8Array(0)
  const end = Math.max(...segments.map((s) => s.address + s.data.length))
  const image = new Uint8Array(end - origin).fill(fill)
  for (const segment of segments) image.set(segment.data, segment.address - origin)
  return image
}

const hex2 = (n: number) => n.toString(16).padStart(2, "0").toUpperCase()

const recordLine = (type: number, offset: number, data: Uint8Array): string => {
  const bytes = [data.length, (offset >> 8) & 0xff, offset & 0xff, type, ...data]
  const checksum = (0x100 - (bytes.reduce((acc, b) => acc + b, 0) & 0xff)) & 0xff
  return `:${bytes.map(hex2).join("")}${hex2(checksum)}`
}

/** Encodes segments as Intel HEX (04 records when an address crosses a 64 KiB boundary). */
export const encodeIntelHex = (segments: ReadonlyArray<HexSegment>, bytesPerRecord = 16): string => {
  const lines: Array<string> = []
  let upper = 0
  for (const segment of segments) {
    let position = 0
    while (position < segment.data.length) {
      const address = segment.address + position
      const high = Math.floor(address / 0x10000)
      if (high !== upper) {
        lines.push(recordLine(0x04, 0, Uint8Array.of((high >> 8) & 0xff, high & 0xff)))
        upper = high
      }
      const low = address & 0xffff
      const count = Math.min(bytesPerRecord, segment.data.length - position, 0x10000 - low)
      lines.push(recordLine(0x00, low, segment.data.subarray(position, position + count)))
      position += count
    }
  }
  lines.push(":00000001FF")
  return `${lines.join("\n")}\n`
}
