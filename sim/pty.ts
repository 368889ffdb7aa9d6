import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/**
 * A pseudo-terminal pair from socat (Debian package `socat`): the host end is
 * what a flasher opens (like /dev/ttyUSB0), the device end is where an
 * emulator listens. `kill()` makes both ends vanish like a pulled USB cable.
 * Lives in sim/ (not test/) because the demo and benchmarks use it too.
 * The host end can be put at a chosen path (the RP2040 CDC port "appears"
 * there after the UF2 reboot).
 */
export interface SocatPair {
  readonly hostPath: string
  readonly devicePath: string
  readonly kill: () => Promise<void>
}

export const openSocatPair = async (options: { readonly hostPath?: string; readonly prefix?: string } = {}): Promise<SocatPair> => {
  const dir = mkdtempSync(join(tmpdir(), options.prefix ?? "fp-mcu-"))
  const hostPath = options.hostPath ?? join(dir, "host")
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
      // socat removes its links on SIGTERM; a chosen host path outside `dir` is cleaned too.
      if (options.hostPath) rmSync(options.hostPath, { force: true })
    }
  }
}
