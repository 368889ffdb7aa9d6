import { createHash } from "node:crypto"
import { deflateSync } from "node:zlib"
import { describe, expect, it } from "vitest"
import { fillerBytes, parseEspFault } from "../../sim/esp/index.js"
import { dataBlock, rawBoards, romMd5, statusOf, u32le, writeDeflated } from "./espRawClient.js"

const connect = rawBoards()

const md5 = (data: Uint8Array) => createHash("md5").update(data).digest("hex")

describe("ESP emulator faults", () => {
  it("parses the string forms and rejects bad ones with the fix in the message", () => {
    expect(parseEspFault("corrupt_block:3")).toEqual({ kind: "corrupt_block", block: 3 })
    expect(parseEspFault("slow_erase:2000")).toEqual({ kind: "slow_erase", msPerMiB: 2000 })
    expect(parseEspFault("selftest_fail:wifi")).toEqual({ kind: "selftest_fail", command: "wifi" })
    expect(parseEspFault("vanish_after_bytes:100")).toEqual({ kind: "vanish_after_bytes", bytes: 100 })
    expect(parseEspFault("drop_frame:0")).toEqual({ kind: "drop_frame", block: 0 })
    expect(parseEspFault("no_sync")).toEqual({ kind: "no_sync" })
    expect(() => parseEspFault("corrupt_block:x")).toThrow(/non-negative integer/)
    expect(() => parseEspFault("melt")).toThrow(/use no_sync, corrupt_block/)
  })

  it("no_sync: SYNC is never answered", async () => {
    const { client } = await connect({ chip: "esp32", faults: ["no_sync"] })
    for (let i = 0; i < 3; i++) expect(await client.sync()).toHaveLength(0)
  })

  it("corrupt_block: one bit flipped in that block → MD5 mismatch; rewriting the region succeeds", async () => {
    const { board, client } = await connect({ chip: "esp32", faults: ["corrupt_block:2"] })
    await client.sync()
    await client.command(0x0d, u32le(0, 0))
    const image = fillerBytes(40_000, 0.5, 2)
    const compressed = deflateSync(image, { level: 9 })
    await writeDeflated(client, 0x10000, compressed, image.length)
    expect(await romMd5(client, 0x10000, image.length)).not.toBe(md5(image))
    expect(board.emulator.stats.corruptedBlocks).toBe(1)
    const flash = board.emulator.readFlash(0x10000, image.length)
    const differing = image.reduce((n, b, i) => n + (b !== flash[i] ? 1 : 0), 0)
    expect(differing).toBe(1)
    await writeDeflated(client, 0x10000, compressed, image.length)
    expect(await romMd5(client, 0x10000, image.length)).toBe(md5(image))
  })

  it("slow_erase: FLASH_BEGIN answers only after the erase time", async () => {
    const { client } = await connect({ chip: "esp32", faults: ["slow_erase:1500"] })
    await client.sync()
    await client.command(0x0d, u32le(0, 0))
    await client.send(0x02, u32le(1024 * 1024, 1024, 0x400, 0x100000))
    expect(await client.response(0x02, 400)).toBeUndefined()
    const r = await client.response(0x02, 5000)
    expect(r && statusOf(r)).toEqual({ status: 0, error: 0 })
  })

  it("drop_frame: the ACK of block n is lost; resending the same seq is acknowledged without writing twice", async () => {
    const { board, client } = await connect({ chip: "esp32", faults: ["drop_frame:1"] })
    await client.sync()
    await client.command(0x0d, u32le(0, 0))
    const image = fillerBytes(30_000, 0.5, 4)
    const compressed = deflateSync(image, { level: 9 })
    const blocks = Math.ceil(compressed.length / 0x400)
    await client.command(0x10, u32le(Math.ceil(image.length / 0x400) * 0x400, blocks, 0x400, 0x10000))
    let retries = 0
    for (let seq = 0; seq < blocks; seq++) {
      const { payload, checksum } = dataBlock(seq, compressed.subarray(seq * 0x400, (seq + 1) * 0x400))
      for (let attempt = 0; ; attempt++) {
        expect(attempt).toBeLessThan(3)
        await client.send(0x11, payload, checksum)
        const r = await client.response(0x11, 300)
        if (r) {
          expect(statusOf(r)).toEqual({ status: 0, error: 0 })
          break
        }
        retries++
      }
    }
    expect(retries).toBe(1)
    expect(board.emulator.stats.droppedResponses).toBe(1)
    expect(board.emulator.stats.duplicates).toBe(1)
    expect(await romMd5(client, 0x10000, image.length)).toBe(md5(image))
  })

  it("vanish_after_bytes: the port disappears mid-flash", async () => {
    const { board, client } = await connect({ chip: "esp32", faults: ["vanish_after_bytes:5000"] })
    await client.sync()
    await client.command(0x0d, u32le(0, 0))
    await client.command(0x02, u32le(0x4000, 16, 0x400, 0x10000))
    let failedAt: number | undefined
    for (let seq = 0; seq < 16 && failedAt === undefined; seq++) {
      const { payload, checksum } = dataBlock(seq, new Uint8Array(0x400).fill(seq))
      await client.send(0x03, payload, checksum).catch(() => undefined)
      if (!(await client.response(0x03, 500))) failedAt = seq
    }
    expect(failedAt).toBeDefined()
    expect(failedAt!).toBeLessThan(6)
    expect(board.emulator.state).toBe("vanished")
    const deadline = Date.now() + 3000
    while (!client.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(client.closed).toBe(true)
  })

  it("selftest_fail: that command answers FAIL, the others OK", async () => {
    const { board, client } = await connect({ chip: "esp8266", faults: ["selftest_fail:sensor"] })
    board.emulator.flash.set(new Uint8Array([0xe9, 1, 2, 0x20]), 0)
    await board.emulator.reset("app")
    await client.waitForText("factory-test ready")
    await client.sendRaw(Buffer.from("sensor\r\nwifi\r\n"))
    await client.waitForText("OK wifi")
    expect(client.received).toContain("FAIL sensor")
  })
})
