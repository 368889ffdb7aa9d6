import { Effect } from "effect"

/**
 * Bytes received from a port, waiting to be read. The port's 'data' events
 * push chunks in; readers take them out or wait for the next change (data or
 * failure). Chunks are kept as received and concatenated only when taken, so
 * a fast producer costs no per-byte work.
 */
export class ReceiveBuffer {
  private chunks: Array<Uint8Array> = []
  private size = 0
  private readonly waiters = new Set<() => void>()
  /** Set once the port failed or closed; later reads fail after draining what is buffered. */
  failure: string | undefined = undefined

  get length(): number {
    return this.size
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.size += chunk.length
    this.wake()
  }

  fail(reason: string): void {
    if (this.failure === undefined) this.failure = reason
    this.wake()
  }

  clear(): void {
    this.chunks = []
    this.size = 0
  }

  takeAll(): Uint8Array {
    return this.take(this.size)
  }

  /** Takes up to `n` bytes from the front. */
  take(n: number): Uint8Array {
    const count = Math.min(n, this.size)
    if (count === 0) return new Uint8Array(0)
    const first = this.chunks[0]!
    if (first.length === count) {
      this.chunks.shift()
      this.size -= count
      return first
    }
    const out = new Uint8Array(count)
    let filled = 0
    while (filled < count) {
      const chunk = this.chunks[0]!
      const need = count - filled
      if (chunk.length <= need) {
        out.set(chunk, filled)
        filled += chunk.length
        this.chunks.shift()
      } else {
        out.set(chunk.subarray(0, need), filled)
        this.chunks[0] = chunk.subarray(need)
        filled += need
      }
    }
    this.size -= count
    return out
  }

  /** Completes on the next push or failure (interruptible: the waiter is removed). */
  readonly changed: Effect.Effect<void> = Effect.async<void>((resume) => {
    const waiter = () => resume(Effect.void)
    this.waiters.add(waiter)
    return Effect.sync(() => {
      this.waiters.delete(waiter)
    })
  })

  private wake(): void {
    if (this.waiters.size === 0) return
    const current = [...this.waiters]
    this.waiters.clear()
    for (const waiter of current) waiter()
  }
}
