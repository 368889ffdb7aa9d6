/** The ESP family (ESP32 line, ESP8266): facts for the registry in ../families.ts. */
import { defineFamily } from "../family.js"
import { defaultOffsetsForPlatform, ESP_PLATFORMS } from "./chips.js"

export const espFamily = defineFamily({
  name: "esp",
  platforms: ESP_PLATFORMS,
  // The ESP images (bootloader, partition table) and offsets are the shared layout fields of a board config.
  configFields: {},
  defaultOffsets: (platform) => {
    const rom = defaultOffsetsForPlatform(platform)
    // Non-OTA ESP8266 builds are one image at 0x0 (boot ROM loads it directly).
    return { bootloader: rom.bootloader, partitionTable: rom.partitionTable, firmware: platform === "esp8266" ? 0x0 : rom.app }
  },
  imageFormats: ["esp-image", "raw-binary"],
  bootloaderHint:
    "the board did not enter its bootloader: hold BOOT (IO0) while tapping RESET, check the USB cable and that this port is the board's UART, or try another --before reset mode",
  sessionOptions: () => ({}),
  load: () => import("./EspFlasher.js").then((m) => m.makeEspFlasher())
})
