/**
 * Pacing is the point here, so these run paced. Only lower bounds are asserted:
 * a paced line can never beat 10 bit times per byte, however busy the machine is.
 */
import { afterEach, describe, expect, it } from "vitest"
import { type EspBoard, startEspBoard } from "../../sim/esp/index.js"
import { dataBlock, RawClient, u32le } from "./espRawClient.js"

const open: Array<{ board: EspBoard; client: RawClient }> = []

afterEach(async () => {
  for (const { board, client } of open.splice(0)) {
    await client.close()
    await board.stop()
  }
})

const connect = async (baud: number) => {
  const board = await startEspBoard({ chip: "esp32", pace: true, baud })
  const client = await RawClient.open(board.hostPath)
  open.push({ board, client })
  await client.sync()
  await client.command(0x0d, u32le(0, 0))
  return { board, client }
}

const sendBlocks = async (client: RawClient, blocks: number) => {
  await client.command(0x02, u32le(blocks * 0x400, blocks, 0x400, 0x10000))
  const start = performance.now()
  for (let seq = 0; seq < blocks; seq++) {
    const { payload, checksum } = dataBlock(seq, new Uint8Array(0x400).fill(0x11))
    await client.command(0x03, payload, checksum, 5000)
  }
  return performance.now() - start
}

describe("ESP emulator pacing", () => {
  it("a 1 KiB block costs at least its bit time at 115200 baud in both directions", async () => {
    const { board, client } = await connect(115200)
    const inBefore = board.emulator.stats.bytesIn
    const outBefore = board.emulator.stats.bytesOut
    const elapsed = await sendBlocks(client, 8)
    const wireBytes = board.emulator.stats.bytesIn - inBefore + (board.emulator.stats.bytesOut - outBefore)
    expect(wireBytes).toBeGreaterThan(8 * 1024)
    expect(elapsed).toBeGreaterThanOrEqual(((wireBytes * 10) / 115200) * 1000 * 0.98)
  })

  it("CHANGE_BAUDRATE switches the pacing rate", async () => {
    const { board, client } = await connect(115200)
    // The ESP32 ROM divides the crystal it calibrated at boot: ask as esptool does
    // (esp32.py change_baud: new × rom_calculated_freq // 40 MHz, from RTCCALICFG1 and eFuse word 4).
    const readReg = async (address: number) => (await client.command(0x0a, u32le(address))).value >>> 0
    const romXtal = ((((await readReg(0x3ff5f06c)) >>> 7) & 0x01ffffff) * 15625 * ((await readReg(0x3ff5a010)) & 0xff)) / 40
    await client.command(0x0f, u32le(Math.floor((460800 * romXtal) / 40_000_000), 0))
    expect(board.emulator.baud).toBe(460800)
    const inBefore = board.emulator.stats.bytesIn
    const elapsed = await sendBlocks(client, 16)
    const bytes = board.emulator.stats.bytesIn - inBefore
    expect(elapsed).toBeGreaterThanOrEqual(((bytes * 10) / 460800) * 1000 * 0.98)
  })
})
