import { createHash } from "node:crypto"
import { Either } from "effect"
import { deflateSync } from "node:zlib"
import { readStubImage } from "../../src/flash/esp/stubImages.js"
import { afterEach, describe, expect, it } from "vitest"
import { type EspBoard, fillerBytes, startEspBoard } from "../../sim/esp/index.js"
import type { EspEmulatorOptions } from "../../sim/esp/types.js"
import { concat, dataBlock, RawClient, romMd5, statusOf, u32le, writeDeflated, writePlain } from "./espRawClient.js"

const open: Array<{ board: EspBoard; client: RawClient }> = []

const connect = async (options: Omit<EspEmulatorOptions, "devicePath">, sync = true) => {
  const board = await startEspBoard({ pace: false, ...options })
  const client = await RawClient.open(board.hostPath)
  open.push({ board, client })
  if (sync) expect((await client.sync()).length).toBe(8)
  return { board, client }
}

afterEach(async () => {
  for (const { board, client } of open.splice(0)) {
    await client.close()
    await board.stop()
  }
})

const md5 = (data: Uint8Array) => createHash("md5").update(data).digest("hex")
const readReg = async (client: RawClient, address: number) => (await client.command(0x0a, u32le(address))).value >>> 0

describe("ESP ROM emulator: sync and registers", () => {
  it("ESP32 answers one SYNC with 8 replies carrying 0x20120707 and 4 status bytes", async () => {
    const { client } = await connect({ chip: "esp32" }, false)
    const replies = await client.sync()
    expect(replies).toHaveLength(8)
    for (const r of replies) {
      expect(r.value).toBe(0x20120707)
      expect(Array.from(r.data)).toEqual([0, 0, 0, 0])
    }
    expect(await client.drain(50)).toHaveLength(0)
  })

  it("ESP8266 uses 2 status bytes", async () => {
    const { client } = await connect({ chip: "esp8266" }, false)
    const replies = await client.sync()
    expect(replies).toHaveLength(8)
    expect(Array.from(replies[0]!.data)).toEqual([0, 0])
    expect((await client.command(0x0a, u32le(0x40001000))).data).toHaveLength(2)
  })

  it("ignores commands until it has been synced", async () => {
    const { client } = await connect({ chip: "esp32" }, false)
    await client.send(0x0a, u32le(0x40001000))
    expect(await client.response(0x0a, 200)).toBeUndefined()
    await client.sync()
    expect(await readReg(client, 0x40001000)).toBe(0x00f01d83)
  })

  it("reports the chip magic of each chip", async () => {
    const esp32 = await connect({ chip: "esp32" })
    const esp8266 = await connect({ chip: "esp8266" })
    expect(await readReg(esp32.client, 0x40001000)).toBe(0x00f01d83)
    expect(await readReg(esp8266.client, 0x40001000)).toBe(0xfff0c101)
  })

  it("ESP32 MAC eFuses follow esptool's formula", async () => {
    const { client } = await connect({ chip: "esp32", mac: "aa:bb:11:22:33:44" })
    const w1 = await readReg(client, 0x3ff5a004)
    const w2 = await readReg(client, 0x3ff5a008)
    expect(w1).toBe(0x11223344)
    expect(w2 & 0xffff).toBe(0xaabb)
    const mac = [(w2 >> 8) & 0xff, w2 & 0xff, w1 >>> 24, (w1 >> 16) & 0xff, (w1 >> 8) & 0xff, w1 & 0xff]
    expect(mac).toEqual([0xaa, 0xbb, 0x11, 0x22, 0x33, 0x44])
  })

  it("ESP8266 MAC eFuses encode the Espressif OUI by flag and any other OUI in mac3", async () => {
    const classic = await connect({ chip: "esp8266", mac: "ac:d0:74:12:34:56" })
    expect(await readReg(classic.client, 0x3ff0005c)).toBe(0)
    const mac1 = await readReg(classic.client, 0x3ff00054)
    expect((mac1 >> 16) & 0xff).toBe(1)
    expect(mac1 & 0xffff).toBe(0x1234)
    expect((await readReg(classic.client, 0x3ff00050)) >>> 24).toBe(0x56)
    const other = await connect({ chip: "esp8266", mac: "5c:cf:7f:01:02:03" })
    expect(await readReg(other.client, 0x3ff0005c)).toBe(0x5ccf7f)
  })

  it("runs the SPI RDID command through the USR registers and reports the JEDEC size code", async () => {
    const { client } = await connect({ chip: "esp32", flashSize: 8 * 1024 * 1024 })
    const base = 0x3ff42000
    const write = (a: number, v: number) => client.command(0x09, u32le(a, v, 0xffffffff, 0))
    await write(base + 0x24, (7 << 28) | 0x9f)
    await write(base + 0x00, 1 << 18)
    expect((await readReg(client, base)) & (1 << 18)).toBe(0)
    const id = await readReg(client, base + 0x80)
    expect(id & 0xff).toBe(0xef)
    expect((id >> 16) & 0xff).toBe(0x17) // 8 MB
  })

  it("reports a UART divider that matches a 40 MHz crystal at the current baud, before and after CHANGE_BAUDRATE", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    expect(await readReg(client, 0x3ff40014)).toBe(Math.round(40e6 / 115200))
    const r = await client.command(0x0f, u32le(921600, 0))
    expect(statusOf(r)).toEqual({ status: 0, error: 0 })
    // Uncompensated: the ROM divides the 40.40 MHz it believes in, so the line runs ~1 % slow.
    expect(board.emulator.baud).toBe(Math.round((921600 * 40e6) / ((2028 * 15625 * 51) / 40)))
    expect(await readReg(client, 0x3ff40014)).toBe(Math.round(40e6 / board.emulator.baud))
  })

  it("ESP32 ROM clock registers: esptool's crystal compensation lands on the rate it asked for", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    // esptool v4.8.1 esp32.py get_rom_cal_crystal_freq: RTCCALICFG1 bits 7.., eFuse word 4 low byte.
    const cali = ((await readReg(client, 0x3ff5f06c)) >>> 7) & 0x1ffffff
    const ck8m = (await readReg(client, 0x3ff5a010)) & 0xff
    const romFreq = (cali * 15625 * ck8m) / 40
    expect(romFreq).toBeGreaterThan(39e6)
    expect(romFreq).toBeLessThan(41e6)
    const valid = romFreq > 33e6 ? 40e6 : 26e6
    const falseRomBaud = Math.floor((921600 * romFreq) / valid)
    expect(statusOf(await client.command(0x0f, u32le(falseRomBaud, 0)))).toEqual({ status: 0, error: 0 })
    expect(Math.abs(board.emulator.baud - 921600)).toBeLessThanOrEqual(1)
  })

  it("keeps WRITE_REG values for later READ_REG, honouring the mask", async () => {
    const { client } = await connect({ chip: "esp32" })
    await client.command(0x09, u32le(0x3ff00100, 0x12345678, 0xffffffff, 0))
    await client.command(0x09, u32le(0x3ff00100, 0x0000abcd, 0x0000ffff, 0))
    expect(await readReg(client, 0x3ff00100)).toBe(0x1234abcd)
  })
})

describe("ESP ROM emulator: unsupported commands", () => {
  it("ESP32 GET_SECURITY_INFO: 8 × a 12-byte error (another op, status 01 05 00 00), then the ROM needs a new SYNC", async () => {
    const { client } = await connect({ chip: "esp32" })
    await client.send(0x14)
    const errors = await client.drain(400)
    expect(errors).toHaveLength(8)
    for (const p of errors) {
      expect(p).toHaveLength(12)
      expect(p[1]).not.toBe(0x14) // esptool raises UnsupportedCommandError only for a reply to another op
      expect(Array.from(p.subarray(8))).toEqual([1, 0x05, 0, 0])
    }
    await client.send(0x0a, u32le(0x40001000))
    expect(await client.response(0x0a, 200)).toBeUndefined()
    expect(await client.sync()).toHaveLength(8)
    expect(await readReg(client, 0x40001000)).toBe(0x00f01d83)
  })

  it.each([
    ["FLASH_DEFL_BEGIN", 0x10, u32le(0x1000, 1, 0x400, 0)],
    ["SPI_FLASH_MD5", 0x13, u32le(0, 0x1000, 0, 0)],
    ["CHANGE_BAUDRATE", 0x0f, u32le(921600, 0)],
    ["SPI_ATTACH", 0x0d, u32le(0, 0)],
    ["SPI_SET_PARAMS", 0x0b, u32le(0, 0x100000, 0x10000, 0x1000, 0x100, 0xffff)]
  ])("ESP8266 ROM does not support %s: 8 × a 10-byte error with 2 status bytes", async (_name, op, payload) => {
    const { client } = await connect({ chip: "esp8266" })
    await client.send(op, payload)
    const errors = await client.drain(400)
    expect(errors).toHaveLength(8)
    for (const p of errors) {
      expect(p[1]).not.toBe(op)
      expect(Array.from(p.subarray(8))).toEqual([1, 0x05])
    }
  })
})

describe("ESP ROM emulator: flash writes", () => {
  it("ESP32 refuses flash work before SPI_ATTACH (error 0x08)", async () => {
    const { client } = await connect({ chip: "esp32" })
    const r = await client.command(0x02, u32le(0x1000, 1, 0x400, 0x10000))
    expect(statusOf(r)).toEqual({ status: 1, error: 0x08 })
    expect(statusOf(await client.command(0x0d, u32le(0, 0)))).toEqual({ status: 0, error: 0 })
    expect(statusOf(await client.command(0x02, u32le(0x1000, 1, 0x400, 0x10000)))).toEqual({ status: 0, error: 0 })
  })

  it("FLASH_BEGIN erases whole sectors; FLASH_DATA writes padded blocks; MD5 matches", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    board.emulator.flash.fill(0x00, 0x20000, 0x24000) // stale content before and after the target
    await client.command(0x0d, u32le(0, 0))
    const image = fillerBytes(5000, 0.5, 11)
    await writePlain(client, 0x21000, image)
    expect(Buffer.from(board.emulator.readFlash(0x21000, image.length)).equals(Buffer.from(image))).toBe(true)
    // 5000 bytes erase two sectors: the tail of the second sector reads erased, the next sector keeps its old data.
    expect(Array.from(board.emulator.readFlash(0x21000 + image.length, 8))).toEqual(new Array(8).fill(0xff))
    expect(board.emulator.readFlash(0x23000, 1)[0]).toBe(0x00)
    expect(board.emulator.readFlash(0x20fff, 1)[0]).toBe(0x00)
    expect(await romMd5(client, 0x21000, image.length)).toBe(md5(image))
  })

  it("programs like NOR flash: without an erase, writes only clear bits", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    await client.command(0x0d, u32le(0, 0))
    board.emulator.flash.fill(0x0f, 0x30000, 0x30400)
    expect(statusOf(await client.command(0x02, u32le(0, 1, 0x400, 0x30000)))).toEqual({ status: 0, error: 0 })
    const { payload, checksum } = dataBlock(0, new Uint8Array(0x400).fill(0xf3))
    expect(statusOf(await client.command(0x03, payload, checksum))).toEqual({ status: 0, error: 0 })
    expect(board.emulator.readFlash(0x30000, 1)[0]).toBe(0x03)
  })

  it("rejects a block with a bad checksum (0x07) without writing it, and an out-of-order seq (0x06)", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    await client.command(0x0d, u32le(0, 0))
    await client.command(0x02, u32le(0x800, 2, 0x400, 0x40000))
    const block = new Uint8Array(0x400).fill(0x42)
    const { payload, checksum } = dataBlock(0, block)
    expect(statusOf(await client.command(0x03, payload, checksum ^ 0x01))).toEqual({ status: 1, error: 0x07 })
    expect(board.emulator.readFlash(0x40000, 1)[0]).toBe(0xff)
    expect(board.emulator.stats.checksumErrors).toBe(1)
    const skipped = dataBlock(1, block)
    expect(statusOf(await client.command(0x03, skipped.payload, skipped.checksum))).toEqual({ status: 1, error: 0x06 })
    expect(statusOf(await client.command(0x03, payload, checksum))).toEqual({ status: 0, error: 0 })
    expect(board.emulator.readFlash(0x40000, 1)[0]).toBe(0x42)
  })

  it("inflates a zlib stream block by block (FLASH_DEFL_*), and the ROM MD5 is 32 ASCII hex chars", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    await client.command(0x0d, u32le(0, 0))
    const image = fillerBytes(70_000, 0.5, 5)
    const compressed = deflateSync(image, { level: 9 })
    expect(compressed.length).toBeLessThan(image.length * 0.7)
    await writeDeflated(client, 0x10000, compressed, image.length)
    expect(Buffer.from(board.emulator.readFlash(0x10000, image.length)).equals(Buffer.from(image))).toBe(true)
    const r = await client.command(0x13, u32le(0x10000, image.length, 0, 0))
    expect(r.data).toHaveLength(36)
    expect(Buffer.from(r.data.subarray(0, 32)).toString("latin1")).toBe(md5(image))
    expect(board.emulator.stats.commands["FLASH_DEFL_DATA"]).toBe(Math.ceil(compressed.length / 0x400))
  })

  it("refuses inflated output beyond the announced write size (0x0b)", async () => {
    const { client } = await connect({ chip: "esp32" })
    await client.command(0x0d, u32le(0, 0))
    const compressed = deflateSync(new Uint8Array(8192).fill(7))
    await client.command(0x10, u32le(0x1000, 1, 0x400, 0x10000))
    const { payload, checksum } = dataBlock(0, compressed)
    expect(statusOf(await client.command(0x11, payload, checksum))).toEqual({ status: 1, error: 0x0b })
  })

  it("rejects garbage that is not a zlib stream (0x0b)", async () => {
    const { client } = await connect({ chip: "esp32" })
    await client.command(0x0d, u32le(0, 0))
    await client.command(0x10, u32le(0x1000, 1, 0x400, 0x10000))
    const { payload, checksum } = dataBlock(0, new Uint8Array(64).fill(0xab))
    expect(statusOf(await client.command(0x11, payload, checksum))).toEqual({ status: 1, error: 0x0b })
  })

  it("READ_FLASH_SLOW returns flash bytes before the status", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    await client.command(0x0d, u32le(0, 0))
    board.emulator.flash.set([1, 2, 3, 4, 5], 0x5000)
    const r = await client.command(0x0e, u32le(0x5000, 5))
    expect(Array.from(r.data.subarray(0, 5))).toEqual([1, 2, 3, 4, 5])
    expect(r.data[5]).toBe(0)
  })

  it("ESP8266 ROM erase quirk: esptool's get_erase_size workaround erases exactly the region, the raw size over-erases", async () => {
    const { board, client } = await connect({ chip: "esp8266" })
    const sectors = 3
    // esptool esp8266.py get_erase_size for 3 sectors at 0x0: head=3, 3 < 6 → (3+1)//2 sectors
    const workaround = Math.floor((sectors + 1) / 2) * 0x1000
    board.emulator.flash.fill(0x00, 0, 0x10000)
    expect(statusOf(await client.command(0x02, u32le(workaround, 0, 0x400, 0)))).toEqual({ status: 0, error: 0 })
    expect(board.emulator.readFlash(0x2fff, 1)[0]).toBe(0xff)
    expect(board.emulator.readFlash(0x4000, 1)[0]).toBe(0x00)
    board.emulator.flash.fill(0x00, 0, 0x10000)
    await client.command(0x02, u32le(sectors * 0x1000, 0, 0x400, 0))
    expect(board.emulator.readFlash(0x5fff, 1)[0]).toBe(0xff) // 3 + 3 sectors gone
  })

  it("FLASH_END(1) from the ROM leaves the loader and runs the user code", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    const r = await client.command(0x04, u32le(1))
    expect(statusOf(r)).toEqual({ status: 0, error: 0 })
    await client.waitForText("invalid header: 0xffffffff")
    expect(client.received).not.toContain("rst:0x")
    expect(board.emulator.state).toBe("halted")
  })
})

describe("ESP ROM emulator: stub upload and stub protocol", () => {
  const memUpload = async (client: RawClient, bytes: Uint8Array, address: number) => {
    const blockSize = 0x1800
    const blocks = Math.ceil(bytes.length / blockSize)
    expect(statusOf(await client.command(0x05, u32le(bytes.length, blocks, blockSize, address)))).toEqual({ status: 0, error: 0 })
    for (let seq = 0; seq < blocks; seq++) {
      const { payload, checksum } = dataBlock(seq, bytes.subarray(seq * blockSize, (seq + 1) * blockSize))
      expect((await client.command(0x07, payload, checksum)).data[0]).toBe(0)
    }
  }

  /** Espressif's stub as esptool-js ships it, uploaded the way esptool does (text, data, MEM_END to the entry). */
  const uploadStub = async (client: RawClient, chip: "ESP32" | "ESP8266" = "ESP32") => {
    const stub = Either.getOrThrow(readStubImage(chip))
    await memUpload(client, stub.text, stub.textStart)
    await memUpload(client, stub.data, stub.dataStart)
    await client.command(0x06, u32le(0, stub.entry))
    const ohai = await client.nextPacket(1000)
    expect(Buffer.from(ohai!).toString("latin1")).toBe("OHAI")
  }

  it("runs the stub after MEM_END into Espressif's uploaded stub: OHAI, 2 status bytes, SYNC answered 8 times with 0", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    await uploadStub(client)
    expect(board.emulator.state).toBe("stub")
    const replies = await client.sync()
    expect(replies).toHaveLength(8)
    for (const r of replies) {
      expect(r.value).toBe(0)
      expect(Array.from(r.data)).toEqual([0, 0])
    }
    expect((await client.command(0x0a, u32le(0x40001000))).data).toHaveLength(2)
  })

  it("code that is not the flasher stub does not run: MEM_END into unknown code halts the chip", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    await memUpload(client, fillerBytes(0x2000, 1, 9), 0x40080000)
    await client.command(0x06, u32le(0, 0x40080400))
    await client.waitForText("Guru Meditation Error")
    expect(board.emulator.state).toBe("halted")
  })

  it("stub soft reset (FLASH_BEGIN(0,0) + FLASH_END(0), esptool --after no_reset) with IO0 held comes back to the ROM", async () => {
    const { board, client } = await connect({ chip: "esp8266" })
    await uploadStub(client, "ESP8266")
    expect(statusOf(await client.command(0x02, u32le(0, 0, 0x4000, 0)))).toEqual({ status: 0, error: 0 })
    expect(statusOf(await client.command(0x04, u32le(0)))).toEqual({ status: 0, error: 0 })
    await client.waitForText("ets Jan  8 2013")
    expect(board.emulator.state).toBe("bootloader")
    const replies = await client.sync()
    expect(replies[0]!.value).toBe(0x20120707)
  })

  it("stub: FLASH_DEFL_END is accepted after FLASH_BEGIN(0,0) (only an open session is checked), not without a session", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    await uploadStub(client)
    expect(statusOf(await client.command(0x12, u32le(1)))).toEqual({ status: 1, error: 0xc6 })
    expect(statusOf(await client.command(0x02, u32le(0, 0, 0x4000, 0)))).toEqual({ status: 0, error: 0 })
    expect(statusOf(await client.command(0x12, u32le(1)))).toEqual({ status: 0, error: 0 })
    expect(board.emulator.state).toBe("stub")
  })

  it("stub: 16 KiB deflate blocks with exact write_size, raw 16-byte MD5, ERASE_REGION, READ_FLASH streaming", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    await uploadStub(client)
    const image = fillerBytes(100_000, 0.5, 21)
    const compressed = deflateSync(image, { level: 9 })
    const blocks = Math.ceil(compressed.length / 0x4000)
    expect(statusOf(await client.command(0x10, u32le(image.length, blocks, 0x4000, 0x20000)))).toEqual({ status: 0, error: 0 })
    for (let seq = 0; seq < blocks; seq++) {
      const { payload, checksum } = dataBlock(seq, compressed.subarray(seq * 0x4000, (seq + 1) * 0x4000))
      expect((await client.command(0x11, payload, checksum)).data[0]).toBe(0)
    }
    expect((await client.command(0x12, u32le(1))).data[0]).toBe(0)
    expect(board.emulator.state).toBe("stub")
    const digest = await client.command(0x13, u32le(0x20000, image.length, 0, 0))
    expect(digest.data).toHaveLength(18)
    expect(Buffer.from(digest.data.subarray(0, 16)).toString("hex")).toBe(md5(image))

    expect((await client.command(0xd1, u32le(0x20000, 0x1000))).data[0]).toBe(0)
    expect(Array.from(board.emulator.readFlash(0x20000, 4))).toEqual([0xff, 0xff, 0xff, 0xff])
    expect(statusOf(await client.command(0xd1, u32le(0x20001, 0x1000)))).toEqual({ status: 1, error: 0xc0 })

    const length = 0x2800
    expect((await client.command(0xd2, u32le(0x30000, length, 0x1000, 1))).data[0]).toBe(0)
    let received: Uint8Array = new Uint8Array(0)
    while (received.length < length) {
      const packet = await client.nextPacket(1000)
      expect(packet).toBeDefined()
      received = concat(received, packet!)
      const ack = new Uint8Array(u32le(received.length))
      await client.sendRaw(Buffer.from([0xc0, ...ack, 0xc0]))
    }
    expect(Buffer.from(received).equals(Buffer.from(board.emulator.readFlash(0x30000, length)))).toBe(true)
    const finalDigest = await client.nextPacket(1000)
    expect(Buffer.from(finalDigest!).toString("hex")).toBe(md5(board.emulator.readFlash(0x30000, length)))
  })

  it("stub answers an unknown command once with 0xFF", async () => {
    const { client } = await connect({ chip: "esp32" })
    await uploadStub(client)
    await client.send(0x14)
    const replies = (await client.drain(100)).filter((p) => p[1] === 0x14)
    expect(replies).toHaveLength(1)
    expect(Array.from(replies[0]!.subarray(8))).toEqual([1, 0xff])
  })

  it("MEM_END into an address nothing was uploaded to crashes the chip", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    await client.command(0x06, u32le(0, 0x40090000))
    await client.waitForText("Guru Meditation Error")
    expect(board.emulator.state).toBe("halted")
  })
})
