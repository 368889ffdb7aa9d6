import { Duration, Effect } from "effect"
import {
  ChipMismatch,
  type FlashFailure,
  ImageInvalid,
  ProtocolError,
  UnsupportedPlatform,
  VerifyFailed
} from "../../domain/errors/flash.js"
import { SerialPorts } from "../../serial/SerialPorts.js"
import { runReset, type ResetStep } from "../esp/reset.js"
import type {
  DetectedBoard,
  FlasherService,
  FlashRegion,
  FlashSession,
  McuOptions,
  Platform,
  SessionOptions,
  WriteReport
} from "../Flasher.js"
import { type WrittenRegion, writtenRegion } from "../Flasher.js"
import { md5Hex } from "../formats/md5.js"
import { syncOrFail } from "../mcuLink.js"
import { ACK, address, An3155Link, CMD, command, concatBytes, dataFrame, NACK, pipelineSafe, xorOf } from "./an3155.js"
import { expectedPid, findStm32Part, pidHex, type Stm32Part } from "./parts.js"
import { stm32Family } from "./family.js"

/**
 * STM32 through its system-memory UART bootloader (AN3155), natively:
 * BOOT0/NRST reset → 0x7F sync → GET (commands, version) → GET_ID (part check)
 * → unique id + flash size read → (extended) erase → WRITE_MEMORY in
 * 256-byte blocks → READ_MEMORY verify → GO to the flash base.
 *
 * Erase (`erase` setting): `mass` (default) is one command that takes as long as
 * a single page erase on an F1 (20–40 ms either, datasheet), where erasing the
 * 64 pages of a 64 KiB image one by one takes 1.3–2.6 s; it also clears stale
 * code past the image, which a factory line wants. `pages` erases only the pages
 * the image touches (keeps data stored elsewhere in flash, e.g. calibration).
 * After the erase, 256-byte blocks that are all 0xFF are not written (they
 * already are); every block is still read back.
 *
 * Reset mapping (`board_configs.<type>.reset_mapping`), for the usual
 * USB-UART wiring where an asserted line pulls its pin low through the
 * board's transistor/inverter stage:
 * - `rts_boot0_dtr_nrst` (default): RTS asserted → BOOT0 high, DTR asserted → NRST low.
 * - `dtr_boot0_rts_nrst`: the two swapped.
 * Entry: BOOT0 high, NRST low 50 ms, release NRST, 100 ms for the ROM to start.
 * After GO, BOOT0 goes low so the next reset boots the application.
 * `no_reset` (pty, or BOOT0 jumpered by hand) touches no line.
 *
 * The bootloader talks 8E1; the port is opened with even parity (a Linux pty
 * silently drops it — harmless there).
 */

export interface Stm32FlasherConfig {
  readonly syncTimeout: Duration.DurationInput
  readonly commandTimeout: Duration.DurationInput
  /** Mass erase of a large F4 takes ~16 s; an F1 well under a second. */
  readonly eraseTimeout: Duration.DurationInput
  readonly blockBytes: number
  readonly erase: "mass" | "pages"
  /** Send READ_MEMORY's three stages in one write during verify (see ./an3155.ts); off = strict stop-and-wait. */
  readonly pipelineReads: boolean
}

export const defaultStm32FlasherConfig: Stm32FlasherConfig = {
  syncTimeout: Duration.millis(500),
  commandTimeout: Duration.seconds(1),
  eraseTimeout: Duration.seconds(40),
  blockBytes: 256,
  erase: "mass",
  pipelineReads: true
}

/** The family's platforms, as the registry (./family.ts) declares them. */
const STM32_PLATFORMS: ReadonlyArray<Platform> = stm32Family.platforms

type Mapping = NonNullable<McuOptions["resetMapping"]>

const lineNames = (mapping: Mapping): { readonly boot0: "dtr" | "rts"; readonly nrst: "dtr" | "rts" } =>
  mapping === "dtr_boot0_rts_nrst" ? { boot0: "dtr", nrst: "rts" } : { boot0: "rts", nrst: "dtr" }

export const stm32BootloaderEntry = (mapping: Mapping = "rts_boot0_dtr_nrst"): ReadonlyArray<ResetStep> => {
  const { boot0, nrst } = lineNames(mapping)
  return [
    { _tag: "Lines", [boot0]: true, [nrst]: true },
    { _tag: "Sleep", duration: Duration.millis(50) },
    { _tag: "Lines", [nrst]: false },
    { _tag: "Sleep", duration: Duration.millis(100) }
  ]
}

export const stm32ReleaseBoot0 = (mapping: Mapping = "rts_boot0_dtr_nrst"): ReadonlyArray<ResetStep> => [
  { _tag: "Lines", [lineNames(mapping).boot0]: false }
]

export const makeStm32Flasher = (config: Partial<Stm32FlasherConfig> = {}) =>
  Effect.map(SerialPorts, (ports): FlasherService => {
    const settings = { ...defaultStm32FlasherConfig, ...config }
    const t = settings.commandTimeout

    const connect = (port: string, platform: Platform, options: SessionOptions) =>
      Effect.gen(function* () {
        if (!STM32_PLATFORMS.includes(platform)) return yield* new UnsupportedPlatform({ platform, supported: STM32_PLATFORMS })
        const wanted = options.mcu?.expectedChip === undefined ? undefined : expectedPid(options.mcu.expectedChip)
        if (options.mcu?.expectedChip !== undefined && wanted === undefined) {
          return yield* new ImageInvalid({
            region: "board config part",
            detail: `"${options.mcu.expectedChip}" is no STM32 product id (write it like 0x410 or stm32f103)`
          })
        }
        const serial = yield* ports.open(port, { baudRate: options.baudRate, parity: "even" })
        const link = new An3155Link(serial)
        const mapping = options.mcu?.resetMapping ?? "rts_boot0_dtr_nrst"
        let signalsNote = ""

        const attempt = Effect.gen(function* () {
          if (options.before !== "no_reset") {
            yield* runReset(serial, stm32BootloaderEntry(mapping)).pipe(
              Effect.catchTag("SignalsUnsupported", (e) =>
                Effect.sync(() => void (signalsNote = ` (RTS/DTR could not be set: ${e.detail})`))
              )
            )
          }
          yield* serial.discardInput
          yield* link.send(Uint8Array.of(0x7f))
          // NACK: the bootloader already ran its auto-baud (a second 0x7F is an invalid command).
          const [reply] = yield* link.link.guard(link.body("sync 0x7F", 1, settings.syncTimeout))
          if (reply !== ACK && reply !== NACK) {
            return yield* new ProtocolError({ port, command: "sync 0x7F", detail: `got 0x${reply!.toString(16)} instead of ACK` })
          }
        })
        yield* syncOrFail(attempt, {
          port,
          attempts: options.connectAttempts,
          platform: "stm32",
          detail: () =>
            `the STM32 system bootloader did not answer 0x7F${signalsNote}; BOOT0 must be high at reset (reset_mapping ${mapping}, or set the BOOT0 jumper and press RESET), and the USART1 pins (PA9/PA10) must be the ones wired`
        })

        const readMemory = (at: number, length: number, step: string) =>
          Effect.gen(function* () {
            yield* link.stage(step, command(CMD.READ_MEMORY), t)
            yield* link.stage(`${step} (address 0x${at.toString(16)})`, address(at), t)
            yield* link.stage(`${step} (length)`, Uint8Array.of(length - 1, (length - 1) ^ 0xff), t)
            return yield* link.body(step, length, t)
          })
        const identify = Effect.gen(function* () {
          yield* link.stage("GET", command(CMD.GET), t)
          const [count] = yield* link.body("GET", 1, t)
          const got = yield* link.body("GET", count! + 1, t)
          yield* link.ack("GET", t)
          const version = got[0]!
          const commands = new Set(got.subarray(1))

          yield* link.stage("GET_ID", command(CMD.GET_ID), t)
          const [idLength] = yield* link.body("GET_ID", 1, t)
          const idBytes = yield* link.body("GET_ID", idLength! + 1, t)
          yield* link.ack("GET_ID", t)
          const pid = (idBytes[0]! << 8) | idBytes[1]!
          const part = findStm32Part(pid)
          if (wanted !== undefined && wanted !== pid) {
            const expectedPart = findStm32Part(wanted)
            return yield* new ChipMismatch({
              port,
              detected: `${part?.name ?? "unknown STM32"} (PID ${pidHex(pid)})`,
              expected: `${expectedPart?.name ?? "STM32"} (PID ${pidHex(wanted)})`,
              source: "config"
            })
          }
          if (part === undefined) {
            return yield* new ProtocolError({
              port,
              command: "GET_ID",
              detail: `product id ${pidHex(pid)} is not in the part table (src/flash/stm32/parts.ts)`
            })
          }
          const uid = yield* readMemory(part.uidAddress, 12, "READ_MEMORY unique id")
          const sizeBytes = yield* readMemory(part.flashSizeAddress, 2, "READ_MEMORY flash size")
          const flashKiB = sizeBytes[0]! | (sizeBytes[1]! << 8)
          const uidHex = Buffer.from(uid).toString("hex")

          return { version, commands, part, uidHex, flashKiB, pid }
        })
        const { version, commands, part, uidHex, flashKiB, pid } = yield* link.link.guard(identify)

        const board: DetectedBoard = {
          port,
          platform,
          chip: part.name,
          identity: { kind: "uid", value: uidHex },
          flashSizeBytes: flashKiB * 1024,
          details: {
            pid: pidHex(pid),
            bootloader: `AN3155 v${version >> 4}.${version & 0xf}`,
            erase: commands.has(CMD.EXTENDED_ERASE) ? "extended (0x44)" : "standard (0x43)",
            flashSize: `${flashKiB}KB`,
            uid: uidHex,
            baudRate: String(options.baudRate),
            resetMapping: options.before === "no_reset" ? "no_reset" : mapping
          }
        }
        return makeSession(link, part, board, commands, readMemory, settings, options, mapping)
      })

    return { platform: STM32_PLATFORMS, connect }
  })

const makeSession = (
  link: An3155Link,
  part: Stm32Part,
  board: DetectedBoard,
  commands: ReadonlySet<number>,
  readMemory: (at: number, length: number, step: string) => Effect.Effect<Uint8Array, FlashFailure>,
  settings: Stm32FlasherConfig,
  options: SessionOptions,
  mapping: Mapping
): FlashSession => {
  const port = board.port
  const t = settings.commandTimeout
  const flashBytes = board.flashSizeBytes ?? 0
  /** Offsets are relative to the flash base; absolute 0x08… addresses are accepted too. */
  const absolute = (offset: number) => (offset >= part.flashBase ? offset : part.flashBase + offset)

  const extended = commands.has(CMD.EXTENDED_ERASE)
  const massErase = extended
    ? Effect.zipRight(
        link.stage("EXTENDED_ERASE", command(CMD.EXTENDED_ERASE), t),
        link.stage("EXTENDED_ERASE mass", Uint8Array.of(0xff, 0xff, 0x00), settings.eraseTimeout)
      )
    : Effect.zipRight(
        link.stage("ERASE", command(CMD.ERASE), t),
        link.stage("ERASE global", Uint8Array.of(0xff, 0x00), settings.eraseTimeout)
      )

  /** The pages the regions touch, erased in one list command. */
  const pageErase = (regions: ReadonlyArray<FlashRegion>, pageBytes: number) => {
    const pages = new Set<number>()
    for (const region of regions) {
      const start = absolute(region.offset) - part.flashBase
      for (let p = Math.floor(start / pageBytes); p * pageBytes < start + region.data.length; p++) pages.add(p)
    }
    const list = [...pages].sort((a, b) => a - b)
    // The standard ERASE lists at most 256 pages (its count byte is N-1).
    if (!extended && list.length > 256)
      return Effect.fail(
        new ImageInvalid({
          region: regions[0]!.name,
          detail: `${list.length} pages are more than one ERASE can list (256); use erase: mass`
        })
      )
    if (extended) {
      const body = [(list.length - 1) >> 8, (list.length - 1) & 0xff, ...list.flatMap((p) => [p >> 8, p & 0xff])]
      return Effect.zipRight(
        link.stage("EXTENDED_ERASE", command(CMD.EXTENDED_ERASE), t),
        link.stage(`EXTENDED_ERASE ${list.length} pages`, Uint8Array.from([...body, xorOf(body)]), settings.eraseTimeout)
      )
    }
    const body = [list.length - 1, ...list]
    return Effect.zipRight(
      link.stage("ERASE", command(CMD.ERASE), t),
      link.stage(`ERASE ${list.length} pages`, Uint8Array.from([...body, xorOf(body)]), settings.eraseTimeout)
    )
  }

  /** READ_MEMORY of a verified flash block: its stages in one write when that is safe (see ./an3155.ts). */
  const verifyRead = (at: number, length: number) => {
    const step = `READ_MEMORY 0x${at.toString(16)}`
    const stages = concatBytes(command(CMD.READ_MEMORY), address(at), Uint8Array.of(length - 1, (length - 1) ^ 0xff))
    if (!settings.pipelineReads || !pipelineSafe(stages)) return readMemory(at, length, step)
    return Effect.gen(function* () {
      yield* link.send(stages)
      yield* link.ack(step, t)
      yield* link.ack(`${step} (address)`, t)
      yield* link.ack(`${step} (length)`, t)
      return yield* link.body(step, length, t)
    })
  }

  const write: FlashSession["write"] = (regions, onProgress) =>
    link.link.guard(
      Effect.gen(function* () {
        for (const region of regions) {
          const start = absolute(region.offset) - part.flashBase
          if (region.data.length === 0) return yield* new ImageInvalid({ region: region.name, detail: "the image is empty" })
          if (start < 0 || start + region.data.length > flashBytes || start % 4 !== 0) {
            return yield* new ImageInvalid({
              region: region.name,
              detail: `0x${absolute(region.offset).toString(16)}..+${region.data.length} does not fit the ${flashBytes / 1024} KB flash at 0x${part.flashBase.toString(16)} (or is not word-aligned)`
            })
          }
        }
        const pageBytes = part.pageBytes
        if (settings.erase === "pages" && pageBytes === undefined) {
          return yield* new ImageInvalid({ region: regions[0]!.name, detail: `${part.name} erases sectors, not pages; use erase: mass` })
        }
        const wireStart = link.wireBytes
        yield* settings.erase === "pages" && pageBytes !== undefined ? pageErase(regions, pageBytes) : massErase
        const results: Array<WrittenRegion> = []
        for (const region of regions) {
          const base = absolute(region.offset)
          const blocks = blocksOf(region.data, settings.blockBytes)
          const regionWire = link.wireBytes
          for (const block of blocks) {
            const at = base + block.offset
            const step = `WRITE_MEMORY 0x${at.toString(16)}`
            // Erased flash already reads 0xFF; the read-back below still checks these blocks.
            if (!block.data.every((b) => b === 0xff)) {
              yield* link.stage(step, command(CMD.WRITE_MEMORY), t)
              yield* link.stage(`${step} (address)`, address(at), t)
              yield* link.stage(`${step} (data)`, dataFrame(block.data), t)
            }
            yield* onProgress({
              region: region.name,
              written: Math.min(region.data.length, block.offset + block.data.length),
              total: region.data.length,
              wireBytes: link.wireBytes - regionWire
            })
          }
          for (const block of blocks) {
            const at = base + block.offset
            const back = yield* verifyRead(at, block.data.length)
            if (!back.every((value, i) => value === block.data[i])) {
              return yield* new VerifyFailed({
                port,
                region: `${region.name} block at 0x${at.toString(16)}`,
                offset: at,
                expected: md5Hex(block.data),
                received: md5Hex(back)
              })
            }
          }
          results.push(writtenRegion(region, "readback"))
        }
        const report: WriteReport = { regions: results, wireBytes: link.wireBytes - wireStart, retries: 0 }
        return report
      })
    )

  const resetToApp: Effect.Effect<void, FlashFailure> = Effect.gen(function* () {
    yield* link.link.guard(
      Effect.zipRight(link.stage("GO", command(CMD.GO), t), link.stage(`GO 0x${part.flashBase.toString(16)}`, address(part.flashBase), t))
    )
    if (options.before !== "no_reset") {
      yield* runReset(link.serial, stm32ReleaseBoot0(mapping)).pipe(Effect.catchTag("SignalsUnsupported", () => Effect.void))
    }
  })

  return { board, write, resetToApp }
}

/** 256-byte blocks; the last one padded with 0xFF to a multiple of 4 (the bootloader writes words). */
const blocksOf = (data: Uint8Array, size: number): ReadonlyArray<{ readonly offset: number; readonly data: Uint8Array }> => {
  const blocks: Array<{ offset: number; data: Uint8Array }> = []
  for (let offset = 0; offset < data.length; offset += size) {
    const chunk = data.subarray(offset, offset + size)
    const padded = new Uint8Array(Math.ceil(chunk.length / 4) * 4).fill(0xff)
    padded.set(chunk)
    blocks.push({ offset, data: padded })
  }
  return blocks
}
