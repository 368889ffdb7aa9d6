import type { SerialPortStream } from "@serialport/stream"
import { serialPortStream } from "../src/serial/portBinding.js"

/**
 * The device end of a pty with a notional UART, shared by every emulator
 * (ESP, AVR, STM32, RP2040). A pty moves bytes instantly; with pacing on,
 * each byte costs `bitsPerByte` bit times (10 for 8N1, 11 for 8E1) at the
 * current baud in each direction: incoming bytes are handed on when their
 * last bit "arrived", outgoing bytes are written when they would have left
 * the wire. Each direction keeps its own line clock that only moves forward,
 * so timer lateness does not add up while data is queued.
 *
 * Node timers have millisecond granularity, so a paced emulator answers up to
 * ~1–2 ms later than a chip would. That lateness is the emulator's, not the
 * host's: `stats.lateMs` adds it up (per timer firing, the overshoot past the
 * first due chunk) so a benchmark can take it out of a flasher's wall time,
 * and `stats.turnarounds` counts how often the host spoke after the device
 * did (request/response round trips, whoever the host is).
 */

export interface PacedLinkStats {
  bytesIn: number
  bytesOut: number
  /** Host transmissions that followed a device transmission (round trips seen from the device). */
  turnarounds: number
  /** Milliseconds the pacing timers fired after the line said the bytes were due. */
  lateMs: number
}

export interface PacedLinkOptions {
  readonly pace: boolean
  readonly baud: number
  /** 10 for 8N1, 11 for 8E1. */
  readonly bitsPerByte?: number
  /** How early a due chunk may go (timer slack; the ESP emulator was tuned with 0.5 ms). */
  readonly slackMs?: number
  /** Who owns the device end, for the open error ("AVR emulator"). */
  readonly owner?: string
  readonly onReceive?: (chunk: Uint8Array) => void
  /** Every chunk as the pty delivers it, before pacing (byte counters). */
  readonly onRawReceive?: (length: number) => void
}

interface Due {
  readonly at: number
  readonly chunk: Uint8Array
}

/** A FIFO whose chunks become due at given times, flushed by one timer. */
class PacedQueue {
  private readonly queue: Array<Due> = []
  private timer: NodeJS.Timeout | undefined
  private clock = 0

  constructor(
    private readonly slackMs: number,
    private readonly deliver: (chunk: Uint8Array) => void,
    private readonly late: (ms: number) => void
  ) {}

  /** `notBefore`: the chunk cannot start before then (the device is busy, e.g. programming flash). */
  push(durationMs: number, chunk: Uint8Array, notBefore = 0): void {
    this.clock = Math.max(this.clock, performance.now(), notBefore) + durationMs
    this.queue.push({ at: this.clock, chunk })
    this.pump(false)
  }

  get dueAt(): number {
    return this.clock
  }

  private pump(fromTimer: boolean): void {
    if (this.timer !== undefined) return
    const now = performance.now()
    if (fromTimer && this.queue.length > 0 && now > this.queue[0]!.at) this.late(now - this.queue[0]!.at)
    while (this.queue.length > 0 && this.queue[0]!.at <= now + this.slackMs) this.deliver(this.queue.shift()!.chunk)
    if (this.queue.length > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined
        this.pump(true)
      }, this.queue[0]!.at - now)
    }
  }

  clear(): void {
    this.queue.length = 0
  }

  stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.queue.length = 0
  }
}

export class PacedLink {
  private closed = false
  private spokeSinceHost = false
  private readonly rx: PacedQueue
  private readonly tx: PacedQueue
  readonly stats: PacedLinkStats = { bytesIn: 0, bytesOut: 0, turnarounds: 0, lateMs: 0 }
  baud: number
  readonly bitsPerByte: number
  onReceive: (chunk: Uint8Array) => void

  private constructor(
    private readonly port: SerialPortStream,
    private readonly pace: boolean,
    options: PacedLinkOptions
  ) {
    this.baud = options.baud
    this.bitsPerByte = options.bitsPerByte ?? 10
    this.onReceive = options.onReceive ?? (() => undefined)
    const onRaw = options.onRawReceive
    const slack = options.slackMs ?? 0.3
    const late = (ms: number) => void (this.stats.lateMs += ms)
    this.rx = new PacedQueue(slack, (chunk) => this.onReceive(chunk), late)
    this.tx = new PacedQueue(slack, (chunk) => void this.port.write(Buffer.from(chunk)), late)
    port.on("data", (chunk: Buffer) => {
      if (this.closed) return
      this.stats.bytesIn += chunk.length
      if (this.spokeSinceHost) {
        this.stats.turnarounds++
        this.spokeSinceHost = false
      }
      onRaw?.(chunk.length)
      const bytes = new Uint8Array(chunk)
      if (this.pace) this.rx.push(this.byteTimeMs(bytes.length), bytes)
      else this.onReceive(bytes)
    })
    // A closed/vanished peer surfaces as an error on the device end; the emulator just stops talking.
    port.on("error", () => undefined)
  }

  static open(path: string, options: PacedLinkOptions): Promise<PacedLink> {
    return new Promise((resolve, reject) => {
      const port = serialPortStream({ path, baudRate: options.baud })
      port.open((error) => {
        if (error) reject(new Error(`${options.owner ?? "emulator"} cannot open the device end ${path}: ${error.message}`))
        else resolve(new PacedLink(port, options.pace, options))
      })
    })
  }

  byteTimeMs(length: number): number {
    return (length * this.bitsPerByte * 1000) / this.baud
  }

  /** When the last byte received so far has fully arrived on the notional wire (performance.now() time). */
  get rxDoneAt(): number {
    return this.pace ? this.rx.dueAt : performance.now()
  }

  /**
   * Sends `chunk` once the line is free, and not before `notBefore` (a
   * performance.now() time: the answer to a command that keeps the chip busy).
   * Unpaced, the wire and the chip take no time: `notBefore` is ignored.
   */
  write(chunk: Uint8Array, notBefore = 0): void {
    if (this.closed || chunk.length === 0) return
    this.stats.bytesOut += chunk.length
    this.spokeSinceHost = true
    if (this.pace) this.tx.push(this.byteTimeMs(chunk.length), chunk, notBefore)
    else this.port.write(Buffer.from(chunk))
  }

  /** Resolves when everything queued so far has been handed to the pty. */
  drained(): Promise<void> {
    const wait = this.pace ? Math.max(0, this.tx.dueAt - performance.now()) : 0
    return new Promise((resolve) => setTimeout(resolve, wait + 1)).then(
      () =>
        new Promise<void>((resolve) => {
          if (this.closed || !this.port.isOpen) return resolve()
          this.port.drain(() => resolve())
        })
    )
  }

  /** Drops whatever is still queued in either direction (a chip reset loses the UART FIFOs). */
  discardQueued(): void {
    this.rx.clear()
    this.tx.clear()
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve()
    this.closed = true
    this.rx.stop()
    this.tx.stop()
    return new Promise((resolve) => {
      if (!this.port.isOpen) return resolve()
      this.port.close(() => resolve())
    })
  }
}
