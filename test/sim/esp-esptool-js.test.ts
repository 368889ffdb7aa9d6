/**
 * Validation of the emulator with a client Espressif wrote: esptool-js 0.7 driven from
 * Node through the Web-Serial adapter. Paced, because esptool-js's timing assumptions
 * (e.g. the 8 repeated "unsupported" replies trickling in at 115200 baud) are part of
 * what is being validated.
 */
import { ESPLoader, Transport } from "esptool-js"
import { createHash } from "node:crypto"
import { afterEach, describe, expect, it } from "vitest"
import { type EspBoard, makeEsp32FlashSet, makeEsp8266FlashSet, startEspBoard } from "../../sim/esp/index.js"
import type { EspEmulatorOptions } from "../../sim/esp/types.js"
import { NodeWebSerialPort } from "../support/esptool-js-adapter.js"

interface Session {
  readonly board: EspBoard
  readonly port: NodeWebSerialPort
  readonly transport: Transport
  readonly loader: ESPLoader
  readonly log: Array<string>
}

const sessions: Array<Session> = []

const startSession = async (options: Omit<EspEmulatorOptions, "devicePath">, baudrate: number): Promise<Session> => {
  const board = await startEspBoard({ pace: true, ...options })
  const port = new NodeWebSerialPort(board.hostPath)
  const log: Array<string> = []
  const terminal = { clean: () => undefined, writeLine: (s: string) => void log.push(s), write: (s: string) => void log.push(s) }
  // Transport's constructor is typed against the DOM Web Serial `SerialPort`; the adapter implements the part esptool-js uses.
  const transport = new Transport(port as unknown as ConstructorParameters<typeof Transport>[0], false)
  const loader = new ESPLoader({ transport, baudrate, romBaudrate: 115200, terminal })
  const session = { board, port, transport, loader, log }
  sessions.push(session)
  return session
}

afterEach(async () => {
  for (const { board, transport } of sessions.splice(0)) {
    await transport.disconnect().catch(() => undefined)
    await board.stop()
  }
})

const md5 = (data: Uint8Array) => createHash("md5").update(data).digest("hex")
const padTo4 = (data: Uint8Array) => {
  const out = new Uint8Array(Math.ceil(data.length / 4) * 4).fill(0xff)
  out.set(data)
  return out
}

describe("esptool-js against the ESP emulator", () => {
  it("ESP32, default flow with the stub: detect, MAC, baud change, compressed write of 3 regions, MD5 verified", async () => {
    const { board, port, loader, log } = await startSession({ chip: "esp32", mac: "aa:bb:11:22:33:44" }, 921600)
    const description = await loader.main("default_reset")
    expect(description).toBe("ESP32-D0WD-V3 (revision 3)")
    expect(loader.chip.CHIP_NAME).toBe("ESP32")
    expect(await loader.chip.readMac(loader)).toBe("aa:bb:11:22:33:44")
    expect(log).toContain("Stub running...")
    expect(loader.IS_STUB).toBe(true)
    expect(board.emulator.state).toBe("stub")
    expect(board.emulator.baud).toBe(921600)
    // esptool-js tried its DTR/RTS reset; the adapter recorded it, the pty cannot apply it.
    expect(port.signals.length).toBeGreaterThan(0)
    expect(log.some((l) => l.startsWith("Flash ID: 1640ef"))).toBe(true)

    const regions = makeEsp32FlashSet({ version: "4.2.0", projectName: "esptool-js-check", appSize: 60_000 })
    await loader.writeFlash({
      fileArray: regions.map((r) => ({ data: r.data, address: r.offset })),
      flashMode: "keep",
      flashFreq: "keep",
      flashSize: "keep",
      eraseAll: false,
      compress: true,
      calculateMD5Hash: md5
    })
    expect(log.filter((l) => l === "Hash of data verified.")).toHaveLength(3)
    for (const region of regions) {
      const stored = board.emulator.readFlash(region.offset, region.data.length)
      expect(Buffer.from(stored).equals(Buffer.from(region.data))).toBe(true)
    }
    expect(board.emulator.stats.commands["FLASH_DEFL_BEGIN"]).toBe(3)

    // A pty cannot carry esptool-js's hard reset; the emulator's control call stands in for it.
    await loader.after("hard_reset")
    await board.emulator.reset("app")
    await board.emulator.waitFor("factory-test ready")
    expect(board.emulator.console()).toContain("App version:      4.2.0")
  })

  it("ESP32 ROM path (no stub): detect, MAC, SPI attach, ROM baud change, compressed and plain writes, ROM MD5", async () => {
    const { board, loader, log } = await startSession({ chip: "esp32", mac: "24:0a:c4:01:02:03" }, 921600)
    await loader.detectChip("no_reset")
    expect(loader.chip.CHIP_NAME).toBe("ESP32")
    expect(await loader.chip.readMac(loader)).toBe("24:0a:c4:01:02:03")
    expect(log).toContain(" Autodetection failed, trying again...") // GET_SECURITY_INFO unsupported → reconnect
    await loader.changeBaud()
    // esptool-js 0.7 sends the rate uncompensated; the ESP32 ROM divides the 40.40 MHz it computed
    // at boot, so the chip lands ~1 % below (esptool ≥ 4.5 compensates, see esp-rom.test.ts).
    expect(board.emulator.baud).toBe(Math.round((921600 * 40e6) / ((2028 * 15625 * 51) / 40)))
    await loader.flashSpiAttach(0)
    // esptool (Python) writes 0x400-byte blocks to the ROM; esptool-js would use its stub size.
    loader.FLASH_WRITE_SIZE = 0x400
    const regions = makeEsp32FlashSet({ version: "5.0.1", appSize: 40_000 })
    for (const [index, region] of regions.entries()) {
      await loader.writeFlash({
        fileArray: [{ data: region.data, address: region.offset }],
        flashMode: "keep",
        flashFreq: "keep",
        flashSize: "keep",
        eraseAll: false,
        compress: index !== 1 // the partition table goes uncompressed (FLASH_BEGIN/FLASH_DATA)
      })
      // The ROM answers SPI_FLASH_MD5 with 32 ASCII hex characters; esptool-js 0.7 hex-encodes
      // whatever bytes it gets, so its string is the hex of that ASCII text.
      const reported = await loader.flashMd5sum(region.offset, padTo4(region.data).length)
      expect(Buffer.from(reported, "hex").toString("latin1")).toBe(md5(padTo4(region.data)))
    }
    expect(loader.IS_STUB).toBe(false)
    expect(board.emulator.stats.commands["MEM_BEGIN"]).toBeUndefined()
    expect(board.emulator.stats.commands["FLASH_BEGIN"]).toBe(1)
    expect(board.emulator.stats.commands["FLASH_DEFL_BEGIN"]).toBe(2)
    // soft_reset = FLASH_BEGIN(0,0) + FLASH_END(run user code): the ROM jumps to the flash.
    await loader.after("soft_reset")
    await board.emulator.waitFor("factory-test ready")
    expect(board.emulator.console()).toContain("App version:      5.0.1")
    expect(board.emulator.console()).not.toContain("rst:0x")
  })

  it("ESP8266: detect and MAC from the ROM, then the stub writes and verifies an image", async () => {
    const { board, loader, log } = await startSession({ chip: "esp8266", mac: "18:fe:34:ab:cd:ef" }, 460800)
    const description = await loader.main("no_reset")
    expect(description).toBe("ESP8266EX")
    expect(log).toContain("MAC: 18:fe:34:ab:cd:ef")
    expect(log).toContain("Crystal is 26MHz")
    expect(log.some((l) => l.startsWith("Flash ID: 1440ef"))).toBe(true)
    const [app] = makeEsp8266FlashSet({ version: "2.0.0", appSize: 50_000 })
    await loader.writeFlash({
      fileArray: [{ data: app!.data, address: 0 }],
      flashMode: "keep",
      flashFreq: "keep",
      flashSize: "keep",
      eraseAll: false,
      compress: true,
      calculateMD5Hash: md5
    })
    expect(log).toContain("Hash of data verified.")
    expect(Buffer.from(board.emulator.readFlash(0, app!.data.length)).equals(Buffer.from(app!.data))).toBe(true)
  })

  it("a board that never syncs makes esptool-js give up with its connect error", async () => {
    const { loader } = await startSession({ chip: "esp32", faults: ["no_sync"] }, 115200)
    await expect(loader.detectChip("no_reset", 1)).rejects.toThrow(/Failed to connect with the device/)
  })
})
