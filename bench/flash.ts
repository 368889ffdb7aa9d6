/**
 * `npm run bench:flash` — native ESP flasher throughput (issue §7).
 *
 * The ESP ROM emulator paces every byte at its notional baud rate, so these
 * are line-rate figures, not pty speed. One run:
 *   1. our flasher with Espressif's stub, 1 port: connect at 115200, CHANGE_BAUDRATE
 *      to 921600, load the stub, write a 1 MiB half-compressible app (deflate),
 *      MD5-verify;
 *   2. the same on 8 ports in parallel;
 *   3. esptool-js (Espressif's own JS flasher) with its defaults (stub, compress)
 *      writing the same image to an emulated board at the same 921600 baud;
 *   4. ROM only (`--no-stub`: 1 KiB blocks, one in flight, the ROM answers after
 *      programming), 1 and 8 ports, for comparison.
 * Summary lines: `bench flash ports=8 line_util=… scaling=… vs_esptool=…` (stub on
 * both sides, same baud) and `bench flash rom-only ports=8 line_util=… scaling=…`.
 *
 * Other board families print their figures through `registerFlashBenchSection`.
 */
import { Effect, Layer } from "effect"
import { ESPLoader, Transport } from "esptool-js"
import { createHash } from "node:crypto"
import { makeAppImage, startEspBoard, type EspBoard } from "../sim/esp/index.js"
import { Flasher, type FlashRegion } from "../src/flash/Flasher.js"
import { FlasherLive } from "../src/flash/FlasherLive.js"
import { SerialPortsLive } from "../src/serial/index.js"
import { defaultOffsetsForPlatform } from "../src/flash/esp/chips.js"
import { NodeWebSerialPort } from "../test/support/esptool-js-adapter.js"
import { mcuFlashBenchSection } from "./flash-mcu.js"

const BAUD = 921600
const ROM_BAUD = 115200
const PORTS = 8
const IMAGE_SIZE = 1024 * 1024
const APP_OFFSET = defaultOffsetsForPlatform("esp32").app
/** Whole bench stays bounded: any single phase taking longer than this aborts the run. */
const PHASE_LIMIT = "120 seconds"

/** A figure block another board family (AVR, STM32, RP2040) adds to this script's output. */
export interface FlashBenchSection {
  readonly title: string
  readonly run: () => Promise<ReadonlyArray<string>>
}

const sections: Array<FlashBenchSection> = []
/** Hook for other families: their lines are printed before the final summary line. */
export const registerFlashBenchSection = (section: FlashBenchSection): void => {
  sections.push(section)
}
registerFlashBenchSection(mcuFlashBenchSection)

interface SessionFigures {
  readonly totalSeconds: number
  readonly writeSeconds: number
  readonly wireBytes: number
}

const seconds = (startMs: number) => (performance.now() - startMs) / 1000

const flashOne = (board: EspBoard, region: FlashRegion, stub = true) =>
  Effect.gen(function* () {
    const flasher = yield* (yield* Flasher).forPlatform("esp32")
    const start = performance.now()
    const session = yield* flasher.connect(board.hostPath, "esp32", {
      baudRate: ROM_BAUD,
      flashBaudRate: BAUD,
      before: "no_reset",
      connectAttempts: 3,
      stub
    })
    const writeStart = performance.now()
    const report = yield* session.write([region], () => Effect.void)
    const figures: SessionFigures = { totalSeconds: seconds(start), writeSeconds: seconds(writeStart), wireBytes: report.wireBytes }
    if (report.regions[0]?.verifiedBy !== "md5") return yield* Effect.dieMessage("region not MD5-verified")
    return figures
  }).pipe(Effect.scoped)

const withBoards = <A, E, R>(count: number, use: (boards: ReadonlyArray<EspBoard>) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.promise(() =>
      Promise.all(
        Array.from({ length: count }, (_, i) =>
          startEspBoard({ chip: "esp32", pace: true, baud: ROM_BAUD, mac: `24:0a:c4:00:01:${(i + 1).toString(16).padStart(2, "0")}` })
        )
      )
    ),
    use,
    (boards) => Effect.promise(() => Promise.all(boards.map((board) => board.stop())))
  )

const esptoolJs = (image: Uint8Array) =>
  withBoards(1, ([board]) =>
    Effect.promise(async () => {
      const port = new NodeWebSerialPort(board!.hostPath)
      const transport = new Transport(port as unknown as ConstructorParameters<typeof Transport>[0], false)
      const quiet = { clean: () => undefined, writeLine: () => undefined, write: () => undefined }
      const loader = new ESPLoader({ transport, baudrate: BAUD, romBaudrate: ROM_BAUD, terminal: quiet })
      // esptool-js traces its transport shutdown with console.log even when tracing is off.
      const log = console.log
      console.log = () => undefined
      try {
        return await runEsptool(loader, transport, board!, image)
      } finally {
        console.log = log
      }
    })
  )

const runEsptool = async (loader: ESPLoader, transport: Transport, board: EspBoard, image: Uint8Array) => {
  const start = performance.now()
  await loader.main("no_reset")
  await loader.writeFlash({
    fileArray: [{ data: image, address: APP_OFFSET }],
    flashMode: "keep",
    flashFreq: "keep",
    flashSize: "keep",
    eraseAll: false,
    compress: true,
    calculateMD5Hash: (data) => createHash("md5").update(data).digest("hex")
  })
  const elapsed = seconds(start)
  await transport.disconnect().catch(() => undefined)
  const written = board.emulator.readFlash(APP_OFFSET, image.length)
  if (!Buffer.from(written).equals(Buffer.from(image))) throw new Error("esptool-js left different flash content")
  return elapsed
}

const program = Effect.gen(function* () {
  const image = makeAppImage({ chip: "esp32", version: "bench-1.0.0", size: IMAGE_SIZE, incompressible: 0.5 })
  const region: FlashRegion = { name: "app", offset: APP_OFFSET, data: image }
  const lineBytesPerSecond = BAUD / 10
  console.log(`image: ${image.length} bytes (half compressible), ${BAUD} baud, emulator paced`)

  const single = yield* withBoards(1, ([board]) => flashOne(board!, region)).pipe(Effect.timeout(PHASE_LIMIT))
  const lineUtil = single.wireBytes / single.writeSeconds / lineBytesPerSecond
  console.log(
    `ours 1 port:  session ${single.totalSeconds.toFixed(2)} s, write+verify ${single.writeSeconds.toFixed(2)} s, ` +
      `${single.wireBytes} wire bytes, line utilisation ${lineUtil.toFixed(3)}`
  )

  const parallelStart = performance.now()
  const eight = yield* withBoards(PORTS, (boards) =>
    Effect.forEach(boards, (board) => flashOne(board, region), { concurrency: "unbounded" })
  ).pipe(Effect.timeout(PHASE_LIMIT))
  // Boards start (socat + emulator) outside the timed part for both runs.
  const parallelSeconds = Math.max(...eight.map((f) => f.totalSeconds))
  const scaling = (PORTS * image.length) / parallelSeconds / (image.length / single.totalSeconds)
  console.log(
    `ours ${PORTS} ports: slowest session ${parallelSeconds.toFixed(2)} s (wall incl. board start ${seconds(parallelStart).toFixed(2)} s), ` +
      `aggregate ${((PORTS * image.length) / parallelSeconds / 1024).toFixed(0)} KiB/s of image, scaling ${scaling.toFixed(2)}`
  )

  const esptool = yield* esptoolJs(image).pipe(Effect.timeout(PHASE_LIMIT))
  const vsEsptool = esptool / single.totalSeconds
  console.log(`esptool-js 1 port (stub, compress): ${esptool.toFixed(2)} s vs ours ${single.totalSeconds.toFixed(2)} s`)

  // ROM only: what the same line does without the stub.
  const romSingle = yield* withBoards(1, ([board]) => flashOne(board!, region, false)).pipe(Effect.timeout(PHASE_LIMIT))
  const romLineUtil = romSingle.wireBytes / romSingle.writeSeconds / lineBytesPerSecond
  const romEight = yield* withBoards(PORTS, (boards) =>
    Effect.forEach(boards, (board) => flashOne(board, region, false), { concurrency: "unbounded" })
  ).pipe(Effect.timeout(PHASE_LIMIT))
  const romScaling = (PORTS * romSingle.totalSeconds) / Math.max(...romEight.map((f) => f.totalSeconds))
  console.log(
    `ours ROM only (--no-stub) 1 port: session ${romSingle.totalSeconds.toFixed(2)} s, ${romSingle.wireBytes} wire bytes, ` +
      `line utilisation ${romLineUtil.toFixed(3)}; ${PORTS} ports: slowest ${Math.max(...romEight.map((f) => f.totalSeconds)).toFixed(2)} s`
  )

  for (const section of sections) {
    console.log(`-- ${section.title}`)
    for (const line of yield* Effect.promise(section.run)) console.log(line)
  }
  console.log(`bench flash rom-only ports=${PORTS} line_util=${romLineUtil.toFixed(3)} scaling=${romScaling.toFixed(2)}`)
  console.log(
    `bench flash ports=${PORTS} line_util=${lineUtil.toFixed(3)} scaling=${scaling.toFixed(2)} vs_esptool=${vsEsptool.toFixed(2)}`
  )
})

const isMain = import.meta.url === `file://${process.argv[1]}`
if (isMain) {
  Effect.runPromise(program.pipe(Effect.provide(FlasherLive.pipe(Layer.provideMerge(SerialPortsLive))))).then(
    () => process.exit(0),
    (error) => {
      console.error("bench flash failed:", error)
      process.exit(1)
    }
  )
}
