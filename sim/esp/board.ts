import { openSocatPair } from "../pty.js"
import { startEspEmulator } from "./emulator.js"
import type { EspEmulatorHandle, EspEmulatorOptions } from "./types.js"

export interface EspBoard {
  /** The end a flasher opens, like /dev/ttyUSB0. */
  readonly hostPath: string
  readonly devicePath: string
  readonly emulator: EspEmulatorHandle
  /** Kills socat: both pty ends vanish like a pulled USB cable. */
  readonly unplug: () => Promise<void>
  /** Stops the emulator, then unplugs. */
  readonly stop: () => Promise<void>
}

export const startEspBoard = async (options: Omit<EspEmulatorOptions, "devicePath">): Promise<EspBoard> => {
  const socat = await openSocatPair({ prefix: "fp-esp-" })
  try {
    const emulator = await startEspEmulator({
      ...options,
      devicePath: socat.devicePath,
      onVanish: async () => {
        await socat.kill()
        await options.onVanish?.()
      }
    })
    return {
      hostPath: socat.hostPath,
      devicePath: socat.devicePath,
      emulator,
      unplug: socat.kill,
      stop: async () => {
        await emulator.stop()
        await socat.kill()
      }
    }
  } catch (error) {
    await socat.kill()
    throw error
  }
}

/** Several boards at once (factory demo, benchmark); all or nothing. */
export const startEspBoards = async (list: ReadonlyArray<Omit<EspEmulatorOptions, "devicePath">>): Promise<Array<EspBoard>> => {
  const settled = await Promise.allSettled(list.map((options) => startEspBoard(options)))
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected")
  if (failed) {
    await Promise.all(settled.map((s) => (s.status === "fulfilled" ? s.value.stop() : undefined)))
    throw failed.reason
  }
  return settled.map((s) => (s as PromiseFulfilledResult<EspBoard>).value)
}
