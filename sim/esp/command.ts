/**
 * `provision sim esp`: emulated ESP boards on pseudo-terminals for trying the flasher
 * by hand. Prints one line per board (host pty path, chip, MAC, faults) and keeps them
 * running until interrupted. Wire it into `provision sim` with
 * `Command.withSubcommands([..., espSimCommand])`.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect } from "effect"
import { startEspBoards } from "./board.js"
import { parseEspFault } from "./faults.js"
import type { EspChip, EspFault } from "./types.js"

const boards = Options.integer("boards").pipe(Options.withDefault(1), Options.withDescription("How many boards to emulate"))
const chip = Options.choice("chip", ["esp32", "esp8266"] as const).pipe(Options.withDefault("esp32" as const))
const faults = Options.text("fault").pipe(
  Options.repeated,
  Options.withDescription("<board number>=<fault>, e.g. 2=corrupt_block:3 or 1=no_sync (repeatable)")
)
const noPace = Options.boolean("no-pace").pipe(Options.withDescription("Move bytes as fast as the pty goes instead of at the baud rate"))

const faultsByBoard = (specs: ReadonlyArray<string>, count: number) =>
  Effect.try({
    try: () => {
      const map = new Map<number, Array<EspFault>>()
      for (const spec of specs) {
        const match = /^(\d+)=(.+)$/.exec(spec)
        const index = match ? Number(match[1]) : NaN
        if (!match || index < 1 || index > count) {
          throw new Error(`--fault "${spec}": expected <board 1..${count}>=<fault>, e.g. 1=corrupt_block:3`)
        }
        map.set(index, [...(map.get(index) ?? []), parseEspFault(match[2]!)])
      }
      return map
    },
    catch: (error) => (error instanceof Error ? error : new Error(String(error)))
  })

const macFor = (kind: EspChip, index: number) =>
  `${kind === "esp32" ? "24:0a:c4" : "18:fe:34"}:00:${(index >> 8).toString(16).padStart(2, "0")}:${(index & 0xff).toString(16).padStart(2, "0")}`

export const espSimCommand = Command.make("esp", { boards, chip, faults, noPace }, (options) =>
  Effect.gen(function* () {
    const byBoard = yield* faultsByBoard(options.faults, options.boards)
    const started = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          startEspBoards(
            Array.from({ length: options.boards }, (_, i) => ({
              chip: options.chip,
              mac: macFor(options.chip, i + 1),
              pace: !options.noPace,
              faults: byBoard.get(i + 1) ?? []
            }))
          ),
        catch: (error) => (error instanceof Error ? error : new Error(String(error)))
      }),
      (list) => Effect.promise(() => Promise.all(list.map((b) => b.stop())))
    )
    for (const [i, board] of started.entries()) {
      const faultText = (byBoard.get(i + 1) ?? []).map((f) => f.kind).join(",")
      yield* Console.log(
        `esp board ${i + 1}: ${board.hostPath} chip=${board.emulator.chip} mac=${board.emulator.mac}${faultText ? ` faults=${faultText}` : ""}`
      )
    }
    yield* Console.log("Flash with: provision flash --before no_reset (Ctrl-C stops the boards)")
    return yield* Effect.never
  }).pipe(Effect.scoped)
).pipe(Command.withDescription("Emulated ESP32/ESP8266 ROM bootloaders on pseudo-terminals"))
