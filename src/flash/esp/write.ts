import { Effect } from "effect"
import { createHash } from "node:crypto"
import { deflate } from "pako"
import { type CommandError, type EspConnection } from "./connection.js"
import { CommandRejected, VerifyFailed } from "../../domain/errors/flash.js"
import type { FlashProgress, FlashRegion } from "../Flasher.js"
import type { ChipSpec } from "./chips.js"
import * as Cmd from "./commands.js"

/** ROM block size for FLASH_DATA / FLASH_DEFL_DATA (the stub would take 16 KiB). */
export const ROM_BLOCK_SIZE = 0x400
const SECTOR = 0x1000

export interface WriteOptions {
  readonly timeouts: Cmd.Timeouts
  /** Attempts per data block before the region fails (esptool: 3). */
  readonly blockAttempts: number
  /** Data blocks sent ahead of the oldest unanswered one (1 = strict request/response like esptool). */
  readonly inFlightBlocks: number
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
 * (level 9, a zlib stream as the ROM's inflater expects) and share the result.
 */
const compressed = new WeakMap<Uint8Array, Uint8Array>()
export const compressOnce = (data: Uint8Array): Uint8Array => {
  let packed = compressed.get(data)
  if (packed === undefined) {
    packed = deflate(data, { level: 9 })
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

/** Writes one region and verifies it by MD5 where the loader can. */
export const writeRegion = (
  conn: EspConnection,
  chip: ChipSpec,
  region: FlashRegion,
  options: WriteOptions,
  onProgress: (progress: FlashProgress) => Effect.Effect<void>
): Effect.Effect<RegionResult, CommandError | VerifyFailed> =>
  Effect.gen(function* () {
    const t = options.timeouts
    const wireStart = conn.wireBytes
    let retries = 0
    const total = region.data.length
    const deflated = chip.romHasDeflate
    const payload = deflated ? compressOnce(region.data) : region.data
    const blocks = slices(payload, ROM_BLOCK_SIZE)
    // ROM inflate erases whole blocks; the only ROM without inflate is the ESP8266's, with its erase quirk.
    const eraseSize = deflated ? Math.ceil(total / ROM_BLOCK_SIZE) * ROM_BLOCK_SIZE : esp8266EraseSize(region.offset, total)
    const begin = {
      eraseSize,
      blocks: blocks.length,
      blockSize: ROM_BLOCK_SIZE,
      offset: region.offset,
      withEncryptedWord: chip.beginHasEncryptedWord
    }
    yield* conn.command(deflated ? Cmd.flashDeflBegin(t, begin) : Cmd.flashBegin(t, begin))
    yield* onProgress({ region: region.name, written: 0, total, wireBytes: conn.wireBytes - wireStart })

    // Each compressed block inflates to about total/blocks bytes of flash: that bounds its write time.
    const flashPerBlock = Math.ceil(total / blocks.length)
    const blockCommand = (sequence: number) =>
      deflated
        ? Cmd.flashDeflData(t, sequence, blocks[sequence]!, flashPerBlock)
        : Cmd.flashData(t, sequence, padded(blocks[sequence]!))

    // Up to `inFlightBlocks` blocks are on the wire before the oldest reply is
    // awaited, so the line never idles while the device writes and answers.
    // Replies carry no sequence number: they acknowledge blocks in order.
    const window = Math.max(1, options.inFlightBlocks)
    const outstanding = new Map<number, Cmd.Command>()
    let sent = 0
    const awaitAck = (sequence: number, attempt: number): Effect.Effect<void, CommandError> =>
      conn.awaitReply(outstanding.get(sequence)!).pipe(
        Effect.flatMap((reply) =>
          reply.status === 0
            ? Effect.void
            : Effect.fail(new CommandRejected({ port: conn.port, command: outstanding.get(sequence)!.label, errorCode: reply.error }))
        ),
        Effect.catchTag("FlashTimeout", (timeout) => {
          if (attempt + 1 >= options.blockAttempts) return Effect.fail(timeout)
          // A lost block or a lost reply: send every unacknowledged block again
          // with its own sequence number; the loader skips a duplicate, MD5 catches the rest.
          retries++
          return Effect.zipRight(
            Effect.forEach([...outstanding.values()], (command) => conn.send(command), { discard: true }),
            awaitAck(sequence, attempt + 1)
          )
        })
      )
    for (let acked = 0; acked < blocks.length; acked++) {
      while (sent < blocks.length && sent - acked < window) {
        const command = blockCommand(sent)
        outstanding.set(sent, command)
        yield* conn.send(command)
        sent++
      }
      yield* awaitAck(acked, 0)
      outstanding.delete(acked)
      yield* onProgress({
        region: region.name,
        written: Math.min(total, Math.round(((acked + 1) / blocks.length) * total)),
        total,
        wireBytes: conn.wireBytes - wireStart
      })
    }

    const digest = md5Hex(region.data)
    if (!chip.romHasMd5) {
      return { name: region.name, offset: region.offset, size: total, digest, verifiedBy: "none" as const, wireBytes: conn.wireBytes - wireStart, retries }
    }
    const reply = yield* conn.command(Cmd.spiFlashMd5(t, region.offset, total))
    // ROM: 32 ASCII hex digits; stub: 16 raw bytes.
    const received =
      reply.data.length >= 32
        ? new TextDecoder().decode(reply.data.subarray(0, 32)).toLowerCase()
        : Buffer.from(reply.data.subarray(0, 16)).toString("hex")
    if (received !== digest) {
      return yield* new VerifyFailed({ port: conn.port, region: region.name, offset: region.offset, expected: digest, received })
    }
    return { name: region.name, offset: region.offset, size: total, digest, verifiedBy: "md5" as const, wireBytes: conn.wireBytes - wireStart, retries }
  })

/** Uncompressed writes always send whole blocks; the tail is padded with erased-flash 0xFF. */
const padded = (block: Uint8Array): Uint8Array => {
  if (block.length === ROM_BLOCK_SIZE) return block
  const out = new Uint8Array(ROM_BLOCK_SIZE).fill(0xff)
  out.set(block)
  return out
}
