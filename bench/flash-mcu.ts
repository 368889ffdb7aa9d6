/**
 * AVR and STM32 flash benchmark: our native flashers vs avrdude / stm32flash,
 * same image, each against a fresh emulator in its own process
 * (sim/boardProcess.ts — a chip does not share the flasher's event loop, and the
 * Debian tools are separate processes too), paced at the baud (10 bit times a
 * byte at 8N1, 11 at 8E1, both directions) with datasheet flash timing
 * (ATmega328P page erase/write 4.5 ms each, erase overlapped with the data as
 * optiboot 4.4 does; STM32F103 52.5 µs per 16-bit write, 20 ms per page or mass
 * erase). Run alone: `npx tsx bench/flash-mcu.ts`; `npm run bench:flash` adds it.
 *
 * Utilisation, over our write phase (write + read-back verify):
 *
 *   wire      = wire bytes (payload + protocol, both directions) × bits/byte ÷ baud
 *   raw util  = wire ÷ wall
 *   util      = wire ÷ (wall − turnaround)          ("line rate minus protocol turnaround")
 *   turnaround = busy + late + round trips × τ_link
 *
 * - busy: time the emulated chip kept the host waiting while it programmed or
 *   erased flash (its own count, beyond the bytes' wire time);
 * - late: how much later than the line said the emulator's pacing timers
 *   delivered or answered (Node timers have 1 ms granularity; its own count);
 * - round trips: how often the host spoke after the device did (counted by the
 *   emulator, so extra round trips a flasher makes are charged only τ_link);
 * - τ_link: the pty + socat + serialport hop there and back with no pacing timer
 *   involved (replies under the pacing slack), the median of 40 pings of a bare
 *   serialport client on a separate emulator (AVR GET_SYNC, STM32 0x7F → NACK).
 * Everything else — our host-side time between a reply and the next request,
 * writes and reads through serialport, Effect — stays in the denominator.
 * Target: util ≥ 0.85 for each platform, and our time ≤ the Debian tool's.
 */
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { serialPortStream } from "../src/serial/portBinding.js"
import { makeAvrFlasher } from "../src/flash/avr/AvrFlasher.js"
import type { FlasherService, SessionOptions } from "../src/flash/Flasher.js"
import { encodeIntelHex } from "../src/flash/formats/intelHex.js"
import { makeStm32Flasher } from "../src/flash/stm32/Stm32Flasher.js"
import { type SerialPorts, SerialPortsLive } from "../src/serial/index.js"
import { type BoardFigures, type BoardProcess, type BoardSpec, startBoardProcess } from "../sim/boardProcess.js"

const BAUD = 115200
const AVR_IMAGE = 30 * 1024
const STM32_IMAGE = 64 * 1024
const TARGET = 0.85
const TOOL_TIMEOUT_MS = 90_000
const PINGS = 40

interface Phase {
  readonly busyMs: number
  readonly lateMs: number
  readonly roundTrips: number
}

interface Figures {
  readonly platform: "avr" | "stm32"
  readonly bitsPerByte: number
  readonly oursSeconds: number
  readonly writeSeconds: number
  readonly wireBytes: number
  readonly write: Phase
  readonly minimumRoundTrips: number
  readonly minimumNote: string
  readonly tauMs: number
  readonly oursOk: boolean
  readonly toolName: string
  readonly toolSeconds: number
  readonly tool: Phase
  readonly toolOk: boolean
}

const image = (size: number) => {
  const data = Uint8Array.from({ length: size }, (_, i) => ((i * 2654435761) >>> 13) & 0xff)
  data.set(Buffer.from("FWVER=bench;"), 256)
  return data
}

const between = (before: BoardFigures, after: BoardFigures): Phase => ({
  busyMs: after.busyMs - before.busyMs,
  lateMs: after.line.lateMs - before.line.lateMs,
  roundTrips: after.line.turnarounds - before.line.turnarounds
})

const runTool = (program: string, args: ReadonlyArray<string>) =>
  new Promise<{ seconds: number; ok: boolean; output: string }>((resolve) => {
    const started = performance.now()
    execFile(program, [...args], { timeout: TOOL_TIMEOUT_MS }, (error, stdout, stderr) =>
      resolve({ seconds: (performance.now() - started) / 1000, ok: !error, output: stdout + stderr })
    )
  })

const tempFile = (name: string, content: string | Uint8Array) => {
  const dir = mkdtempSync(join(tmpdir(), "fp-bench-mcu-"))
  const file = join(dir, name)
  writeFileSync(file, content)
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

const withBoard = async <A>(spec: BoardSpec, use: (board: BoardProcess) => Promise<A>): Promise<A> => {
  const board = await startBoardProcess(spec)
  try {
    return await use(board)
  } finally {
    await board.stop()
  }
}

const sameBytes = async (board: BoardProcess, data: Uint8Array) => Buffer.from(await board.flash(0, data.length)).equals(Buffer.from(data))

/**
 * τ_link: a bare serialport client pinging a fresh emulator with the smallest
 * exchange (both messages under the pacing slack, so no pacing timer runs):
 * round trip minus the bytes' wire time, median.
 */
const pingLink = (spec: BoardSpec, bitsPerByte: number, setup: ReadonlyArray<number>, ping: ReadonlyArray<number>, replyLength: number) =>
  withBoard(spec, async (board) => {
    const port = serialPortStream({ path: board.hostPath, baudRate: BAUD })
    await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())))
    try {
      let buffered = 0
      let wanted = 0
      let wake = () => undefined as void
      port.on("data", (chunk: Buffer) => {
        buffered += chunk.length
        if (buffered >= wanted) wake()
      })
      const exchange = (bytes: ReadonlyArray<number>, length: number) =>
        new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error("ping: no answer within 1 s")), 1000)
          buffered = 0
          wanted = length
          const started = performance.now()
          wake = () => {
            clearTimeout(timer)
            resolve(performance.now() - started)
          }
          port.write(Buffer.from(bytes))
        })
      if (setup.length > 0) await exchange(setup, 1)
      const before = await board.figures()
      const extra: Array<number> = []
      for (let i = 0; i < PINGS; i++)
        extra.push((await exchange(ping, replyLength)) - ((ping.length + replyLength) * bitsPerByte * 1000) / BAUD)
      // Should a pacing timer have run after all, its lateness is counted apart (it is in `late`), not in τ_link.
      const lateEach = ((await board.figures()).line.lateMs - before.line.lateMs) / PINGS
      extra.sort((a, b) => a - b)
      return Math.max(0, extra[Math.floor(PINGS / 2)]! - lateEach)
    } finally {
      await new Promise<void>((resolve) => port.close(() => resolve()))
    }
  })

/** Connect + write (incl. verify) + start the app with our flasher; the write phase timed and accounted alone. */
const ours = (
  make: Effect.Effect<FlasherService, never, SerialPorts>,
  board: BoardProcess,
  platform: "avr" | "stm32",
  options: SessionOptions,
  data: Uint8Array
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const flasher = yield* make
      const started = performance.now()
      const session = yield* flasher.connect(board.hostPath, platform, options)
      const before = yield* Effect.promise(() => board.figures())
      const writeStarted = performance.now()
      const report = yield* session.write([{ name: "firmware", offset: 0, data }], () => Effect.void)
      const writeSeconds = (performance.now() - writeStarted) / 1000
      const after = yield* Effect.promise(() => board.figures())
      yield* session.resetToApp
      return { oursSeconds: (performance.now() - started) / 1000, writeSeconds, wireBytes: report.wireBytes, write: between(before, after) }
    })
  ).pipe(Effect.provide(SerialPortsLive), Effect.timeout("90 seconds"))

const zero: BoardFigures = { busyMs: 0, line: { bytesIn: 0, bytesOut: 0, turnarounds: 0, lateMs: 0 }, commands: {} }

const benchAvr = async (): Promise<Figures> => {
  const data = image(AVR_IMAGE)
  const spec: BoardSpec = { kind: "avr", options: { pace: true, baud: BAUD } }
  const tauMs = await pingLink(spec, 10, [], [0x30, 0x20], 2)
  const mine = await withBoard(spec, async (board) => {
    const measured = await Effect.runPromise(
      ours(
        makeAvrFlasher(),
        board,
        "avr",
        { baudRate: BAUD, before: "no_reset", connectAttempts: 2, mcu: { expectedChip: "atmega328p" } },
        data
      )
    )
    return { ...measured, oursOk: await sameBytes(board, data) }
  })
  const hex = tempFile("bench.hex", encodeIntelHex([{ address: 0, data }]))
  try {
    const theirs = await withBoard(spec, async (board) => {
      const tool = await runTool("avrdude", [
        "-c",
        "arduino",
        "-p",
        "m328p",
        "-P",
        board.hostPath,
        "-b",
        String(BAUD),
        "-U",
        `flash:w:${hex.file}:i`
      ])
      return { tool, phase: between(zero, await board.figures()), ok: tool.ok && (await sameBytes(board, data)) }
    })
    const pages = AVR_IMAGE / 128
    return {
      platform: "avr",
      bitsPerByte: 10,
      ...mine,
      // one per PROG_PAGE (the chip programs before it reads on) and one per 256-byte READ_PAGE
      minimumRoundTrips: pages + Math.ceil(AVR_IMAGE / 256),
      minimumNote: "protocol minimum",
      tauMs,
      toolName: "avrdude",
      toolSeconds: theirs.tool.seconds,
      tool: theirs.phase,
      toolOk: theirs.ok
    }
  } finally {
    hex.remove()
  }
}

const benchStm32 = async (): Promise<Figures> => {
  const data = image(STM32_IMAGE)
  const spec: BoardSpec = { kind: "stm32", options: { pace: true, baud: BAUD, flashKiB: 128 } }
  // after the 0x7F sync another 0x7F is an invalid command: one byte out, NACK back
  const tauMs = await pingLink(spec, 11, [0x7f], [0x7f], 1)
  const mine = await withBoard(spec, async (board) => {
    const measured = await Effect.runPromise(
      ours(
        makeStm32Flasher(),
        board,
        "stm32",
        { baudRate: BAUD, before: "no_reset", connectAttempts: 2, mcu: { expectedChip: "0x410" } },
        data
      )
    )
    return { ...measured, oursOk: await sameBytes(board, data) }
  })
  const bin = tempFile("bench.bin", data)
  try {
    const theirs = await withBoard(spec, async (board) => {
      // -m 8n1: a Linux pty cannot hold PARENB and stm32flash checks it (see test/sim/stm32-stm32flash.test.ts); the emulator still paces 11 bits.
      const tool = await runTool("stm32flash", ["-b", String(BAUD), "-m", "8n1", "-w", bin.file, "-v", "-g", "0x0", board.hostPath])
      return { tool, phase: between(zero, await board.figures()), ok: tool.ok && (await sameBytes(board, data)) }
    })
    const blocks = STM32_IMAGE / 256
    return {
      platform: "stm32",
      bitsPerByte: 11,
      ...mine,
      // AN3155's flow waits for the ACK of every stage: erase 2, WRITE_MEMORY 3 and READ_MEMORY 3 per 256-byte block;
      // ours sends READ_MEMORY's stages in one write (src/flash/stm32/an3155.ts): 1 per block
      minimumRoundTrips: 2 + blocks * 6,
      minimumNote: "AN3155 stop-and-wait flow",
      tauMs,
      toolName: "stm32flash",
      toolSeconds: theirs.tool.seconds,
      tool: theirs.phase,
      toolOk: theirs.ok
    }
  } finally {
    bin.remove()
  }
}

const utilisation = (f: Figures) => {
  const wire = (f.wireBytes * f.bitsPerByte) / BAUD
  const turnaround = (f.write.busyMs + f.write.lateMs + f.write.roundTrips * f.tauMs) / 1000
  return { wire, turnaround, raw: wire / f.writeSeconds, util: wire / (f.writeSeconds - turnaround) }
}

const describe = (f: Figures): ReadonlyArray<string> => {
  const u = utilisation(f)
  const host = ((f.writeSeconds - u.wire - u.turnaround) / f.write.roundTrips) * 1000
  return [
    `${f.platform}: ${BAUD} baud ${f.bitsPerByte === 11 ? "8E1" : "8N1"}, write+verify ${f.wireBytes} wire bytes in ${f.writeSeconds.toFixed(2)} s (bytes alone ${u.wire.toFixed(2)} s)${f.oursOk ? "" : " (flash CONTENT WRONG)"}`,
    `${f.platform}: turnaround ${u.turnaround.toFixed(2)} s = flash busy ${(f.write.busyMs / 1000).toFixed(2)} s + emulator timer lateness ${(f.write.lateMs / 1000).toFixed(2)} s + ${f.write.roundTrips} round trips (${f.minimumNote} ${f.minimumRoundTrips}) × τ_link ${f.tauMs.toFixed(2)} ms; our host time ${host.toFixed(2)} ms per round trip`,
    `${f.platform}: line_util=${u.util.toFixed(3)} (raw ${u.raw.toFixed(3)} without subtracting turnaround; target ≥ ${TARGET}: ${u.util >= TARGET ? "met" : "MISSED"})`,
    `${f.platform}: ours ${f.oursSeconds.toFixed(2)} s (connect+write+verify+start) vs ${f.toolName} ${f.toolSeconds.toFixed(2)} s${f.toolOk ? "" : " (tool FAILED)"} → vs_${f.toolName}=${(f.toolSeconds / f.oursSeconds).toFixed(2)}`,
    `${f.platform}: ${f.toolName} on its emulator: ${f.tool.roundTrips} round trips, flash busy ${(f.tool.busyMs / 1000).toFixed(2)} s, timer lateness ${(f.tool.lateMs / 1000).toFixed(2)} s`
  ]
}

export const runMcuFlashBench = async (): Promise<ReadonlyArray<string>> => {
  const avr = await benchAvr()
  const stm32 = await benchStm32()
  return [
    "line_util = wire bytes × bits/byte ÷ baud ÷ (write phase − turnaround); turnaround = emulated flash busy + emulator timer lateness + round trips × τ_link (see bench/flash-mcu.ts)",
    ...describe(avr),
    ...describe(stm32),
    `bench flash-mcu avr_util=${utilisation(avr).util.toFixed(3)} stm32_util=${utilisation(stm32).util.toFixed(3)} vs_avrdude=${(avr.toolSeconds / avr.oursSeconds).toFixed(2)} vs_stm32flash=${(stm32.toolSeconds / stm32.oursSeconds).toFixed(2)}`
  ]
}

/** For bench/flash.ts: `registerFlashBenchSection(mcuFlashBenchSection)`. */
export const mcuFlashBenchSection = { title: "AVR / STM32 (flash-mcu)", run: runMcuFlashBench }

const isMain = import.meta.url === `file://${process.argv[1]}`
if (isMain) {
  runMcuFlashBench().then(
    (lines) => {
      for (const line of lines) console.log(line)
      process.exit(0)
    },
    (error) => {
      console.error("bench flash-mcu failed:", error)
      process.exit(1)
    }
  )
}
