/**
 * The emulator cannot execute Xtensa code. What it can do is recognise
 * Espressif's flasher stub when a host uploads it (MEM_BEGIN/MEM_DATA/MEM_END)
 * and then speak the stub's protocol (flasher_stub/stub_flasher.c, esptool
 * v4.6, the last tag with the stub source in the esptool repository).
 *
 * Recognised: the text segment whose SHA-256 matches
 * - the images esptool-js ships (read at run time from the package, the same
 *   files our flasher uploads), and
 * - the images of esptool v4.8.1 (`esptool/targets/stub_flasher/1/{esp32,esp8266}.json`),
 *   listed by hash only, so Espressif's Python esptool can be run against
 *   `provision sim esp` by hand.
 */
import { Either } from "effect"
import { readStubImage, stubTextHash } from "../../src/flash/esp/stubImages.js"
import type { EspChip } from "./types.js"

const ESPTOOL_V481_TEXT_SHA256: Record<EspChip, string> = {
  esp32: "c3d3ddfa74e6b41710863f07a2d0496bb6f758a2011bf1d9cdd5b280479db6b9",
  esp8266: "0914cbde7b50fb4a4648795d83d4181f808a99073640cdcee6e4dfa958855cef"
}

const known = new Map<EspChip, ReadonlySet<string>>()

const knownHashes = (chip: EspChip): ReadonlySet<string> => {
  let set = known.get(chip)
  if (!set) {
    const fromPackage = readStubImage(chip === "esp32" ? "ESP32" : "ESP8266")
    set = new Set([ESPTOOL_V481_TEXT_SHA256[chip], ...(Either.isRight(fromPackage) ? [stubTextHash(fromPackage.right.text)] : [])])
    known.set(chip, set)
  }
  return set
}

/** Whether `text` (the uploaded segment holding the entry point) is Espressif's flasher stub for this chip. */
export const isFlasherStub = (chip: EspChip, text: Uint8Array): boolean => knownHashes(chip).has(stubTextHash(text))
