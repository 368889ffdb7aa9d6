import { afterEach, describe, expect, it } from "vitest"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { binToUf2 } from "../../src/flash/formats/uf2.js"
import { type PicoHandle, startPicoBoard } from "../../sim/rp2040/emulator.js"

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})
const start = async (faults: ReadonlyArray<string> = []): Promise<PicoHandle> => {
  const dir = mkdtempSync(join(tmpdir(), "fp-bootsel-"))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const pico = await startPicoBoard({ mountRoot: dir, cdcPath: join(dir, "ttyACM0"), faults })
  cleanups.push(() => pico.stop())
  return pico
}
const settle = () => new Promise((r) => setTimeout(r, 150))

describe("emulated BOOTSEL volume", () => {
  it("looks like the RP2040 ROM drive and takes only a complete RP2040 UF2", async () => {
    const pico = await start()
    expect(readFileSync(join(pico.volumePath, "INFO_UF2.TXT"), "utf8")).toContain("Board-ID: RPI-RP2")
    expect(existsSync(join(pico.volumePath, "INDEX.HTM"))).toBe(true)
    // Another family, a torn file, and a text file are absorbed without a reboot.
    writeFileSync(join(pico.volumePath, "samd.uf2"), binToUf2(new Uint8Array(600), { familyId: 0x68ed2b88 }))
    writeFileSync(join(pico.volumePath, "torn.uf2"), binToUf2(new Uint8Array(600)).subarray(0, 1024))
    writeFileSync(join(pico.volumePath, "notes.txt"), "hello")
    await settle()
    expect(pico.state).toBe("bootsel")
    expect(pico.stats.filesIgnored).toBe(2)
    writeFileSync(join(pico.volumePath, "ok.uf2"), binToUf2(Uint8Array.from([1, 2, 3, 4])))
    await pico.waitForState("app")
    expect(existsSync(pico.volumePath)).toBe(false)
    expect(existsSync(pico.cdcPath)).toBe(true)
    expect([...pico.flash().subarray(0, 5)]).toEqual([1, 2, 3, 4, 0xff])
    // BOOTSEL again: the CDC port goes away, the drive comes back.
    await pico.enterBootsel()
    expect(existsSync(pico.cdcPath)).toBe(false)
    expect(existsSync(join(pico.volumePath, "INFO_UF2.TXT"))).toBe(true)
  })

  it("no_app: the drive goes away but no CDC port appears", async () => {
    const pico = await start(["no_app"])
    writeFileSync(join(pico.volumePath, "fw.uf2"), binToUf2(new Uint8Array(10).fill(7)))
    await pico.waitForState("crashed")
    expect(existsSync(pico.cdcPath)).toBe(false)
  })
})
