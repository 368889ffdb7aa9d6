import { Effect, Layer } from "effect"
import { startEspBoard, type EspBoard, type EspEmulatorOptions } from "../../../sim/esp/index.js"
import { Flasher } from "../../../src/flash/Flasher.js"
import { flasherFrom } from "../../../src/flash/FlasherLive.js"
import { makeEspFlasher, type EspFlasherConfig } from "../../../src/flash/esp/index.js"
import { SerialPortsLive } from "../../../src/serial/index.js"

/** An emulated board on a fresh pty pair, stopped (emulator + socat) with the scope. */
export const espBoard = (options: Omit<EspEmulatorOptions, "devicePath">) =>
  Effect.acquireRelease(
    Effect.promise(() => startEspBoard(options)),
    (board: EspBoard) => Effect.promise(() => board.stop())
  )

/** The live Flasher over the live SerialPorts, with an ESP flasher tuned by `config`. */
export const flasherLayer = (config: Partial<EspFlasherConfig> = {}) =>
  Layer.effect(
    Flasher,
    Effect.map(makeEspFlasher(config), (esp) => flasherFrom([esp]))
  ).pipe(Layer.provideMerge(SerialPortsLive))

export const ptyOptions = { baudRate: 115200, before: "no_reset" as const, connectAttempts: 2 }
