/**
 * Espressif's flasher stub images, read at run time from the `esptool-js`
 * package (a runtime dependency; the images are not copied into this
 * repository). esptool-js ships them as `lib/targets/stub_flasher/<chip>.json`
 * in esptool's own format: base64 `text`/`data` segments with their load
 * addresses and the entry point (esptool `targets/stub_flasher/*.json`).
 */
import { Either } from "effect"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"

export interface StubImage {
  /** esptool-js file the image came from. */
  readonly source: string
  readonly entry: number
  readonly textStart: number
  readonly text: Uint8Array
  readonly dataStart: number
  readonly data: Uint8Array
}

export type StubChip = "ESP32" | "ESP8266"

const FILES: Record<StubChip, string> = { ESP32: "esp32.json", ESP8266: "esp8266.json" }

const resolveStubDir = (): string => {
  const require = createRequire(import.meta.url)
  // The package has no `exports` map, so its package.json resolves; the JSONs sit beside lib/.
  return join(dirname(require.resolve("esptool-js/package.json")), "lib", "targets", "stub_flasher")
}

const cache = new Map<StubChip, StubImage>()

/** The stub for `chip`, or why it cannot be had (esptool-js missing or changed its layout). */
export const readStubImage = (chip: StubChip): Either.Either<StubImage, string> => {
  const hit = cache.get(chip)
  if (hit) return Either.right(hit)
  return Either.try({
    try: () => {
      const source = join(resolveStubDir(), FILES[chip])
      const json = JSON.parse(readFileSync(source, "utf8")) as Record<string, unknown>
      const num = (key: string) => {
        const value = json[key]
        if (typeof value !== "number") throw new Error(`${source}: field "${key}" is not a number`)
        return value >>> 0
      }
      const bytes = (key: string) => {
        const value = json[key]
        if (typeof value !== "string") throw new Error(`${source}: field "${key}" is not base64 text`)
        return new Uint8Array(Buffer.from(value, "base64"))
      }
      const image: StubImage = {
        source,
        entry: num("entry"),
        textStart: num("text_start"),
        text: bytes("text"),
        dataStart: num("data_start"),
        data: bytes("data")
      }
      cache.set(chip, image)
      return image
    },
    catch: (error) =>
      `Espressif's flasher stub for ${chip} could not be read from the esptool-js package ` +
      `(${error instanceof Error ? error.message : String(error)}); reinstall dependencies or use --no-stub`
  })
}

/** SHA-256 of a stub's text segment: how the emulator recognises an uploaded stub. */
export const stubTextHash = (text: Uint8Array): string => createHash("sha256").update(text).digest("hex")
