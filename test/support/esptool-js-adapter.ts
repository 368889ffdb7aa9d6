/**
 * A Web-Serial-shaped `SerialPort` over node `serialport`, so Espressif's esptool-js
 * (written for browsers) can run under Node against the ESP emulator.
 *
 * What esptool-js uses of a Web Serial port: `open({ baudRate })`, `close()`,
 * `readable` / `writable` WHATWG streams (null while closed), `setSignals()`,
 * `getInfo()`; and, if present, `setBaudRate()` to change the rate in place (its
 * Transport prefers that over close+reopen, which would reset a real board).
 *
 * `setSignals` is recorded but not applied: a pseudo-terminal has no modem-control
 * lines (TIOCMSET fails with "Inappropriate ioctl for device"). esptool-js's
 * DTR/RTS reset sequences therefore do nothing on a pty; the emulator must already
 * be in download mode (it starts there), and `after("hard_reset")` does not reboot
 * it — call the emulator's `reset("app")` for that.
 */
import type { SerialPortStream } from "@serialport/stream"
import { serialPortStream } from "../../src/serial/portBinding.js"

export interface RecordedSignals {
  readonly dataTerminalReady?: boolean
  readonly requestToSend?: boolean
  readonly break?: boolean
}

export interface WebSerialPortInfo {
  readonly usbVendorId?: number
  readonly usbProductId?: number
}

export class NodeWebSerialPort {
  readable: ReadableStream<Uint8Array> | null = null
  writable: WritableStream<Uint8Array> | null = null
  /** Every setSignals call esptool-js made, in order. */
  readonly signals: Array<RecordedSignals> = []
  private port: SerialPortStream | undefined

  constructor(
    readonly path: string,
    private readonly info: WebSerialPortInfo = {}
  ) {}

  async open(options: { baudRate: number }): Promise<void> {
    if (this.port?.isOpen) throw new Error(`${this.path} is already open`)
    const port = serialPortStream({ path: this.path, baudRate: options.baudRate })
    await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())))
    this.port = port
    let readableController: ReadableStreamDefaultController<Uint8Array> | undefined
    let readableOpen = true
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        readableController = controller
      },
      cancel: () => {
        readableOpen = false
      }
    })
    port.on("data", (chunk: Buffer) => {
      if (readableOpen) readableController?.enqueue(new Uint8Array(chunk))
    })
    port.on("close", () => {
      if (readableOpen) {
        readableOpen = false
        readableController?.close()
      }
    })
    port.on("error", (error: Error) => {
      if (readableOpen) {
        readableOpen = false
        readableController?.error(error)
      }
    })
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) =>
        new Promise<void>((resolve, reject) => {
          port.write(Buffer.from(chunk), (error) => (error ? reject(error) : port.drain(() => resolve())))
        })
    })
  }

  async close(): Promise<void> {
    const port = this.port
    this.port = undefined
    this.readable = null
    this.writable = null
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()))
  }

  async setSignals(signals: RecordedSignals): Promise<void> {
    this.signals.push({ ...signals })
  }

  getInfo(): WebSerialPortInfo {
    return this.info
  }

  /** In-place rate change (termios only; on a pty it changes nothing on the wire). */
  async setBaudRate(baudRate: number): Promise<void> {
    const port = this.port
    if (!port) throw new Error(`${this.path} is not open`)
    await new Promise<void>((resolve, reject) => port.update({ baudRate }, (error) => (error ? reject(error) : resolve())))
  }
}
