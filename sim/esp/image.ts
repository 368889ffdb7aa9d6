/**
 * ESP firmware images for tests, the demo and benchmarks, plus the little parsing
 * the emulated boot needs (reference §5, ESP-IDF esp_app_desc_t and partition table).
 * Builders produce structurally valid images: header, segments, XOR checksum, and for
 * ESP32 the extended header and an appended SHA-256.
 */
import { createHash } from "node:crypto"
import { defaultOffsetsForPlatform } from "../../src/flash/esp/chips.js"
import type { EspChip } from "./types.js"

export const IMAGE_MAGIC = 0xe9
export const APP_DESC_MAGIC = 0xabcd5432
const PARTITION_MAGIC = [0xaa, 0x50] as const
const PARTITION_MD5_MAGIC = [0xeb, 0xeb] as const
const ESP32_DEFAULTS = defaultOffsetsForPlatform("esp32")
export const PARTITION_TABLE_OFFSET = ESP32_DEFAULTS.partitionTable
export const ESP32_BOOTLOADER_OFFSET = ESP32_DEFAULTS.bootloader
export const ESP32_APP_OFFSET = ESP32_DEFAULTS.app

export interface ImageRegion {
  readonly name: string
  readonly offset: number
  readonly data: Uint8Array
}

/** xorshift32: deterministic filler so images (and their MD5s) are reproducible. */
const prng = (seed: number) => {
  let state = seed >>> 0 || 0x9e3779b9
  return () => {
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state
  }
}

/**
 * Filler that compresses roughly to `1 - incompressible` of its size: runs of random
 * bytes alternate with runs of repeated text, like code mixed with strings and tables.
 */
export const fillerBytes = (length: number, incompressible = 0.5, seed = 1): Uint8Array => {
  const out = new Uint8Array(length)
  const next = prng(seed)
  const text = new TextEncoder().encode("factory-app: sensor table entry 0123456789 abcdefghijklmnopqrstuvwxyz; ")
  const run = 256
  let i = 0
  while (i < length) {
    const randomRun = Math.round(run * incompressible)
    for (let k = 0; k < randomRun && i < length; k++) out[i++] = next() & 0xff
    for (let k = 0; k < run - randomRun && i < length; k++) out[i++] = text[(i + k) % text.length]!
  }
  return out
}

const u32 = (view: DataView, offset: number, value: number) => view.setUint32(offset, value >>> 0, true)

const cString = (target: Uint8Array, offset: number, size: number, text: string) => {
  const bytes = new TextEncoder().encode(text).subarray(0, size - 1)
  target.set(bytes, offset)
}

interface Segment {
  readonly loadAddress: number
  readonly data: Uint8Array
}

const buildImage = (chip: EspChip, entry: number, segments: ReadonlyArray<Segment>, flashSizeNibble: number): Uint8Array => {
  const extended = chip === "esp32" ? 16 : 0
  const padded = segments.map((s) => {
    const length = Math.ceil(s.data.length / 4) * 4
    const data = new Uint8Array(length)
    data.set(s.data)
    return { loadAddress: s.loadAddress, data }
  })
  const body = 8 + extended + padded.reduce((n, s) => n + 8 + s.data.length, 0)
  // Checksum byte is the last byte of a 16-byte aligned image.
  const withChecksum = Math.ceil((body + 1) / 16) * 16
  const hashLength = chip === "esp32" ? 32 : 0
  const out = new Uint8Array(withChecksum + hashLength)
  const view = new DataView(out.buffer)
  out[0] = IMAGE_MAGIC
  out[1] = padded.length
  out[2] = 2 // DIO
  out[3] = (flashSizeNibble << 4) | 0x0 // 40 MHz
  u32(view, 4, entry)
  let at = 8
  if (chip === "esp32") {
    out[8] = 0xee // WP pin: unused
    // drive settings 0, chip id 0 (ESP32), revisions 0 / max 0xFFFF
    view.setUint16(12, 0, true)
    view.setUint16(17, 0xffff, true)
    out[23] = 1 // SHA-256 appended
    at = 24
  }
  let checksum = 0xef
  for (const segment of padded) {
    u32(view, at, segment.loadAddress)
    u32(view, at + 4, segment.data.length)
    out.set(segment.data, at + 8)
    for (const byte of segment.data) checksum ^= byte
    at += 8 + segment.data.length
  }
  out[withChecksum - 1] = checksum
  if (hashLength > 0) {
    out.set(createHash("sha256").update(out.subarray(0, withChecksum)).digest(), withChecksum)
  }
  return out
}

const flashSizeNibble = (chip: EspChip, flashSize: number): number => {
  const mib = flashSize / (1024 * 1024)
  if (chip === "esp32") return Math.max(0, Math.round(Math.log2(Math.max(1, mib))))
  // ESP8266 header codes: 512K=0, 256K=1, 1M=2, 2M=3, 4M=4
  return mib >= 4 ? 4 : mib >= 2 ? 3 : mib >= 1 ? 2 : 0
}

export interface AppImageOptions {
  readonly chip: EspChip
  readonly version: string
  readonly projectName?: string
  /** Approximate total image size in bytes (default 256 KiB). */
  readonly size?: number
  /** Fraction of incompressible filler (default 0.5: "half compressible"). */
  readonly incompressible?: number
  readonly seed?: number
  readonly flashSize?: number
}

/**
 * An application image. ESP32: first segment (DROM) starts with esp_app_desc_t carrying
 * version and project name, like ESP-IDF builds. ESP8266 (no app descriptor in its
 * SDKs): an ASCII marker `FWVER=<version>;PROJ=<name>;` at the start of the first segment.
 */
export const makeAppImage = (options: AppImageOptions): Uint8Array => {
  const size = options.size ?? 256 * 1024
  const project = options.projectName ?? "factory-app"
  const payload = Math.max(1024, size - 64)
  const firstLength = Math.max(512, Math.floor(payload / 4))
  const first = fillerBytes(firstLength, options.incompressible ?? 0.5, options.seed ?? 7)
  const second = fillerBytes(payload - firstLength, options.incompressible ?? 0.5, (options.seed ?? 7) + 1)
  if (options.chip === "esp32") {
    const view = new DataView(first.buffer)
    first.fill(0, 0, 256)
    u32(view, 0, APP_DESC_MAGIC)
    cString(first, 16, 32, options.version)
    cString(first, 48, 32, project)
    cString(first, 80, 16, "12:00:00")
    cString(first, 96, 16, "Jan  1 2025")
    cString(first, 112, 32, "v5.3.1")
    return buildImage(
      "esp32",
      0x400d1234,
      [
        { loadAddress: 0x3f400020, data: first },
        { loadAddress: 0x400d0020, data: second }
      ],
      flashSizeNibble("esp32", options.flashSize ?? 4 * 1024 * 1024)
    )
  }
  const marker = new TextEncoder().encode(`FWVER=${options.version};PROJ=${project};`)
  first.set(marker, 0)
  return buildImage(
    "esp8266",
    0x40100004,
    [
      { loadAddress: 0x40100000, data: first },
      { loadAddress: 0x3ffe8000, data: second }
    ],
    flashSizeNibble("esp8266", options.flashSize ?? 1024 * 1024)
  )
}

/** An ESP32 2nd-stage bootloader stand-in (IRAM/DRAM segments, ~24 KiB). */
export const makeBootloaderImage = (seed = 3): Uint8Array =>
  buildImage(
    "esp32",
    0x40080644,
    [
      { loadAddress: 0x3fff0030, data: fillerBytes(0x1000, 0.6, seed) },
      { loadAddress: 0x40078000, data: fillerBytes(0x4000, 0.6, seed + 1) },
      { loadAddress: 0x40080400, data: fillerBytes(0x1000, 0.6, seed + 2) }
    ],
    2
  )

export interface PartitionEntry {
  readonly label: string
  readonly type: "app" | "data"
  readonly subtype: number
  readonly offset: number
  readonly size: number
}

export const DEFAULT_PARTITIONS: ReadonlyArray<PartitionEntry> = [
  { label: "nvs", type: "data", subtype: 0x02, offset: 0x9000, size: 0x6000 },
  { label: "phy_init", type: "data", subtype: 0x01, offset: 0xf000, size: 0x1000 },
  { label: "factory", type: "app", subtype: 0x00, offset: 0x10000, size: 0x100000 }
]

/** Binary partition table (ESP-IDF layout: 32-byte entries, MD5 entry, 0xFF to 0xC00). */
export const makePartitionTable = (entries: ReadonlyArray<PartitionEntry> = DEFAULT_PARTITIONS): Uint8Array => {
  const out = new Uint8Array(0xc00).fill(0xff)
  const view = new DataView(out.buffer)
  entries.forEach((entry, i) => {
    const at = i * 32
    out[at] = PARTITION_MAGIC[0]
    out[at + 1] = PARTITION_MAGIC[1]
    out[at + 2] = entry.type === "app" ? 0x00 : 0x01
    out[at + 3] = entry.subtype
    u32(view, at + 4, entry.offset)
    u32(view, at + 8, entry.size)
    out.fill(0, at + 12, at + 28)
    cString(out, at + 12, 16, entry.label)
    u32(view, at + 28, 0)
  })
  const md5At = entries.length * 32
  out[md5At] = PARTITION_MD5_MAGIC[0]
  out[md5At + 1] = PARTITION_MD5_MAGIC[1]
  out.set(createHash("md5").update(out.subarray(0, md5At)).digest(), md5At + 16)
  return out
}

export interface FlashSetOptions {
  readonly version: string
  readonly projectName?: string
  readonly appSize?: number
  readonly incompressible?: number
  readonly seed?: number
}

/** Bootloader at 0x1000, partition table at 0x8000, app at 0x10000. */
export const makeEsp32FlashSet = (options: FlashSetOptions): Array<ImageRegion> => [
  { name: "bootloader", offset: ESP32_BOOTLOADER_OFFSET, data: makeBootloaderImage() },
  { name: "partition-table", offset: PARTITION_TABLE_OFFSET, data: makePartitionTable() },
  {
    name: "app",
    offset: ESP32_APP_OFFSET,
    data: makeAppImage({ chip: "esp32", ...options, ...(options.appSize === undefined ? {} : { size: options.appSize }) })
  }
]

/** A non-OTA ESP8266 image at 0x0. */
export const makeEsp8266FlashSet = (options: FlashSetOptions): Array<ImageRegion> => [
  {
    name: "app",
    offset: 0,
    data: makeAppImage({ chip: "esp8266", ...options, ...(options.appSize === undefined ? {} : { size: options.appSize }) })
  }
]

// ---- parsing (used by the emulated boot) ----

export const hasImageMagic = (flash: Uint8Array, offset: number): boolean => flash[offset] === IMAGE_MAGIC

/** The first app partition (factory, else ota_0…) of a valid table, or undefined. */
export const findAppPartition = (flash: Uint8Array, tableOffset = PARTITION_TABLE_OFFSET): number | undefined => {
  const view = new DataView(flash.buffer, flash.byteOffset, flash.byteLength)
  const apps: Array<{ subtype: number; offset: number }> = []
  for (let at = tableOffset; at < tableOffset + 0xc00; at += 32) {
    if (flash[at] !== PARTITION_MAGIC[0] || flash[at + 1] !== PARTITION_MAGIC[1]) break
    if (flash[at + 2] === 0x00) apps.push({ subtype: flash[at + 3]!, offset: view.getUint32(at + 4, true) })
  }
  if (apps.length === 0) return undefined
  return (apps.find((a) => a.subtype === 0x00) ?? apps.sort((a, b) => a.subtype - b.subtype)[0])!.offset
}

export interface AppInfo {
  readonly version: string
  readonly projectName: string | undefined
}

const readCString = (bytes: Uint8Array, offset: number, size: number): string => {
  const slice = bytes.subarray(offset, offset + size)
  const end = slice.indexOf(0)
  return new TextDecoder().decode(end === -1 ? slice : slice.subarray(0, end))
}

/** Version and project from esp_app_desc_t (ESP32) or the `FWVER=` marker; "unknown" if neither. */
export const readAppInfo = (flash: Uint8Array, offset: number): AppInfo => {
  const view = new DataView(flash.buffer, flash.byteOffset, flash.byteLength)
  // ESP32: descriptor right after image header (24) + first segment header (8).
  const descAt = offset + 32
  if (descAt + 256 <= flash.length && view.getUint32(descAt, true) === APP_DESC_MAGIC) {
    return { version: readCString(flash, descAt + 16, 32), projectName: readCString(flash, descAt + 48, 32) }
  }
  const window = Buffer.from(flash.subarray(offset, Math.min(flash.length, offset + 0x10000)))
  const text = window.toString("latin1")
  const match = /FWVER=([^;\x00\xff]{1,64});(?:PROJ=([^;\x00\xff]{1,64});)?/.exec(text)
  if (match) return { version: match[1]!, projectName: match[2] }
  return { version: "unknown", projectName: undefined }
}
