import { Effect } from "effect"
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface PtyPair {
  /** The end the tool under test opens (like /dev/ttyUSB0). */
  readonly hostPath: string
  /** The end the emulated device opens. */
  readonly devicePath: string
  /** Kills socat: both ends vanish, like an unplugged cable. */
  readonly unplug: () => Promise<void>
}

/**
 * A pseudo-terminal pair from socat (Debian package `socat`), scoped: socat is
 * killed and the link directory removed when the scope closes.
 */
export const ptyPair: Effect.Effect<PtyPair, Error, import("effect").Scope.Scope> = Effect.acquireRelease(
  Effect.tryPromise({
    try: () => openPtyPair(),
    catch: (e) => (e instanceof Error ? e : new Error(String(e)))
  }),
  (pair) => Effect.promise(() => pair.unplug())
)

export const openPtyPair = async (): Promise<PtyPair> => {
  const dir = mkdtempSync(join(tmpdir(), "fp-pty-"))
  const hostPath = join(dir, "host")
  const devicePath = join(dir, "device")
  const child = spawn("socat", [`pty,raw,echo=0,link=${hostPath}`, `pty,raw,echo=0,link=${devicePath}`], {
    stdio: "ignore"
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const deadline = Date.now() + 5000
  while (!(existsSync(hostPath) && existsSync(devicePath))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL")
      throw new Error("socat did not create the pty pair (is the Debian package socat installed?)")
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  let unplugged = false
  return {
    hostPath,
    devicePath,
    unplug: async () => {
      if (unplugged) return
      unplugged = true
      child.kill("SIGTERM")
      await Promise.race([exited, new Promise((r) => setTimeout(r, 1000))])
      if (child.exitCode === null) child.kill("SIGKILL")
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
