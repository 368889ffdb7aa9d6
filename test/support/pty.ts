import { Effect } from "effect"
import type { Scope } from "effect"
import { openSocatPair } from "../../sim/pty.js"

export interface PtyPair {
  /** The end the tool under test opens (like /dev/ttyUSB0). */
  readonly hostPath: string
  /** The end the emulated device opens. */
  readonly devicePath: string
  /** Kills socat: both ends vanish, like an unplugged cable. */
  readonly unplug: () => Promise<void>
}

export const openPtyPair = async (): Promise<PtyPair> => {
  const pair = await openSocatPair({ prefix: "fp-pty-" })
  return { hostPath: pair.hostPath, devicePath: pair.devicePath, unplug: pair.kill }
}

/** A socat pty pair for the scope's lifetime (socat killed when it closes). */
export const ptyPair: Effect.Effect<PtyPair, Error, Scope.Scope> = Effect.acquireRelease(
  Effect.tryPromise({
    try: () => openPtyPair(),
    catch: (e) => (e instanceof Error ? e : new Error(String(e)))
  }),
  (pair) => Effect.promise(() => pair.unplug())
)
