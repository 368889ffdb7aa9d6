/**
 * Conformance: the ESP emulator answers the exchanges Espressif's Python esptool
 * v4.8.1 makes (replayed by test/sim/esptoolReplay.ts, written from esptool's
 * source), for chip_id, read_mac, flash_id, write_flash (compressed and not, stub
 * and --no-stub), verify_flash, read_flash, erase_region, a 921600 baud change
 * (ESP32 ROM with the crystal compensation; via the stub) and a second run that
 * re-attaches after `--after no_reset` / `--after no_reset_stub`. Each `run`
 * below is one esptool invocation: a fresh session object on the same port, as a
 * new process would have.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { type EspBoard, fillerBytes } from "../../sim/esp/index.js"
import { readStubImage, type StubImage } from "../../src/flash/esp/stubImages.js"
import { rawBoards } from "./espRawClient.js"
import { EsptoolOp, EsptoolSession, md5Hex, runPrelude, verifyFlash, writeFlash } from "./esptoolReplay.js"

const connect = rawBoards()

const stubFor = (chip: "ESP32" | "ESP8266"): StubImage => {
  const image = readStubImage(chip)
  if (Either.isLeft(image)) throw new Error(image.left)
  return image.right
}

/** Half random, half zeros: compresses to about half, like the bench image. */
const firmware = (size: number, seed: number): Uint8Array => {
  return fillerBytes(size, 0.5, seed)
}

/** What `--after no_reset` leaves behind (main(): "Staying in bootloader."). */
const afterNoReset = (esp: EsptoolSession) => esp.softResetStayInBootloader()

/** The stub's reboot with IO0 held came back to the ROM's download mode, not to the app. */
const expectBackInRom = async (board: EspBoard) => {
  const deadline = Date.now() + 5000
  while (board.emulator.state !== "bootloader" && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(board.emulator.state).toBe("bootloader")
  expect(board.emulator.stats.boots).toBe(0)
  if (board.emulator.chip === "esp32") expect(board.emulator.console()).toContain("rst:0xc (SW_CPU_RESET),boot:0x3 (DOWNLOAD_BOOT")
}

/** esptool's ROM-side figure: cali × 15625 × CK8M / 40 (esp32.py get_rom_cal_crystal_freq), from the emulator's registers. */
const ESP32_ROM_XTAL = (2028 * 15625 * 51) / 40

describe("esptool v4.8.1 exchanges against the ESP32 emulator", () => {
  it("chip_id / read_mac / flash_id: GET_SECURITY_INFO is unsupported, esptool re-syncs, reads the magic and goes on; --after no_reset leaves the ROM", async () => {
    const { board, client } = await connect({ chip: "esp32", mac: "24:0a:c4:12:34:56" })
    const esp = new EsptoolSession(client)
    const prelude = await runPrelude(esp, stubFor("ESP32"), {})
    // detect_chip: the ROM's unsupported reply raised UnsupportedCommandError (not a FatalError,
    // not a success read as a chip id), then connect() again: SYNC, SYNC, READ_REG(magic).
    expect(prelude.detection.fallback).toBe("unsupported")
    expect(esp.trace.slice(0, 4)).toEqual([EsptoolOp.SYNC, EsptoolOp.GET_SECURITY_INFO, EsptoolOp.SYNC, EsptoolOp.READ_REG])
    expect(esp.target?.name).toBe("ESP32")
    expect(esp.secureDownloadMode).toBe(false)
    expect(prelude.crystalMHz).toBe(40)
    // chip_id on ESP32: NotSupportedError → read_mac.
    expect(prelude.mac).toBe("24:0a:c4:12:34:56")
    expect(prelude.stub).toBe("uploaded")
    expect(board.emulator.state).toBe("stub")
    // flash_id: manufacturer 0xEF, device 0x4016 → 4 MB (cmds.py detect_flash_id, DETECTED_FLASH_SIZES).
    expect(prelude.flashId & 0xff).toBe(0xef)
    expect((prelude.flashId >> 8) & 0xff).toBe(0x40)
    expect((prelude.flashId >> 16) & 0xff).toBe(0x16)
    await afterNoReset(esp)
    await expectBackInRom(board)
  })

  it("write_flash (stub, compressed) + verify_flash; the next run re-attaches to the stub left running (--after no_reset_stub) and reads, erases and verifies", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    const image = firmware(120_000, 7)
    const run1 = new EsptoolSession(client)
    await runPrelude(run1, stubFor("ESP32"), { flashSizeArg: true })
    const written = await writeFlash(run1, 0x10000, image, { compress: true, noStub: false })
    expect(written.md5).toBe(md5Hex(image))
    expect(md5Hex(board.emulator.readFlash(0x10000, image.length))).toBe(md5Hex(image))
    // --after no_reset_stub: nothing sent; the stub keeps running.
    expect(board.emulator.state).toBe("stub")

    const run2 = new EsptoolSession(client)
    const prelude = await runPrelude(run2, stubFor("ESP32"), { flashSizeArg: true })
    // sync(): all 8 replies carry value 0 → sync_stub_detected; the stub answers
    // GET_SECURITY_INFO with a status error (FatalError), detect_chip reconnects and
    // reads the magic; run_stub: "Stub is already running. No upload is necessary."
    expect(run2.syncStubDetected).toBe(true)
    expect(prelude.detection.fallback).toBe("fatal")
    expect(prelude.stub).toBe("already running")
    expect(run2.trace).not.toContain(EsptoolOp.MEM_BEGIN)
    expect(await verifyFlash(run2, 0x10000, image)).toBe(true)
    // read_flash through the stub: data packets, running-total acks, MD5 digest frame.
    expect(md5Hex(await run2.readFlash(0x10000, 0x3000))).toBe(md5Hex(image.subarray(0, 0x3000)))
    // erase_region, then read back 0xFF.
    await run2.eraseRegion(0x10000, 0x2000)
    expect(Array.from(new Set(await run2.readFlash(0x10000, 0x2000)))).toEqual([0xff])
    expect(await verifyFlash(run2, 0x10000, image)).toBe(false)
    await afterNoReset(run2)
    await expectBackInRom(board)
  })

  it("--no-stub -b 921600: the ROM baud change carries esptool's crystal-compensated rate and the line runs at 921600; plain write, ROM MD5, READ_FLASH_SLOW", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    const image = firmware(30_001, 11)
    const esp = new EsptoolSession(client)
    const prelude = await runPrelude(esp, stubFor("ESP32"), { noStub: true, baud: 921600, flashSizeArg: true })
    expect(prelude.stub).toBe("none")
    expect(prelude.baudArg).toBe(Math.floor((921600 * ESP32_ROM_XTAL) / 40_000_000))
    expect(prelude.baudArg).not.toBe(921600)
    expect(board.emulator.baud).toBe(921600)
    // write_flash with --no-stub defaults to uncompressed (args.compress = not args.no_stub).
    const written = await writeFlash(esp, 0x10000, image, { compress: false, noStub: true })
    expect(written.blocks).toBe(Math.ceil(30_004 / 0x400))
    const padded = new Uint8Array(30_004).fill(0xff)
    padded.set(image)
    expect(written.md5).toBe(md5Hex(padded))
    expect(await esp.readFlash(0x10000 + 100, 200)).toEqual(image.subarray(100, 300))
    expect(board.emulator.state).toBe("bootloader")
  })

  it("--no-stub --compress: the ESP32 ROM takes FLASH_DEFL_* with write_size rounded up to 1 KiB; nothing is sent at the end (flash_defl_finish skips the ROM)", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    const image = firmware(50_000, 13)
    const esp = new EsptoolSession(client)
    await runPrelude(esp, stubFor("ESP32"), { noStub: true, flashSizeArg: true })
    const written = await writeFlash(esp, 0x10000, image, { compress: true, noStub: true })
    expect(written.md5).toBe(md5Hex(image))
    expect(esp.trace).not.toContain(EsptoolOp.FLASH_DEFL_END)
    expect(board.emulator.state).toBe("bootloader")
  })

  it("stub -b 921600, write_flash -u: CHANGE_BAUDRATE(new, old) to the stub, 16 KiB plain blocks, MD5; a second run after --after no_reset syncs the ROM again and uploads the stub anew", async () => {
    const { board, client } = await connect({ chip: "esp32" })
    const image = firmware(70_000, 17)
    const run1 = new EsptoolSession(client)
    const prelude = await runPrelude(run1, stubFor("ESP32"), { baud: 921600, flashSizeArg: true })
    expect(prelude.baudArg).toBe(921600)
    expect(board.emulator.baud).toBe(921600)
    const written = await writeFlash(run1, 0x10000, image, { compress: false, noStub: false })
    expect(written.blocks).toBe(Math.ceil(70_000 / 0x4000))
    expect(written.md5).toBe(md5Hex(image))
    await afterNoReset(run1)
    await expectBackInRom(board)
    expect(board.emulator.baud).toBe(115200)

    await client.setBaud(115200)
    const run2 = new EsptoolSession(client)
    const again = await runPrelude(run2, stubFor("ESP32"), { flashSizeArg: true })
    expect(run2.syncStubDetected).toBe(false)
    expect(again.detection.fallback).toBe("unsupported")
    expect(again.stub).toBe("uploaded")
    expect(await verifyFlash(run2, 0x10000, image)).toBe(true)
  })
})

describe("esptool v4.8.1 exchanges against the ESP8266 emulator", () => {
  it("chip_id / read_mac / flash_id: no GET_SECURITY_INFO on the ESP8266 ROM (2-byte unsupported reply) → re-SYNC and magic register, not Secure Download Mode", async () => {
    const { board, client } = await connect({ chip: "esp8266", mac: "18:fe:34:ab:cd:ef" })
    const esp = new EsptoolSession(client)
    const prelude = await runPrelude(esp, stubFor("ESP8266"), { noStub: true })
    expect(prelude.detection.fallback).toBe("unsupported")
    expect(esp.target?.name).toBe("ESP8266")
    expect(esp.secureDownloadMode).toBe(false)
    expect(prelude.crystalMHz).toBe(26)
    expect(prelude.mac).toBe("18:fe:34:ab:cd:ef")
    // esp8266.py chip_id(): the low three MAC bytes, as the SDK's system_get_chip_id().
    expect(await esp.chipId8266()).toBe(0xabcdef)
    expect((prelude.flashId >> 16) & 0xff).toBe(0x14)
    expect(board.emulator.state).toBe("bootloader")
  })

  it("--no-stub -b 921600: the ROM has no baud change (warning, stays at 115200); plain write with the ROM erase-size workaround, no MD5 (not in the ROM)", async () => {
    const { board, client } = await connect({ chip: "esp8266" })
    const image = firmware(40_000, 19)
    const esp = new EsptoolSession(client)
    const prelude = await runPrelude(esp, stubFor("ESP8266"), { noStub: true, baud: 921600, flashSizeArg: true })
    expect(prelude.baudArg).toBeUndefined()
    expect(esp.trace).not.toContain(EsptoolOp.CHANGE_BAUDRATE)
    expect(board.emulator.baud).toBe(115200)
    const written = await writeFlash(esp, 0x0, image, { compress: false, noStub: true })
    expect(written.md5).toBe("not supported")
    expect(esp.trace).not.toContain(EsptoolOp.SPI_FLASH_MD5)
    expect(md5Hex(board.emulator.readFlash(0, image.length))).toBe(md5Hex(image))
  })

  it("stub: baud change, compressed write + MD5, re-attach after --after no_reset_stub, read_flash, erase_region, verify_flash, then --after no_reset back to the ROM", async () => {
    const { board, client } = await connect({ chip: "esp8266" })
    const image = firmware(90_000, 23)
    const run1 = new EsptoolSession(client)
    const prelude = await runPrelude(run1, stubFor("ESP8266"), { baud: 921600, flashSizeArg: true })
    expect(prelude.stub).toBe("uploaded")
    expect(prelude.baudArg).toBe(921600)
    expect(board.emulator.baud).toBe(921600)
    const written = await writeFlash(run1, 0x0, image, { compress: true, noStub: false })
    expect(written.md5).toBe(md5Hex(image))

    // Second run at 921600 (esptool syncs at min(115200, -b); the stub keeps its rate,
    // so a real user passes the rate the stub was left at: here the pty does not care).
    const run2 = new EsptoolSession(client)
    const again = await runPrelude(run2, stubFor("ESP8266"), { flashSizeArg: true })
    expect(run2.syncStubDetected).toBe(true)
    expect(again.detection.fallback).toBe("fatal")
    expect(again.stub).toBe("already running")
    expect(await verifyFlash(run2, 0x0, image)).toBe(true)
    expect(md5Hex(await run2.readFlash(0x1000, 0x2000))).toBe(md5Hex(image.subarray(0x1000, 0x3000)))
    await run2.eraseRegion(0x1000, 0x1000)
    expect(Array.from(new Set(board.emulator.readFlash(0x1000, 0x1000)))).toEqual([0xff])
    expect(await verifyFlash(run2, 0x0, image)).toBe(false)
    await afterNoReset(run2)
    await expectBackInRom(board)
  })
})
