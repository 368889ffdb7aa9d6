import { afterEach, describe, expect, it } from "vitest"
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Stm32Board, startStm32Board } from "../../sim/stm32/emulator.js"

/**
 * The AN3155 emulator against the real client: Debian's stm32flash 0.7.
 * stm32flash sets 8E1 and then reads the termios back to check it; the Linux pty
 * driver clears PARENB (a pty forces CS8, no parity), so stm32flash fails with
 * "Failed to set terminal flags" on a pty. `-m 8n1` asks for what a pty can hold;
 * everything else (init, GET, GET_VERSION, GET_ID, erase, write, read, GO) is unchanged.
 */
const stm32flash = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number; output: string }>((resolve) => {
    execFile("stm32flash", [...args], { timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, output: stdout + stderr })
    )
  })

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})
const start = async (options: Parameters<typeof startStm32Board>[0]): Promise<Stm32Board> => {
  const board = await startStm32Board(options)
  cleanups.push(() => board.stop())
  return board
}
const binFile = (data: Uint8Array) => {
  const dir = mkdtempSync(join(tmpdir(), "fp-stm32flash-"))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, "fw.bin")
  writeFileSync(file, data)
  return file
}
const firmware = Uint8Array.from({ length: 5000 }, (_, i) => (i * 13 + 7) & 0xff)
firmware.set(Buffer.from("FWVER=4.5.6;"), 200)

describe("stm32flash against the AN3155 emulator", () => {
  for (const erase of ["standard", "extended"] as const) {
    it(`writes, verifies and starts the app (${erase} erase)`, async () => {
      const board = await start({ pace: false, erase })
      board.emulator.flash.fill(0, 0, 2048) // stale content stm32flash has to erase
      const result = await stm32flash(["-b", "115200", "-m", "8n1", "-w", binFile(firmware), "-v", "-g", "0x0", board.hostPath])
      expect(result.output).toContain("Device ID    : 0x0410")
      expect(result.code).toBe(0)
      expect(Buffer.from(board.emulator.flash.subarray(0, 5000)).equals(Buffer.from(firmware))).toBe(true)
      expect(board.emulator.stats.commands[erase === "extended" ? "EXTENDED_ERASE" : "ERASE"]).toBe(1)
      await board.emulator.waitFor("factory-test ready", 3000)
      expect(board.emulator.console()).toContain("version 4.5.6")
    })
  }

  it("stm32flash's verify catches the corrupted block", async () => {
    const board = await start({ pace: false, faults: ["verify_error:3"] })
    const result = await stm32flash(["-b", "115200", "-m", "8n1", "-w", binFile(firmware), "-v", board.hostPath])
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/verif/i)
  })

  it("8E1 on a pty is refused by stm32flash (the reason -m 8n1 is needed)", async () => {
    const board = await start({ pace: false })
    const result = await stm32flash(["-b", "115200", "-w", binFile(firmware), board.hostPath])
    expect(result.code).not.toBe(0)
    expect(result.output).toContain("Failed to set terminal flags")
    expect(board.emulator.stats.bytesIn).toBe(0)
  })
}, 40_000)
