import { type ChildProcess, fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { type AvrEmulatorOptions, startAvrBoard } from "./avr/emulator.js"
import { startEspBoard } from "./esp/board.js"
import type { EspEmulatorOptions } from "./esp/types.js"
import type { PacedLinkStats } from "./pacedLink.js"
import { type Stm32EmulatorOptions, startStm32Board } from "./stm32/emulator.js"

/**
 * An emulated AVR, STM32 or ESP board in its own Node process, the way a benchmark
 * needs it: a real chip does not share the flasher's event loop, and avrdude /
 * stm32flash (separate processes) must meet the same emulator as our in-process
 * flashers. The parent talks to it over the IPC channel: figures (busy time,
 * line statistics) and flash contents on request, `stop` ends it.
 *
 * ```ts
 * const board = await startBoardProcess({ kind: "avr", options: { pace: true, baud: 115200 } })
 * board.hostPath            // open this
 * await board.figures()     // { busyMs, line: { turnarounds, lateMs, … } }
 * await board.stop()
 * ```
 */

export type BoardSpec =
  | { readonly kind: "avr"; readonly options: Omit<AvrEmulatorOptions, "devicePath" | "tests"> }
  | { readonly kind: "stm32"; readonly options: Omit<Stm32EmulatorOptions, "devicePath" | "tests"> }
  | { readonly kind: "esp"; readonly options: Omit<EspEmulatorOptions, "devicePath" | "onVanish"> }

export interface BoardFigures {
  /** Host wait on flash programming / erasing beyond the wire, ms. */
  readonly busyMs: number
  readonly line: PacedLinkStats
  readonly commands: Readonly<Record<string, number>>
}

export interface BoardProcess {
  readonly hostPath: string
  readonly figures: () => Promise<BoardFigures>
  readonly flash: (from: number, length: number) => Promise<Uint8Array>
  /** ESP only: reset the chip into its ROM bootloader or its application (the next board on the line). */
  readonly reset: (mode: "bootloader" | "app") => Promise<void>
  readonly stop: () => Promise<void>
}

type Request =
  | { readonly id: number; readonly op: "figures" }
  | { readonly id: number; readonly op: "flash"; readonly from: number; readonly length: number }
  | { readonly id: number; readonly op: "reset"; readonly mode: "bootloader" | "app" }
  | { readonly id: number; readonly op: "stop" }
type Reply = { readonly id: number; readonly figures?: BoardFigures; readonly flash?: string; readonly error?: string }

const START_TIMEOUT_MS = 15_000
const REPLY_TIMEOUT_MS = 10_000

export const startBoardProcess = (spec: BoardSpec): Promise<BoardProcess> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = fork(fileURLToPath(import.meta.url), [JSON.stringify(spec)], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "ignore", "inherit", "ipc"]
    })
    const pending = new Map<number, (reply: Reply) => void>()
    let next = 0
    const startTimer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`board process (${spec.kind}) did not start within ${START_TIMEOUT_MS} ms`))
    }, START_TIMEOUT_MS)
    const ask = (request: {
      readonly op: Request["op"]
      readonly from?: number
      readonly length?: number
      readonly mode?: "bootloader" | "app"
    }) =>
      new Promise<Reply>((done, fail) => {
        const id = next++
        const timer = setTimeout(() => {
          pending.delete(id)
          fail(new Error(`board process (${spec.kind}) did not answer "${request.op}" within ${REPLY_TIMEOUT_MS} ms`))
        }, REPLY_TIMEOUT_MS)
        pending.set(id, (reply) => {
          clearTimeout(timer)
          if (reply.error !== undefined) fail(new Error(reply.error))
          else done(reply)
        })
        child.send({ ...request, id })
      })
    const exited = new Promise<void>((done) => child.once("exit", () => done()))
    child.once("exit", (code) => {
      clearTimeout(startTimer)
      reject(new Error(`board process (${spec.kind}) exited with ${code} before it was ready`))
    })
    child.on("message", (message: Reply | { readonly ready: string }) => {
      if ("ready" in message) {
        clearTimeout(startTimer)
        resolve({
          hostPath: message.ready,
          figures: () => ask({ op: "figures" }).then((r) => r.figures!),
          flash: (from, length) => ask({ op: "flash", from, length }).then((r) => new Uint8Array(Buffer.from(r.flash!, "base64"))),
          reset: (mode) => ask({ op: "reset", mode }).then(() => undefined),
          stop: async () => {
            if (child.exitCode !== null || child.signalCode !== null) return
            await ask({ op: "stop" }).catch(() => child.kill("SIGKILL"))
            await Promise.race([exited, new Promise((done) => setTimeout(done, 3000))])
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
          }
        })
        return
      }
      pending.get(message.id)?.(message)
      pending.delete(message.id)
    })
  })

/** What the child side serves, whichever emulator is behind it. */
interface ServedBoard {
  readonly hostPath: string
  readonly flash: (from: number, length: number) => Uint8Array
  /** AVR and STM32 only. */
  readonly figures?: () => BoardFigures
  /** ESP only. */
  readonly reset?: (mode: "bootloader" | "app") => Promise<void>
  readonly stop: () => Promise<void>
}

const startServedBoard = async (spec: BoardSpec): Promise<ServedBoard> => {
  if (spec.kind === "esp") {
    const board = await startEspBoard(spec.options)
    return {
      hostPath: board.hostPath,
      flash: (from, length) => board.emulator.readFlash(from, length),
      reset: (mode) => board.emulator.reset(mode),
      stop: board.stop
    }
  }
  const board = spec.kind === "avr" ? await startAvrBoard(spec.options) : await startStm32Board(spec.options)
  return {
    hostPath: board.hostPath,
    flash: (from, length) => board.emulator.flash.subarray(from, from + length),
    figures: () => ({
      busyMs: board.emulator.stats.busyMs,
      line: { ...board.emulator.line },
      commands: { ...board.emulator.stats.commands }
    }),
    stop: board.stop
  }
}

/** The child side: start the board, answer the parent until `stop`. */
const serve = async (spec: BoardSpec) => {
  const board = await startServedBoard(spec)
  const reply = (message: Reply) => process.send?.(message)
  const notFor = (id: number, op: string) => reply({ id, error: `${op} is not available for ${spec.kind} boards` })
  process.on("message", (request: Request) => {
    switch (request.op) {
      case "figures":
        return board.figures ? reply({ id: request.id, figures: board.figures() }) : notFor(request.id, "figures")
      case "flash":
        return reply({ id: request.id, flash: Buffer.from(board.flash(request.from, request.length)).toString("base64") })
      case "reset":
        if (!board.reset) return notFor(request.id, "reset")
        return void board.reset(request.mode).then(
          () => reply({ id: request.id }),
          (error: unknown) => reply({ id: request.id, error: error instanceof Error ? error.message : String(error) })
        )
      case "stop":
        return void board.stop().then(() => {
          reply({ id: request.id })
          process.disconnect()
        })
    }
  })
  // The parent died: do not outlive it.
  process.on("disconnect", () => void board.stop().then(() => process.exit(0)))
  process.send?.({ ready: board.hostPath })
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send !== undefined) {
  serve(JSON.parse(process.argv[2]!) as BoardSpec).catch((error: unknown) => {
    console.error("board process:", error instanceof Error ? error.message : error)
    process.exit(1)
  })
}
