import { afterEach, describe, expect, it } from "vitest"
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { encodeIntelHex } from "../../src/flash/formats/intelHex.js"
import { type AvrBoard, startAvrBoard } from "../../sim/avr/emulator.js"

/**
 * The optiboot emulator against the real client: Debian's avrdude with the
 * `arduino` programmer. avrdude tries to pulse DTR/RTS; on a pty the ioctl fails,
 * it prints "ioctl(TIOCMGET): Inappropriate ioctl for device" and carries on.
 */
const avrdude = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number; output: string }>((resolve) => {
    execFile("avrdude", [...args], { timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, output: stdout + stderr })
    )
  })

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})
const start = async (options: Parameters<typeof startAvrBoard>[0]): Promise<AvrBoard> => {
  const board = await startAvrBoard(options)
  cleanups.push(() => board.stop())
  return board
}
const hexFile = (content: string) => {
  const dir = mkdtempSync(join(tmpdir(), "fp-avrdude-"))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, "fw.hex")
  writeFileSync(file, content)
  return file
}
const firmware = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7 + 1) & 0xff)
firmware.set(Buffer.from("FWVER=9.9.9;"), 100)

describe("avrdude -c arduino against the optiboot emulator", () => {
  it("writes and verifies a HEX with a gap; the board then boots the app", async () => {
    const board = await start({ pace: false })
    const tail = Uint8Array.from({ length: 200 }, (_, i) => 255 - i)
    const file = hexFile(
      encodeIntelHex([
        { address: 0, data: firmware },
        { address: 0x2000, data: tail }
      ])
    )
    const result = await avrdude(["-c", "arduino", "-p", "m328p", "-P", board.hostPath, "-b", "115200", "-U", `flash:w:${file}:i`])
    expect(result.output).toContain("bytes of flash verified")
    expect(result.code).toBe(0)
    expect(Buffer.from(board.emulator.flash.subarray(0, 3000)).equals(Buffer.from(firmware))).toBe(true)
    expect(Buffer.from(board.emulator.flash.subarray(0x2000, 0x2000 + 200)).equals(Buffer.from(tail))).toBe(true)
    expect(board.emulator.stats.commands["READ_SIGN"]).toBe(1)
    await board.emulator.waitFor("factory-test ready", 3000)
    expect(board.emulator.console()).toContain("version 9.9.9")
  })

  it("avrdude's verify catches the emulator's corrupted page", async () => {
    const board = await start({ pace: false, faults: ["verify_error:5"] })
    const result = await avrdude([
      "-c",
      "arduino",
      "-p",
      "m328p",
      "-P",
      board.hostPath,
      "-b",
      "115200",
      "-U",
      `flash:w:${hexFile(encodeIntelHex([{ address: 0, data: firmware }]))}:i`
    ])
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/verification error|mismatch/i)
  })

  it("avrdude refuses a board with another signature", async () => {
    const board = await start({ pace: false, faults: ["signature:1e9406"] })
    const result = await avrdude([
      "-c",
      "arduino",
      "-p",
      "m328p",
      "-P",
      board.hostPath,
      "-b",
      "115200",
      "-U",
      `flash:w:${hexFile(encodeIntelHex([{ address: 0, data: firmware }]))}:i`
    ])
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/signature/i)
    expect(result.output.toLowerCase()).toContain("1e9406")
    expect(board.emulator.stats.pagesWritten).toBe(0)
  })
}, 40_000)
