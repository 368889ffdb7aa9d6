import { deflateSync } from "node:zlib"
import { describe, expect, it } from "vitest"
import {
  findAppPartition,
  makeAppImage,
  makeEsp32FlashSet,
  makeEsp8266FlashSet,
  makePartitionTable,
  readAppInfo
} from "../../sim/esp/index.js"
import { rawBoards, RawClient, u32le, writeDeflated, writePlain } from "./espRawClient.js"

const connect = rawBoards()

const ask = async (client: RawClient, command: string, expected: string) => {
  await client.sendRaw(Buffer.from(`${command}\r\n`))
  await client.waitForText(expected)
}

describe("ESP images (sim/esp/image.ts)", () => {
  it("app images carry their version: esp_app_desc_t on ESP32, the FWVER marker on ESP8266", () => {
    const esp32 = makeAppImage({ chip: "esp32", version: "2.4.1", projectName: "thermo", size: 4096 })
    expect(esp32[0]).toBe(0xe9)
    expect(esp32.length % 16).toBe(0)
    expect(readAppInfo(esp32, 0)).toEqual({ version: "2.4.1", projectName: "thermo" })
    const esp8266 = makeAppImage({ chip: "esp8266", version: "0.9.0", size: 4096 })
    expect(readAppInfo(esp8266, 0)).toEqual({ version: "0.9.0", projectName: "factory-app" })
  })

  it("the image checksum byte is the XOR of all segment data seeded with 0xEF", () => {
    const image = makeAppImage({ chip: "esp8266", version: "1", size: 2048 })
    const view = new DataView(image.buffer)
    let at = 8
    let checksum = 0xef
    for (let s = 0; s < image[1]!; s++) {
      const length = view.getUint32(at + 4, true)
      for (const b of image.subarray(at + 8, at + 8 + length)) checksum ^= b
      at += 8 + length
    }
    expect(image[image.length - 1]).toBe(checksum)
  })

  it("finds the factory app in a partition table", () => {
    const flash = new Uint8Array(0x10000).fill(0xff)
    flash.set(makePartitionTable([{ label: "ota_0", type: "app", subtype: 0x10, offset: 0x20000, size: 0x10000 }]), 0x8000)
    expect(findAppPartition(flash)).toBe(0x20000)
    expect(findAppPartition(new Uint8Array(0x10000).fill(0xff))).toBeUndefined()
  })
})

describe("ESP emulator boot and factory self-test console", () => {
  it("ESP32: flashed over the ROM protocol with IO0 released, FLASH_END(reboot) boots and prints the app version, then answers tests", async () => {
    const { board, client } = await connect({
      chip: "esp32",
      mac: "24:0a:c4:aa:bb:cc",
      tests: { sensor: false, gpio: true },
      bootStrap: "released"
    })
    await client.sync()
    await client.command(0x0d, u32le(0, 0))
    for (const region of makeEsp32FlashSet({ version: "3.1.4", projectName: "relay-fw", appSize: 30_000 })) {
      await writeDeflated(client, region.offset, deflateSync(region.data, { level: 9 }), region.data.length)
    }
    await client.command(0x04, u32le(0))
    await client.waitForText("factory-test ready")
    expect(client.received).toContain("rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)")
    expect(client.received).toContain("I (29) boot: ESP-IDF v5.3.1 2nd stage bootloader")
    expect(client.received).toContain("App version:      3.1.4")
    expect(client.received).toContain("Project name:     relay-fw")
    expect(board.emulator.state).toBe("app")
    await ask(client, "info", "OK chip=ESP32 mac=24:0a:c4:aa:bb:cc fw=3.1.4 flash=4MB")
    await ask(client, "wifi", "OK wifi")
    await ask(client, "mem", "OK mem")
    await ask(client, "sensor", "FAIL sensor")
    await ask(client, "gpio", "OK gpio")
    await ask(client, "selfdestruct", "ERR unknown command: selfdestruct")
    expect(board.emulator.stats.appLines).toBe(6)
  })

  it("ESP32 without a bootloader: ROM prints invalid header and the chip stays halted", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    board.emulator.flash.set(makeAppImage({ chip: "esp32", version: "1", size: 4096 }), 0x10000)
    await board.emulator.reset("app")
    await client.waitForText("invalid header: 0xffffffff")
    expect(board.emulator.state).toBe("halted")
    await client.sendRaw(Buffer.from("info\r\n"))
    await new Promise((r) => setTimeout(r, 100))
    expect(client.received).not.toContain("OK")
  })

  it("ESP32 with a bootloader but no app: the 2nd stage finds no bootable partition", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    const [bootloader, table] = makeEsp32FlashSet({ version: "1" })
    board.emulator.flash.set(bootloader!.data, bootloader!.offset)
    board.emulator.flash.set(table!.data, table!.offset)
    await board.emulator.reset("app")
    await client.waitForText("No bootable app partitions in the partition table")
    expect(board.emulator.state).toBe("halted")
  })

  it("ESP8266: app at 0x0 over the plain ROM path; reset(app) boots it; reboot reprints the banner", async () => {
    const { board, client } = await connect({ chip: "esp8266", appBaud: 74880 })
    await client.sync()
    const [app] = makeEsp8266FlashSet({ version: "0.7.2", appSize: 9000 })
    await writePlain(client, 0, app!.data)
    await board.emulator.reset("app")
    await client.waitForText("factory-test ready")
    expect(client.received).toContain("ets Jan  8 2013,rst cause:1, boot mode:(3,6)")
    expect(client.received).toContain("version 0.7.2")
    expect(board.emulator.baud).toBe(74880)
    await ask(client, "info", "OK chip=ESP8266 mac=18:fe:34:00:00:01 fw=0.7.2 flash=1MB")
    client.clearText()
    await ask(client, "reboot", "factory-test ready")
    expect(board.emulator.stats.boots).toBe(2)
  })

  it("ESP8266 with empty flash prints ets_main.c", async () => {
    const { board, client } = await connect({ chip: "esp8266" })
    await board.emulator.reset("app")
    await client.waitForText("ets_main.c")
    expect(board.emulator.state).toBe("halted")
  })

  it("with IO0 held (download mode), FLASH_END(reboot) comes back to the ROM; FLASH_END(run user code) starts the app", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    expect(board.emulator.bootStrapHeld).toBe(true)
    await client.sync()
    await client.command(0x0d, u32le(0, 0))
    for (const region of makeEsp32FlashSet({ version: "6.0.0", appSize: 20_000 })) {
      await writeDeflated(client, region.offset, deflateSync(region.data, { level: 9 }), region.data.length)
    }
    await client.command(0x04, u32le(0))
    await client.waitForText("waiting for download")
    expect(client.received).toContain("rst:0xc (SW_CPU_RESET),boot:0x3 (DOWNLOAD_BOOT")
    expect(client.received).not.toContain("factory-test ready")
    expect(board.emulator.state).toBe("bootloader")
    // Back in the ROM: a new SYNC, an empty flash session, then "run user code".
    expect(await client.sync()).toHaveLength(8)
    await client.command(0x0d, u32le(0, 0))
    await client.command(0x02, u32le(0, 0, 0x400, 0))
    await client.command(0x04, u32le(1))
    await client.waitForText("App version:      6.0.0")
    expect(board.emulator.state).toBe("app")
    // The app's own reboot is a reset too: with IO0 still held it lands in the ROM again.
    client.clearText()
    await client.sendRaw(Buffer.from("reboot\r\n"))
    await client.waitForText("waiting for download")
    expect(board.emulator.state).toBe("bootloader")
  })

  it("reset(bootloader) prints the download-mode banner esptool looks for and accepts SYNC again", async () => {
    const { board, client } = await connect({ chip: "esp32", startIn: "app" })
    expect(board.emulator.state).toBe("halted")
    await board.emulator.reset("bootloader")
    await client.waitForText("waiting for download")
    expect(client.received).toMatch(/boot:(0x[0-9a-fA-F]+)([\s\S]*?waiting for download)/)
    expect(await client.sync()).toHaveLength(8)
  })
})
