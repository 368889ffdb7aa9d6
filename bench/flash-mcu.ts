/**
 * AVR and STM32 flash benchmark: our native flashers vs avrdude / stm32flash,
 * each against a fresh paced emulator (bytes cost 10 bit times at 8N1, 11 at
 * 8E1, both directions), same image. Run alone: `npx tsx bench/flash-mcu.ts`;
 * bench/flash.ts can add it with `registerFlashBenchSection(mcuFlashBenchSection)`.
 *
 * line_util = wire bytes/s ÷ (baud / bits per byte), over the write+verify phase.
 * Both protocols are strict request/response (the chips' UARTs have no FIFO to
 * pipeline into), so every exchange adds a turnaround τ (host scheduling, USB
 * latency, the bootloader's reaction) on top of the bytes; the best a
 * request/response flasher can reach is wire / (wire + exchanges·τ).
 */
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeAvrFlasher } from "../src/flash/avr/AvrFlasher.js"
import type { FlasherService, SessionOptions } from "../src/flash/Flasher.js"
import { encodeIntelHex } from "../src/flash/formats/intelHex.js"
import { makeStm32Flasher } from "../src/flash/stm32/Stm32Flasher.js"
import { type SerialPorts, SerialPortsLive } from "../src/serial/index.js"
import { startAvrBoard } from "../sim/avr/emulator.js"
import { startStm32Board } from "../sim/stm32/emulator.js"

const BAUD = 115200
const AVR_IMAGE = 30 * 1024
const STM32_IMAGE = 64 * 1024
/** Reference turnaround for the "line rate minus turnaround" ceiling: a USB-serial adapter's 1 ms frame. */
const TAU_REF_MS = 1
const TOOL_TIMEOUT_MS = 90_000

interface Figures {
  readonly platform: string
  readonly oursSeconds: number
  readonly writeSeconds: number
  readonly wireBytes: number
  readonly exchanges: number
  readonly bitsPerByte: number
  readonly toolSeconds: number
  readonly toolName: string
  readonly toolOk: boolean
}

const image = (size: number) => {
  const data = Uint8Array.from({ length: size }, (_, i) => ((i * 2654435761) >>> 13) & 0xff)
  data.set(Buffer.from("FWVER=bench;"), 256)
  return data
}

const runTool = (program: string, args: ReadonlyArray<string>) =>
  new Promise<{ seconds: number; ok: boolean; output: string }>((resolve) => {
    const started = performance.now()
    execFile(program, [...args], { timeout: TOOL_TIMEOUT_MS }, (error, stdout, stderr) =>
      resolve({ seconds: (performance.now() - started) / 1000, ok: !error, output: stdout + stderr })
    )
  })

/** Connect + write (incl. verify) + reset with our flasher; the write phase timed alone too. */
const ours = (make: Effect.Effect<FlasherService, never, SerialPorts>, port: string, platform: "avr" | "stm32", options: SessionOptions, data: Uint8Array) =>
  Effect.scoped(
    Effect.gen(function* () {
      const flasher = yield* make
      const started = performance.now()
      const session = yield* flasher.connect(port, platform, options)
      const writeStarted = performance.now()
      const report = yield* session.write([{ name: "firmware", offset: 0, data }], () => Effect.void)
      const writeSeconds = (performance.now() - writeStarted) / 1000
      yield* session.resetToApp
      return { oursSeconds: (performance.now() - started) / 1000, writeSeconds, wireBytes: report.wireBytes }
    })
  ).pipe(Effect.provide(SerialPortsLive), Effect.timeout("90 seconds"))

const tempFile = (name: string, content: string | Uint8Array) => {
  const dir = mkdtempSync(join(tmpdir(), "fp-bench-mcu-"))
  const file = join(dir, name)
  writeFileSync(file, content)
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

const benchAvr = async (): Promise<Figures> => {
  const data = image(AVR_IMAGE)
  const mine = await startAvrBoard({ pace: true, baud: BAUD })
  let measured
  try {
    measured = await Effect.runPromise(ours(makeAvrFlasher(), mine.hostPath, "avr", { baudRate: BAUD, before: "no_reset", connectAttempts: 2, mcu: { expectedChip: "atmega328p" } }, data))
  } finally {
    await mine.stop()
  }
  const hex = tempFile("bench.hex", encodeIntelHex([{ address: 0, data }]))
  const theirs = await startAvrBoard({ pace: true, baud: BAUD })
  try {
    const tool = await runTool("avrdude", ["-c", "arduino", "-p", "m328p", "-P", theirs.hostPath, "-b", String(BAUD), "-U", `flash:w:${hex.file}:i`])
    // Per page: LOAD_ADDRESS+PROG_PAGE, then LOAD_ADDRESS+READ_PAGE — each pair one write and one wait.
    const pages = AVR_IMAGE / 128
    return { platform: "avr", ...measured, exchanges: pages * 2, bitsPerByte: 10, toolSeconds: tool.seconds, toolName: "avrdude", toolOk: tool.ok && Buffer.from(theirs.emulator.flash.subarray(0, AVR_IMAGE)).equals(Buffer.from(data)) }
  } finally {
    await theirs.stop()
    hex.remove()
  }
}

const benchStm32 = async (): Promise<Figures> => {
  const data = image(STM32_IMAGE)
  const mine = await startStm32Board({ pace: true, baud: BAUD, flashKiB: 128 })
  let measured
  try {
    measured = await Effect.runPromise(ours(makeStm32Flasher(), mine.hostPath, "stm32", { baudRate: BAUD, before: "no_reset", connectAttempts: 2, mcu: { expectedChip: "0x410" } }, data))
  } finally {
    await mine.stop()
  }
  const bin = tempFile("bench.bin", data)
  const theirs = await startStm32Board({ pace: true, baud: BAUD, flashKiB: 128 })
  try {
    // -m 8n1: a Linux pty cannot hold PARENB and stm32flash checks it (see test/sim/stm32-stm32flash.test.ts); the emulator still paces 11 bits.
    const tool = await runTool("stm32flash", ["-b", String(BAUD), "-m", "8n1", "-w", bin.file, "-v", "-g", "0x0", theirs.hostPath])
    const blocks = STM32_IMAGE / 256
    // erase: 2 exchanges; per block: 3 write stages + 3 read stages.
    return { platform: "stm32", ...measured, exchanges: 2 + blocks * 6, bitsPerByte: 11, toolSeconds: tool.seconds, toolName: "stm32flash", toolOk: tool.ok && Buffer.from(theirs.emulator.flash.subarray(0, STM32_IMAGE)).equals(Buffer.from(data)) }
  } finally {
    await theirs.stop()
    bin.remove()
  }
}

const describe = (f: Figures): ReadonlyArray<string> => {
  const charRate = BAUD / f.bitsPerByte
  const wireSeconds = f.wireBytes / charRate
  const util = f.wireBytes / f.writeSeconds / charRate
  const tauMs = ((f.writeSeconds - wireSeconds) / f.exchanges) * 1000
  const ceiling = wireSeconds / (wireSeconds + (f.exchanges * TAU_REF_MS) / 1000)
  const versusTool = f.toolSeconds / f.oursSeconds
  return [
    `${f.platform}: ${BAUD} baud ${f.bitsPerByte === 11 ? "8E1" : "8N1"}, write+verify ${f.wireBytes} wire bytes in ${f.writeSeconds.toFixed(2)} s (bytes alone: ${wireSeconds.toFixed(2)} s)`,
    `${f.platform}: ${f.exchanges} request/response exchanges, measured turnaround ${tauMs.toFixed(2)} ms each; ceiling with τ=${TAU_REF_MS} ms: ${ceiling.toFixed(3)} of line rate`,
    `${f.platform}: line_util=${util.toFixed(3)} (target ≥ 0.85 × ${ceiling.toFixed(3)} = ${(0.85 * ceiling).toFixed(3)}: ${util >= 0.85 * ceiling ? "met" : "MISSED"})`,
    `${f.platform}: ours ${f.oursSeconds.toFixed(2)} s (connect+write+verify+start) vs ${f.toolName} ${f.toolSeconds.toFixed(2)} s${f.toolOk ? "" : " (tool FAILED)"} → vs_${f.toolName}=${versusTool.toFixed(2)}`
  ]
}

export const runMcuFlashBench = async (): Promise<ReadonlyArray<string>> => {
  const avr = await benchAvr()
  const stm32 = await benchStm32()
  return [
    "τ (turnaround) = (write phase − wire bytes × bits/baud) ÷ exchanges; a strict request/response protocol cannot exceed wire ÷ (wire + exchanges × τ)",
    ...describe(avr),
    ...describe(stm32),
    `bench flash-mcu avr_util=${(avr.wireBytes / avr.writeSeconds / (BAUD / 10)).toFixed(3)} stm32_util=${(stm32.wireBytes / stm32.writeSeconds / (BAUD / 11)).toFixed(3)} vs_avrdude=${(avr.toolSeconds / avr.oursSeconds).toFixed(2)} vs_stm32flash=${(stm32.toolSeconds / stm32.oursSeconds).toFixed(2)}`
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
