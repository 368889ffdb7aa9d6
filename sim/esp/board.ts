import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
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

interface Socat {
  readonly hostPath: string
  readonly devicePath: string
  readonly kill: () => Promise<void>
}

/**
 * A socat pty pair (Debian package `socat`). Kept here rather than borrowed from
 * test/support so the demo and benchmarks, which are not tests, can use it too.
 */
const openSocat = async (): Promise<Socat> => {
  const dir = mkdtempSync(join(tmpdir(), "fp-esp-"))
  const hostPath = join(dir, "host")
  const devicePath = join(dir, "device")
  const child = spawn("socat", [`pty,raw,echo=0,link=${hostPath}`, `pty,raw,echo=0,link=${devicePath}`], { stdio: "ignore" })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const deadline = Date.now() + 5000
  while (!(existsSync(hostPath) && existsSync(devicePath))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL")
      rmSync(dir, { recursive: true, force: true })
      throw new Error("socat did not create the pty pair (is the Debian package socat installed?)")
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  let killed = false
  return {
    hostPath,
    devicePath,
    kill: async () => {
      if (killed) return
      killed = true
      child.kill("SIGTERM")
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 1000))])
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export const startEspBoard = async (options: Omit<EspEmulatorOptions, "devicePath">): Promise<EspBoard> => {
  const socat = await openSocat()
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
