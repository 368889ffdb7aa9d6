import { SerialPort } from "serialport"

/**
 * The device end of the pty with a notional UART: a pty moves bytes instantly, so
 * when pacing is on every byte costs 10 bit times at the current baud in each
 * direction. Incoming bytes are handed on when their last bit "arrived"; outgoing
 * bytes are written when they would have finished on the wire. Each direction keeps
 * its own line clock that only moves forward, so timer lateness does not add up
 * while data is queued.
 */
export class PacedLink {
  private rxClock = 0
  private txClock = 0
  private readonly rxQueue: Array<{ at: number; chunk: Uint8Array }> = []
  private readonly txQueue: Array<{ at: number; chunk: Uint8Array }> = []
  private rxTimer: NodeJS.Timeout | undefined
  private txTimer: NodeJS.Timeout | undefined
  private closed = false
  baud: number

  private constructor(
    private readonly port: SerialPort,
    private readonly pace: boolean,
    baud: number,
    private readonly onReceive: (chunk: Uint8Array) => void,
    private readonly onRawReceive: (length: number) => void
  ) {
    this.baud = baud
    port.on("data", (chunk: Buffer) => this.arrive(new Uint8Array(chunk)))
    // A closed/vanished peer surfaces as an error on the device end; the emulator just stops talking.
    port.on("error", () => undefined)
  }

  static open(
    path: string,
    pace: boolean,
    baud: number,
    onReceive: (chunk: Uint8Array) => void,
    onRawReceive: (length: number) => void
  ): Promise<PacedLink> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path, baudRate: baud, autoOpen: false })
      port.open((error) => {
        if (error) reject(new Error(`ESP emulator cannot open the device end ${path}: ${error.message}`))
        else resolve(new PacedLink(port, pace, baud, onReceive, onRawReceive))
      })
    })
  }

  private byteTimeMs(length: number): number {
    return (length * 10 * 1000) / this.baud
  }

  private arrive(chunk: Uint8Array): void {
    if (this.closed) return
    this.onRawReceive(chunk.length)
    if (!this.pace) {
      this.onReceive(chunk)
      return
    }
    const now = performance.now()
    this.rxClock = Math.max(this.rxClock, now) + this.byteTimeMs(chunk.length)
    this.rxQueue.push({ at: this.rxClock, chunk })
    this.pumpRx()
  }

  private pumpRx(): void {
    if (this.rxTimer !== undefined || this.closed) return
    const now = performance.now()
    while (this.rxQueue.length > 0 && this.rxQueue[0]!.at <= now + 0.5) this.onReceive(this.rxQueue.shift()!.chunk)
    if (this.rxQueue.length > 0) {
      this.rxTimer = setTimeout(() => {
        this.rxTimer = undefined
        this.pumpRx()
      }, this.rxQueue[0]!.at - now)
    }
  }

  write(chunk: Uint8Array): void {
    if (this.closed || chunk.length === 0) return
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
    while (this.txQueue.length > 0 && this.txQueue[0]!.at <= now + 0.5) this.port.write(Buffer.from(this.txQueue.shift()!.chunk))
    if (this.txQueue.length > 0) {
      this.txTimer = setTimeout(() => {
        this.txTimer = undefined
        this.pumpTx()
      }, this.txQueue[0]!.at - now)
    }
  }

  /** Resolves when everything queued so far has been handed to the pty. */
  drained(): Promise<void> {
    const wait = this.pace ? Math.max(0, this.txClock - performance.now()) : 0
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
    this.rxQueue.length = 0
    this.txQueue.length = 0
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve()
    this.closed = true
    clearTimeout(this.rxTimer)
    clearTimeout(this.txTimer)
    this.rxQueue.length = 0
    this.txQueue.length = 0
    return new Promise((resolve) => {
      if (!this.port.isOpen) return resolve()
      this.port.close(() => resolve())
    })
  }
}
