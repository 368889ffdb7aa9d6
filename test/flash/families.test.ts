// The board-family registry (src/flash/families.ts) and what is derived from it.
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { SyncFailed } from "../../src/domain/errors/flash.js"
import { BoardConfigSchema, defaultOffsets } from "../../src/factory/config.js"
import { bootloaderHint, FAMILIES, loadFlashers, mcuOptionsOf, PLATFORMS, PlatformSchema } from "../../src/flash/families.js"

describe("board-family registry", () => {
  it("lists each family once with its platforms", () => {
    expect(FAMILIES.map((family) => family.name)).toEqual(["esp", "avr", "stm32", "rp2040"])
    expect(PLATFORMS).toEqual(["esp32", "esp8266", "avr", "stm32", "rp2040"])
    expect(Schema.decodeUnknownSync(PlatformSchema)("stm32")).toBe("stm32")
    expect(() => Schema.decodeUnknownSync(PlatformSchema)("pic16")).toThrow(/esp32/)
  })

  it("gives each platform its default offsets (ESP-IDF layout for esp32, one image at 0x0 elsewhere)", () => {
    expect(defaultOffsets("esp32")).toEqual({ bootloader: 0x1000, partitionTable: 0x8000, firmware: 0x10000 })
    expect(defaultOffsets("esp8266")).toEqual({ bootloader: 0x0, partitionTable: 0x8000, firmware: 0x0 })
    for (const platform of ["avr", "stm32", "rp2040"] as const) {
      expect(defaultOffsets(platform)).toEqual({ bootloader: 0, partitionTable: 0, firmware: 0 })
    }
  })

  it("adds each family's own fields to the board config and maps them to the session settings", () => {
    const config = Schema.decodeUnknownSync(BoardConfigSchema)({
      platform: "rp2040",
      firmware_path: "fw.uf2",
      mcu: "atmega328p",
      part: "0x410",
      reset_mapping: "dtr_boot0_rts_nrst",
      volume_roots: ["/media/*"],
      boot_wait: 3
    })
    expect(config.rp2040_method).toBe("auto")
    expect(mcuOptionsOf(config)).toEqual({
      expectedChip: "atmega328p",
      resetMapping: "dtr_boot0_rts_nrst",
      volumeRoots: ["/media/*"],
      appBaudRate: 115200,
      bootWaitSeconds: 3,
      rp2040Method: "auto"
    })
    const stm = Schema.decodeUnknownSync(BoardConfigSchema)({ platform: "stm32", firmware_path: "fw.bin", part: "0x410" })
    expect(mcuOptionsOf(stm).expectedChip).toBe("0x410")
  })

  it("names each family's way into the bootloader in SyncFailed", () => {
    const avr = new SyncFailed({ port: "/dev/ttyACM0", attempts: 2, detail: "", platform: "avr", bootloaderHint: bootloaderHint("avr") })
    expect(avr.hint).toMatch(/optiboot did not answer/)
    expect(bootloaderHint("stm32")).toMatch(/BOOT0 must be high/)
    expect(bootloaderHint("rp2040")).toMatch(/hold BOOTSEL/)
    expect(bootloaderHint("esp8266")).toMatch(/hold BOOT \(IO0\)/)
  })

  it("loads one flasher constructor per family", async () => {
    expect(await loadFlashers()).toHaveLength(FAMILIES.length)
  })
})
