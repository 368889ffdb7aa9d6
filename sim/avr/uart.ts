import { SerialPort } from "serialport"

export { openSocatPair, type SocatPair } from "../pty.js"

/**
 * Pieces the AVR, STM32 and RP2040 emulators share (they live here because
 * sim/avr was first; sim/stm32 and sim/rp2040 import them):
 * - `openSocatPair` (from sim/pty.ts, re-exported): a pty pair.
 * - `PacedUart`: the device end with a notional UART. A pty moves bytes
 *   instantly; when pacing is on each byte costs `bitsPerByte` bit times
 *   (10 for 8N1, 11 for 8E1) in each direction, so a flasher's wire
 *   utilisation can be measured against line rate.
 * - `ByteMachine`: runs a protocol written as a generator that asks for `n`
 *   bytes at a time (`const b = yield 4`), the shape of a bootloader's
 *   `getch()` loop.
 */

export interface UartStats {
  bytesIn: number
  bytesOut: number
}

export class PacedUart {
  private rxClock = 0
  private txClock = 0
  private readonly rxQueue: Array<{ at: number; chunk: Uint8Array }> = []
  private readonly txQueue: Array<{ at: number; chunk: Uint8Array }> = []
  private rxTimer: NodeJS.Timeout | undefined
  private txTimer: NodeJS.Timeout | undefined
  private closed = false
  readonly stats: UartStats = { bytesIn: 0, bytesOut: 0 }
  onReceive: (chunk: Uint8Array) => void = () => undefined

  private constructor(
    private readonly port: SerialPort,
    private readonly pace: boolean,
    public baud: number,
    public bitsPerByte: number
  ) {
    port.on("data", (chunk: Buffer) => this.arrive(new Uint8Array(chunk)))
    // A vanished peer surfaces as an error on the device end; the emulator just stops talking.
    port.on("error", () => undefined)
  }

  static open(path: string, options: { readonly pace: boolean; readonly baud: number; readonly bitsPerByte: number }): Promise<PacedUart> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path, baudRate: options.baud, autoOpen: false })
      port.open((error) => {
        if (error) reject(new Error(`emulator cannot open the device end ${path}: ${error.message}`))
        else resolve(new PacedUart(port, options.pace, options.baud, options.bitsPerByte))
      })
    })
  }

  private byteTimeMs(length: number): number {
    return (length * this.bitsPerByte * 1000) / this.baud
  }

  private arrive(chunk: Uint8Array): void {
    if (this.closed) return
    this.stats.bytesIn += chunk.length
    if (!this.pace) return this.onReceive(chunk)
    const now = performance.now()
    this.rxClock = Math.max(this.rxClock, now) + this.byteTimeMs(chunk.length)
    this.rxQueue.push({ at: this.rxClock, chunk })
    this.pumpRx()
  }

  private pumpRx(): void {
    if (this.rxTimer !== undefined || this.closed) return
    const now = performance.now()
    while (this.rxQueue.length > 0 && this.rxQueue[0]!.at <= now + 0.3) this.onReceive(this.rxQueue.shift()!.chunk)
    if (this.rxQueue.length > 0) {
      this.rxTimer = setTimeout(() => {
        this.rxTimer = undefined
        this.pumpRx()
      }, this.rxQueue[0]!.at - now)
    }
  }

  write(chunk: Uint8Array): void {
    if (this.closed || chunk.length === 0) return
    this.stats.bytesOut += chunk.length
    if (!this.pace) {
      this.port.write(Buffer.from(chunk))
      return
    }
    const now = performance.now()
    this.txClock = Math.max(this.txClock, now) + this.byteTimeMs(chunk.length)
    this.txQueue.push({ at: this.txClock, chunk })
    this.pumpTx()
  }

  private pumpTx(): void {
    if (this.txTimer !== undefined || this.closed) return
    const now = performance.now()
    while (this.txQueue.length > 0 && this.txQueue[0]!.at <= now + 0.3) this.port.write(Buffer.from(this.txQueue.shift()!.chunk))
    if (this.txQueue.length > 0) {
      this.txTimer = setTimeout(() => {
        this.txTimer = undefined
        this.pumpTx()
      }, this.txQueue[0]!.at - now)
    }
  }

  /** A reset loses whatever sits in the UART FIFOs. */
  discardQueued(): void {
    this.rxQueue.length = 0
    this.txQueue.length = 0
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve()
    this.closed = true
    clearTimeout(this.rxTimer)
    clearTimeout(this.txTimer)
    return new Promise((resolve) => {
      if (!this.port.isOpen) return resolve()
      this.port.close(() => resolve())
    })
  }
}

/** A protocol as a generator: it yields how many bytes it needs next and receives them. */
export type ByteProtocol = Generator<number, void, Uint8Array>

export class ByteMachine {
  private buffer = new Uint8Array(0)
  private wanted = 0
  private current: ByteProtocol | undefined

  constructor(private readonly start: () => ByteProtocol) {}

  /** Starts the protocol over (a chip reset), dropping what is buffered. */
  restart(): void {
    this.buffer = new Uint8Array(0)
    this.current = this.start()
    const first = this.current.next()
    this.wanted = first.done ? 0 : first.value
  }

  stop(): void {
    this.current = undefined
    this.buffer = new Uint8Array(0)
  }

  feed(chunk: Uint8Array): void {
    if (this.current === undefined) return
    const joined = new Uint8Array(this.buffer.length + chunk.length)
    joined.set(this.buffer)
    joined.set(chunk, this.buffer.length)
    this.buffer = joined
    while (this.current !== undefined && this.wanted > 0 && this.buffer.length >= this.wanted) {
      const taken = this.buffer.slice(0, this.wanted)
      this.buffer = this.buffer.subarray(this.wanted)
      const generator: ByteProtocol = this.current
      const step = generator.next(taken)
      if (this.current !== generator) return // the step restarted or stopped the machine
      if (step.done) {
        this.current = undefined
        return
      }
      this.wanted = step.value
    }
  }
}
