import { Duration, Effect } from "effect"
import { createHash } from "node:crypto"
import { deflateSync } from "node:zlib"
import { type CommandError, type EspConnection } from "./connection.js"
import { CommandRejected, FlashTimeout, VerifyFailed } from "../../domain/errors/flash.js"
import type { FlashProgress, FlashRegion } from "../Flasher.js"
import * as Cmd from "./commands.js"
import { syncRepeated } from "./detect.js"

/** ROM block size for FLASH_DATA / FLASH_DEFL_DATA (esptool FLASH_WRITE_SIZE). */
export const ROM_BLOCK_SIZE = 0x400
/** The stub's MAX_WRITE_BLOCK (esptool's stub FLASH_WRITE_SIZE). */
export const STUB_BLOCK_SIZE = 0x4000
const SECTOR = 0x1000

/** How the loader on the other end takes data: what the ROM or the stub can do. */
export interface LoaderProfile {
  readonly kind: "rom" | "stub"
  readonly blockSize: number
  /**
   * Blocks on the wire before the oldest reply is awaited. The ROM answers a
   * block only after writing it and replies carry no sequence number: 1. The
   * stub acknowledges on arrival and has a second receive buffer
   * (stub_flasher.c "ACK DATA commands immediately … allowing next command to
   * buffer"): 2.
   */
  readonly inFlight: number
  readonly deflate: boolean
  /** SPI_FLASH_MD5 available (not on the ESP8266 ROM). */
  readonly md5: boolean
  /** ESP8266 ROM erase-size bug workaround (uncompressed ROM writes only). */
  readonly esp8266EraseBug: boolean
  /** FLASH_BEGIN takes a fifth `encrypted` word (ROMs after ESP32/ESP8266; never the stub). */
  readonly beginEncryptedWord: boolean
}

export interface WriteOptions {
  readonly timeouts: Cmd.Timeouts
  /** Attempts per region (a lost reply restarts the region after drain + resync; esptool: 3 per block). */
  readonly blockAttempts: number
  readonly loader: LoaderProfile
}

export interface RegionResult {
  readonly name: string
  readonly offset: number
  readonly size: number
  /** MD5 of the image (hex), confirmed by the device when `verifiedBy` is `md5`. */
  readonly digest: string
  readonly verifiedBy: "md5" | "none"
  readonly wireBytes: number
  readonly retries: number
}

export const md5Hex = (data: Uint8Array): string => createHash("md5").update(data).digest("hex")

/**
 * The same firmware goes to every port of a line: compress each buffer once
 * (level 9, a zlib stream as the loaders' inflater expects) and share the result.
 */
const compressed = new WeakMap<Uint8Array, Uint8Array>()
export const compressOnce = (data: Uint8Array): Uint8Array => {
  let packed = compressed.get(data)
  if (packed === undefined) {
    packed = new Uint8Array(deflateSync(data, { level: 9 }))
    compressed.set(data, packed)
  }
  return packed
}

/**
 * The ESP8266 ROM erases more than asked when the range crosses a 64 KiB
 * block (it counts the head sectors twice); asking for this smaller size
 * makes it erase exactly the region (esptool's get_erase_size).
 */
export const esp8266EraseSize = (offset: number, size: number): number => {
  const sectorsPerBlock = 16
  const sectors = Math.ceil(size / SECTOR)
  const startSector = Math.floor(offset / SECTOR)
  const head = Math.min(sectors, sectorsPerBlock - (startSector % sectorsPerBlock))
  return sectors < 2 * head ? Math.ceil(sectors / 2) * SECTOR : (sectors - head) * SECTOR
}

const slices = (data: Uint8Array, size: number): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let at = 0; at < data.length; at += size) out.push(data.subarray(at, at + size))
  return out
}

/** How long the line must stay silent before a drain counts as done. */
const DRAIN_QUIET = Duration.millis(150)

/**
 * After a lost reply nobody knows which replies are still on their way: read
 * and drop everything until the line is quiet, then SYNC again, so no late
 * reply can be counted for a block it does not belong to.
 */
const drainAndResync = (conn: EspConnection, t: Cmd.Timeouts) =>
  Effect.gen(function* () {
    yield* conn.drain(DRAIN_QUIET)
    yield* syncRepeated(conn, t)
  })

/** Sends every block of one region and awaits their replies in order; a lost reply is a FlashTimeout. */
const sendRegion = (
  conn: EspConnection,
  region: FlashRegion,
  options: WriteOptions,
  onProgress: (progress: FlashProgress) => Effect.Effect<void>,
  wireStart: number
): Effect.Effect<void, CommandError> =>
  Effect.gen(function* () {
    const t = options.timeouts
    const loader = options.loader
    const total = region.data.length
    const payload = loader.deflate ? compressOnce(region.data) : region.data
    const blocks = slices(payload, loader.blockSize)
    // Stub: the exact size (it counts down to 0 before FLASH_END). ROM inflate: whole blocks.
    const eraseSize = !loader.deflate
      ? loader.esp8266EraseBug
        ? esp8266EraseSize(region.offset, total)
        : total
      : loader.kind === "stub"
        ? total
        : Math.ceil(total / loader.blockSize) * loader.blockSize
    const begin = {
      eraseSize,
      blocks: blocks.length,
      blockSize: loader.blockSize,
      offset: region.offset,
      withEncryptedWord: loader.beginEncryptedWord
    }
    yield* conn.command(loader.deflate ? Cmd.flashDeflBegin(t, begin) : Cmd.flashBegin(t, begin))
    yield* onProgress({ region: region.name, written: 0, total, wireBytes: conn.wireBytes - wireStart })

    // Each compressed block inflates to about total/blocks bytes of flash: that bounds its write time.
    const flashPerBlock = Math.ceil(total / blocks.length)
    const blockCommand = (sequence: number) =>
      loader.deflate
        ? Cmd.flashDeflData(t, sequence, blocks[sequence]!, flashPerBlock)
        : Cmd.flashData(t, sequence, padded(blocks[sequence]!, loader.blockSize))
    const window = Math.max(1, loader.inFlight)
    const outstanding = new Map<number, Cmd.Command>()
    let sent = 0
    for (let acked = 0; acked < blocks.length; acked++) {
      while (sent < blocks.length && sent - acked < window) {
        const command = blockCommand(sent)
        outstanding.set(sent, command)
        yield* conn.send(command)
        sent++
      }
      const command = outstanding.get(acked)!
      const reply = yield* conn.awaitReply(command)
      if (reply.status !== 0) return yield* new CommandRejected({ port: conn.port, command: command.label, errorCode: reply.error })
      outstanding.delete(acked)
      yield* onProgress({
        region: region.name,
        written: Math.min(total, Math.round(((acked + 1) / blocks.length) * total)),
        total,
        wireBytes: conn.wireBytes - wireStart
      })
    }
  })

/**
 * Writes one region and verifies it by MD5 where the loader can. A lost
 * reply restarts the region (after drain + resync): the stub ignores
 * sequence numbers and an inflater cannot take a block twice, so resending
 * single blocks is not safe; MD5 still checks the result.
 */
export const writeRegion = (
  conn: EspConnection,
  region: FlashRegion,
  options: WriteOptions,
  onProgress: (progress: FlashProgress) => Effect.Effect<void>
): Effect.Effect<RegionResult, CommandError | VerifyFailed> =>
  Effect.gen(function* () {
    const t = options.timeouts
    const wireStart = conn.wireBytes
    let retries = 0
    const attempt = (n: number): Effect.Effect<void, CommandError> =>
      sendRegion(conn, region, options, onProgress, wireStart).pipe(
        Effect.catchIf(
          // Only a lost data-block reply: a begin that times out is an erase that took too long.
          (error): error is FlashTimeout =>
            error instanceof FlashTimeout && /_DATA #/.test(error.step) && n + 1 < Math.max(1, options.blockAttempts),
          () =>
            Effect.suspend(() => {
              retries++
              return Effect.zipRight(drainAndResync(conn, t), attempt(n + 1))
            })
        )
      )
    yield* attempt(0)

    const total = region.data.length
    const digest = md5Hex(region.data)
    const result = (verifiedBy: "md5" | "none"): RegionResult => ({
      name: region.name,
      offset: region.offset,
      size: total,
      digest,
      verifiedBy,
      wireBytes: conn.wireBytes - wireStart,
      retries
    })
    if (!options.loader.md5) return result("none")
    const reply = yield* conn.command(Cmd.spiFlashMd5(t, region.offset, total))
    // ROM: 32 ASCII hex digits; stub: 16 raw bytes.
    const received =
      reply.data.length >= 32
        ? new TextDecoder().decode(reply.data.subarray(0, 32)).toLowerCase()
        : Buffer.from(reply.data.subarray(0, 16)).toString("hex")
    if (received !== digest) {
      return yield* new VerifyFailed({ port: conn.port, region: region.name, offset: region.offset, expected: digest, received })
    }
    return result("md5")
  })

/** Uncompressed writes always send whole blocks; the tail is padded with erased-flash 0xFF. */
const padded = (block: Uint8Array, blockSize: number): Uint8Array => {
  if (block.length === blockSize) return block
  const out = new Uint8Array(blockSize).fill(0xff)
  out.set(block)
  return out
}
