/**
 * ROM bootloader packets (inside SLIP frames), little-endian:
 *   request  = dir 0x00, op, u16 data length, u32 checksum, data
 *   response = dir 0x01, op, u16 data length, u32 value,    data (status bytes last)
 */
export const REQUEST = 0x00
export const RESPONSE = 0x01
export const HEADER_SIZE = 8
const CHECKSUM_SEED = 0xef

/** XOR of the bytes, seeded with 0xEF; only *_DATA commands carry it. */
export const checksum = (data: Uint8Array): number => {
  let sum = CHECKSUM_SEED
  for (let i = 0; i < data.length; i++) sum ^= data[i]!
  return sum
}

export const encodeRequest = (op: number, data: Uint8Array, check = 0): Uint8Array => {
  const packet = new Uint8Array(HEADER_SIZE + data.length)
  const view = new DataView(packet.buffer)
  view.setUint8(0, REQUEST)
  view.setUint8(1, op)
  view.setUint16(2, data.length, true)
  view.setUint32(4, check, true)
  packet.set(data, HEADER_SIZE)
  return packet
}

export interface Response {
  readonly op: number
  /** READ_REG result; SYNC's non-zero value marks the ROM (the stub sends 0). */
  readonly value: number
  /** Payload before the status bytes. */
  readonly data: Uint8Array
  readonly status: number
  readonly error: number
}

/**
 * Status length is inferred from the packet's total size, as espflash does:
 * 10 (plain) and 26 (MD5) bytes come from loaders with a 2-byte status
 * (ESP8266 ROM, stub); every other size from ESP32-family ROMs (4 bytes).
 */
export const statusLength = (packetLength: number): 2 | 4 => (packetLength === 10 || packetLength === 26 ? 2 : 4)

export type DecodedPacket =
  | { readonly _tag: "Response"; readonly response: Response }
  | { readonly _tag: "Request"; readonly op: number }
  | { readonly _tag: "Malformed"; readonly reason: string }

/** `statusBytes`: known once the chip is (2 on ESP8266 ROM, 4 on ESP32-family ROMs); inferred otherwise. */
export const decodeResponse = (packet: Uint8Array, statusBytes?: 2 | 4): DecodedPacket => {
  if (packet.length < HEADER_SIZE) return { _tag: "Malformed", reason: `packet of ${packet.length} bytes is shorter than a header` }
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength)
  const dir = view.getUint8(0)
  const op = view.getUint8(1)
  if (dir !== RESPONSE)
    return dir === REQUEST ? { _tag: "Request", op } : { _tag: "Malformed", reason: `direction byte 0x${dir.toString(16)}` }
  const size = view.getUint16(2, true)
  if (size !== packet.length - HEADER_SIZE) {
    return { _tag: "Malformed", reason: `length field says ${size} bytes, packet carries ${packet.length - HEADER_SIZE}` }
  }
  const status = statusBytes ?? statusLength(packet.length)
  if (size < 2) return { _tag: "Malformed", reason: `reply to op 0x${op.toString(16)} has no status bytes` }
  const statusAt = size >= status ? size - status : size - 2
  const body = packet.subarray(HEADER_SIZE)
  return {
    _tag: "Response",
    response: {
      op,
      value: view.getUint32(4, true),
      data: body.subarray(0, statusAt),
      status: body[statusAt]!,
      error: body[statusAt + 1]!
    }
  }
}

/** Little-endian u32 words as a payload. */
export const words = (...values: ReadonlyArray<number>): Uint8Array => {
  const out = new Uint8Array(values.length * 4)
  const view = new DataView(out.buffer)
  values.forEach((value, i) => view.setUint32(i * 4, value >>> 0, true))
  return out
}
