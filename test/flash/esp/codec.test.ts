import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import fc from "fast-check"
import { SlipDecoder, slipEncode } from "../../../src/serial/slip.js"
import {
  CHIPS,
  EspCommands as Cmd,
  checkImageForChip,
  checkRegionLayout,
  checksum,
  decodeResponse,
  defaultOffsetsForPlatform,
  defaultTimeouts as t,
  encodeRequest,
  esp8266EraseSize,
  flashSizeFromId,
  imageTarget
} from "../../../src/flash/esp/index.js"
import { makeAppImage, makeBootloaderImage, makePartitionTable } from "../../../sim/esp/index.js"

const escapeHeavy = fc
  .array(fc.oneof(fc.constantFrom(0xc0, 0xdb, 0xdc, 0xdd), fc.integer({ min: 0, max: 255 })), { maxLength: 600 })
  .map((a) => Uint8Array.from(a))
const u32 = (bytes: Uint8Array, at: number) => new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, true)
const esp32 = CHIPS.find((c) => c.name === "ESP32")!
const esp8266 = CHIPS.find((c) => c.name === "ESP8266")!

describe("SLIP", () => {
  it("round-trips any payloads, 0xC0/0xDB-heavy, fed in arbitrary chunks", () => {
    fc.assert(
      fc.property(
        fc.array(
          escapeHeavy.filter((p) => p.length > 0),
          { minLength: 1, maxLength: 6 }
        ),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1 }),
        (payloads, cuts) => {
          const stream = Uint8Array.from(payloads.flatMap((p) => [...slipEncode(p)]))
          const decoder = new SlipDecoder()
          const out: Array<Uint8Array> = []
          let at = 0
          for (let i = 0; at < stream.length; i++) {
            const n = cuts[i % cuts.length]!
            out.push(...decoder.push(stream.subarray(at, at + n)))
            at += n
          }
          expect(out.map((p) => [...p])).toEqual(payloads.map((p) => [...p]))
          expect(decoder.errors).toBe(0)
        }
      )
    )
  })

  it("escapes DB then C0 exactly as the protocol says and never leaves a bare C0 inside", () => {
    expect([...slipEncode(Uint8Array.of(0xc0, 0xdb, 0x01))]).toEqual([0xc0, 0xdb, 0xdc, 0xdb, 0xdd, 0x01, 0xc0])
    fc.assert(
      fc.property(escapeHeavy, (p) => {
        const framed = slipEncode(p)
        expect(framed.subarray(1, -1).includes(0xc0)).toBe(false)
      })
    )
  })

  it("drops boot noise between frames", () => {
    const decoder = new SlipDecoder()
    const noise = new TextEncoder().encode("ets Jun  8 2016 00:22:57\r\n")
    const packets = decoder.push(Uint8Array.from([...noise, ...slipEncode(Uint8Array.of(1, 2, 3))]))
    expect(packets.map((p) => [...p])).toEqual([[1, 2, 3]])
  })
})

describe("packets", () => {
  it("checksum is 0xEF XOR the payload bytes", () => {
    expect(checksum(new Uint8Array(0))).toBe(0xef)
    expect(checksum(Uint8Array.of(0xef))).toBe(0)
    fc.assert(
      fc.property(escapeHeavy, (p) => {
        expect(checksum(p)).toBe(p.reduce((a, b) => a ^ b, 0xef))
      })
    )
  })

  it("encodes a request header (dir, op, size, checksum) little-endian", () => {
    const packet = encodeRequest(0x11, Uint8Array.of(9, 8, 7), 0x5a)
    expect([...packet]).toEqual([0x00, 0x11, 3, 0, 0x5a, 0, 0, 0, 9, 8, 7])
  })

  const response = (op: number, value: number, body: Array<number>) => {
    const out = new Uint8Array(8 + body.length)
    const view = new DataView(out.buffer)
    out[0] = 1
    out[1] = op
    view.setUint16(2, body.length, true)
    view.setUint32(4, value, true)
    out.set(body, 8)
    return out
  }

  it("reads 4-byte (ESP32 ROM) and 2-byte (ESP8266 ROM) status, inferred from length like espflash", () => {
    const esp32Reply = decodeResponse(response(0x0a, 0x00f01d83, [0, 0, 0, 0]))
    expect(esp32Reply._tag === "Response" && esp32Reply.response).toMatchObject({ op: 0x0a, value: 0x00f01d83, status: 0, error: 0 })
    const esp8266Reply = decodeResponse(response(0x0a, 0xfff0c101, [1, 0x05]))
    expect(esp8266Reply._tag === "Response" && esp8266Reply.response).toMatchObject({ status: 1, error: 5 })
    const md5 = [...new TextEncoder().encode("0123456789abcdef0123456789abcdef"), 0, 0, 0, 0]
    const md5Reply = decodeResponse(response(0x13, 0, md5))
    expect(md5Reply._tag === "Response" && new TextDecoder().decode(md5Reply.response.data)).toBe("0123456789abcdef0123456789abcdef")
    const known2 = decodeResponse(response(0x0e, 0, [...new Array(64).fill(7), 0, 0]), 2)
    expect(known2._tag === "Response" && known2.response.data.length).toBe(64)
  })

  it("round-trips value and payload through a response packet for any body", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ minLength: 0, maxLength: 80 }), (value, body) => {
        const decoded = decodeResponse(response(0x0a, value, [...body, 0, 0, 0, 0]), 4)
        expect(decoded._tag).toBe("Response")
        if (decoded._tag === "Response") {
          expect(decoded.response.value).toBe(value)
          expect([...decoded.response.data]).toEqual([...body])
        }
      })
    )
  })

  it("flags malformed packets and requests echoed back", () => {
    expect(decodeResponse(Uint8Array.of(1, 2))._tag).toBe("Malformed")
    expect(decodeResponse(encodeRequest(8, new Uint8Array(4)))._tag).toBe("Request")
    const lying = response(0x0a, 0, [0, 0, 0, 0])
    lying[2] = 9
    expect(decodeResponse(lying)._tag).toBe("Malformed")
  })
})

describe("command encoders", () => {
  it("SYNC is 07 07 12 20 + 32×0x55 with a 100 ms wait", () => {
    const sync = Cmd.sync(t)
    expect(sync.op).toBe(0x08)
    expect([...sync.data]).toEqual([0x07, 0x07, 0x12, 0x20, ...new Array(32).fill(0x55)])
    expect(sync.timeout).toEqual(t.sync)
  })

  it("register, SPI and baud commands carry their words", () => {
    expect([...Cmd.readReg(t, 0x40001000).data]).toEqual([0x00, 0x10, 0x00, 0x40])
    const write = Cmd.writeReg(t, 0x3ff42000, 0x40000, 0xffffffff, 0)
    expect([u32(write.data, 0), u32(write.data, 4), u32(write.data, 8), u32(write.data, 12)]).toEqual([0x3ff42000, 0x40000, 0xffffffff, 0])
    expect(Cmd.spiAttach(t).data.length).toBe(8)
    const params = Cmd.spiSetParams(t, 4 << 20)
    expect([0, 4, 8, 12, 16, 20].map((at) => u32(params.data, at))).toEqual([0, 4 << 20, 0x10000, 0x1000, 0x100, 0xffff])
    const baud = Cmd.changeBaudrate(t, 921600)
    expect([u32(baud.data, 0), u32(baud.data, 4)]).toEqual([921600, 0])
    const md5 = Cmd.spiFlashMd5(t, 0x10000, 3 << 20)
    expect([u32(md5.data, 0), u32(md5.data, 4), u32(md5.data, 8), u32(md5.data, 12)]).toEqual([0x10000, 3 << 20, 0, 0])
    expect(Cmd.getSecurityInfo(t).data.length).toBe(0)
  })

  it("FLASH_BEGIN has 4 words on ESP32/ESP8266 ROMs and 5 on later ROMs; erase timeout scales per MB", () => {
    const args = { eraseSize: 2 << 20, blocks: 2048, blockSize: 0x400, offset: 0x10000 }
    expect(Cmd.flashBegin(t, { ...args, withEncryptedWord: false }).data.length).toBe(16)
    expect(Cmd.flashDeflBegin(t, { ...args, withEncryptedWord: true }).data.length).toBe(20)
    expect(Cmd.flashDeflBegin(t, { ...args, withEncryptedWord: false }).op).toBe(0x10)
    expect(Cmd.flashDeflBegin(t, { ...args, withEncryptedWord: false }).timeout.toJSON()).toEqual(
      Cmd.timeoutPerMb(t, t.erasePerMb, 2 << 20).toJSON()
    )
    // Small regions never get less than the default timeout.
    expect(Cmd.timeoutPerMb(t, t.md5PerMb, 1000)).toEqual(t.default)
  })

  it("data blocks: header (len, seq, 0, 0) + data, checksum over the data only", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5000 }), fc.uint8Array({ minLength: 1, maxLength: 1024 }), (seq, block) => {
        const command = Cmd.flashDeflData(t, seq, block, 4096)
        expect(command.op).toBe(0x11)
        expect([u32(command.data, 0), u32(command.data, 4), u32(command.data, 8), u32(command.data, 12)]).toEqual([block.length, seq, 0, 0])
        expect([...command.data.subarray(16)]).toEqual([...block])
        expect(command.checksum).toBe(checksum(block))
      })
    )
    expect(Cmd.flashData(t, 0, new Uint8Array(1024)).op).toBe(0x03)
    expect([...Cmd.flashEnd(t, true).data]).toEqual([1, 0, 0, 0])
    expect([...Cmd.flashDeflEnd(t, false).data]).toEqual([0, 0, 0, 0])
  })
})

describe("chip facts", () => {
  it("ESP8266 erase-size workaround and flash size from the JEDEC id", () => {
    expect(esp8266EraseSize(0, 0x10000)).toBe(0x8000) // 16 sectors in the first block: the ROM doubles them
    expect(esp8266EraseSize(0x1000, 0x1000)).toBe(0x1000)
    expect(esp8266EraseSize(0, 0x40000)).toBe(0x30000)
    expect(flashSizeFromId(0x1640ef)).toBe(4 << 20)
    expect(flashSizeFromId(0x1440ef)).toBe(1 << 20)
    expect(flashSizeFromId(0xffffff)).toBeUndefined()
    expect(defaultOffsetsForPlatform("esp32")).toEqual({ bootloader: 0x1000, partitionTable: 0x8000, app: 0x10000 })
    expect(defaultOffsetsForPlatform("esp8266").bootloader).toBe(0)
  })

  it("image headers: ESP32 extended header vs ESP8266 layout; mismatch names both chips", () => {
    const app32 = makeAppImage({ chip: "esp32", version: "1", size: 8192 })
    const app8266 = makeAppImage({ chip: "esp8266", version: "1", size: 8192 })
    expect(imageTarget(app32)).toEqual({ _tag: "Esp32Family", chipId: 0 })
    expect(imageTarget(makeBootloaderImage())).toEqual({ _tag: "Esp32Family", chipId: 0 })
    expect(imageTarget(app8266)).toEqual({ _tag: "Esp8266" })
    expect(imageTarget(makePartitionTable())).toEqual({ _tag: "NotAnImage" })
    expect(Either.isRight(checkImageForChip("/dev/x", esp32, { name: "app", offset: 0x10000, data: app32 }))).toBe(true)
    const wrong = checkImageForChip("/dev/x", esp8266, { name: "app", offset: 0, data: app32 })
    expect(Either.isLeft(wrong) && wrong.left.message).toBe("the port /dev/x holds an ESP8266, the app image is for ESP32")
    const c3 = new Uint8Array(app32)
    c3[12] = 5
    const c3Check = checkImageForChip("/dev/x", esp32, { name: "app", offset: 0x10000, data: c3 })
    expect(Either.isLeft(c3Check) && c3Check.left.expected).toBe("ESP32-C3")
  })

  it("region layout: empty, unaligned, overlapping and too-large regions are refused", () => {
    const data = new Uint8Array(0x2000)
    const layout = (regions: Array<{ name: string; offset: number; data: Uint8Array }>, size?: number) => checkRegionLayout(regions, size)
    expect(
      Either.isRight(
        layout(
          [
            { name: "a", offset: 0x1000, data },
            { name: "b", offset: 0x8000, data }
          ],
          4 << 20
        )
      )
    ).toBe(true)
    const overlap = layout([
      { name: "a", offset: 0x1000, data: new Uint8Array(0x8000) },
      { name: "b", offset: 0x8000, data }
    ])
    expect(Either.isLeft(overlap) && overlap.left.message).toContain("overlapping b")
    expect(Either.isLeft(layout([{ name: "a", offset: 0x1001, data }]))).toBe(true)
    expect(Either.isLeft(layout([{ name: "a", offset: 0, data: new Uint8Array(0) }]))).toBe(true)
    const big = layout([{ name: "app", offset: 0x10000, data: new Uint8Array(1 << 20) }], 1 << 20)
    expect(Either.isLeft(big) && big.left.message).toContain("past the 1 MiB flash")
  })
})
