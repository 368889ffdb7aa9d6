/**
 * A deliberately minimal ROM-protocol client for the emulator's conformance tests:
 * raw packets through the real serialport on the host end of the pty, no flasher logic.
 */
import type { SerialPortStream } from "@serialport/stream"
import { serialPortStream } from "../../src/serial/portBinding.js"
import { afterEach } from "vitest"
import { type EspBoard, startEspBoard } from "../../sim/esp/index.js"
import type { EspEmulatorOptions } from "../../sim/esp/types.js"
import { concatBytes as concat } from "../../src/domain/bytes.js"
import { SlipDecoder, slipEncode } from "../../src/serial/slip.js"

export interface RawResponse {
  readonly op: number
  readonly value: number
  readonly data: Uint8Array
}

export const u32le = (...words: Array<number>): Uint8Array => {
  const out = new Uint8Array(words.length * 4)
  const view = new DataView(out.buffer)
  words.forEach((w, i) => view.setUint32(i * 4, w >>> 0, true))
  return out
}

export { concat }

export const xorChecksum = (data: Uint8Array): number => data.reduce((c, b) => c ^ b, 0xef)

export const SYNC_DATA = Uint8Array.from([0x07, 0x07, 0x12, 0x20, ...new Array<number>(32).fill(0x55)])

export class RawClient {
  private readonly decoder = new SlipDecoder()
  private readonly packets: Array<Uint8Array> = []
  private text = ""
  private waiters: Array<() => void> = []
  closed = false

  private constructor(private readonly port: SerialPortStream) {
    port.on("data", (chunk: Buffer) => {
      this.text += chunk.toString("latin1")
      this.packets.push(...this.decoder.push(new Uint8Array(chunk)))
      for (const wake of this.waiters.splice(0)) wake()
    })
    port.on("close", () => {
      this.closed = true
      for (const wake of this.waiters.splice(0)) wake()
    })
    port.on("error", () => undefined)
  }

  static open(path: string, baudRate = 115200): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const port = serialPortStream({ path, baudRate })
      port.open((error) => (error ? reject(error) : resolve(new RawClient(port))))
    })
  }

  /** Everything received as text (boot logs and app replies). */
  get received(): string {
    return this.text
  }

  clearText(): void {
    this.text = ""
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.waiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  sendRaw(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.port.write(Buffer.from(bytes), (e) => (e ? reject(e) : resolve())))
  }

  send(op: number, data: Uint8Array = new Uint8Array(0), checksum = 0): Promise<void> {
    const header = new Uint8Array(8)
    const view = new DataView(header.buffer)
    header[0] = 0
    header[1] = op
    view.setUint16(2, data.length, true)
    view.setUint32(4, checksum, true)
    return this.sendRaw(slipEncode(concat(header, data)))
  }

  /** Next raw SLIP packet (any content), or undefined after `timeoutMs`. */
  async nextPacket(timeoutMs = 1000): Promise<Uint8Array | undefined> {
    const deadline = Date.now() + timeoutMs
    while (this.packets.length === 0) {
      const left = deadline - Date.now()
      if (left <= 0 || this.closed) return undefined
      await this.wait(left)
    }
    return this.packets.shift()
  }

  async response(op: number, timeoutMs = 1000): Promise<RawResponse | undefined> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const packet = await this.nextPacket(Math.max(0, deadline - Date.now()))
      if (!packet) return undefined
      if (packet.length < 8 || packet[0] !== 1 || packet[1] !== op) continue
      const view = new DataView(packet.buffer, packet.byteOffset)
      return { op, value: view.getUint32(4, true), data: packet.slice(8) }
    }
  }

  async command(op: number, data: Uint8Array = new Uint8Array(0), checksum = 0, timeoutMs = 1000): Promise<RawResponse> {
    await this.send(op, data, checksum)
    const response = await this.response(op, timeoutMs)
    if (!response) throw new Error(`no response to op 0x${op.toString(16)} within ${timeoutMs} ms`)
    return response
  }

  /** Drops every packet received so far (pyserial's flushInput + a fresh SLIP reader, esptool `flush_input`). */
  flushInput(): void {
    this.packets.splice(0)
  }

  /** Host-side line rate (a pty carries no rate; the emulator paces at its own). */
  setBaud(baudRate: number): Promise<void> {
    return new Promise((resolve, reject) => this.port.update({ baudRate }, (e) => (e ? reject(e) : resolve())))
  }

  /** All packets that arrive within `ms`. */
  async drain(ms: number): Promise<Array<Uint8Array>> {
    await new Promise((resolve) => setTimeout(resolve, ms))
    return this.packets.splice(0)
  }

  async waitForText(text: string, timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.text.includes(text)) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`"${text}" not received within ${timeoutMs} ms; got: ${JSON.stringify(this.text.slice(-400))}`)
      await this.wait(left)
    }
  }

  async sync(): Promise<Array<RawResponse>> {
    await this.send(0x08, SYNC_DATA)
    const replies: Array<RawResponse> = []
    for (let i = 0; i < 8; i++) {
      const r = await this.response(0x08, 500)
      if (!r) break
      replies.push(r)
    }
    return replies
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.port.isOpen) return resolve()
      this.port.close(() => resolve())
    })
  }
}

/** Status bytes sit after `dataLength` bytes of payload. */
export const statusOf = (r: RawResponse, dataLength = 0): { status: number; error: number } => ({
  status: r.data[dataLength]!,
  error: r.data[dataLength + 1]!
})

export const dataBlock = (seq: number, block: Uint8Array): { payload: Uint8Array; checksum: number } => ({
  payload: concat(u32le(block.length, seq, 0, 0), block),
  checksum: xorChecksum(block)
})

/** ROM-style uncompressed write: FLASH_BEGIN then padded FLASH_DATA blocks. */
export const writePlain = async (client: RawClient, offset: number, image: Uint8Array, blockSize = 0x400): Promise<void> => {
  const blocks = Math.ceil(image.length / blockSize)
  const begin = await client.command(0x02, u32le(image.length, blocks, blockSize, offset), 0, 5000)
  if (begin.data[0] !== 0) throw new Error(`FLASH_BEGIN failed: ${Array.from(begin.data)}`)
  for (let seq = 0; seq < blocks; seq++) {
    const block = new Uint8Array(blockSize).fill(0xff)
    block.set(image.subarray(seq * blockSize, (seq + 1) * blockSize))
    const { payload, checksum } = dataBlock(seq, block)
    const r = await client.command(0x03, payload, checksum)
    if (r.data[0] !== 0) throw new Error(`FLASH_DATA ${seq} failed: ${Array.from(r.data)}`)
  }
}

/** ROM-style compressed write: write_size rounded up to the block size, zlib stream in blocks. */
export const writeDeflated = async (
  client: RawClient,
  offset: number,
  compressed: Uint8Array,
  uncompressedSize: number,
  blockSize = 0x400
): Promise<void> => {
  const blocks = Math.ceil(compressed.length / blockSize)
  const writeSize = Math.ceil(uncompressedSize / blockSize) * blockSize
  const begin = await client.command(0x10, u32le(writeSize, blocks, blockSize, offset), 0, 5000)
  if (begin.data[0] !== 0) throw new Error(`FLASH_DEFL_BEGIN failed: ${Array.from(begin.data)}`)
  for (let seq = 0; seq < blocks; seq++) {
    const { payload, checksum } = dataBlock(seq, compressed.subarray(seq * blockSize, (seq + 1) * blockSize))
    const r = await client.command(0x11, payload, checksum)
    if (r.data[0] !== 0) throw new Error(`FLASH_DEFL_DATA ${seq} failed: ${Array.from(r.data)}`)
  }
}

/** ROM MD5: 32 ASCII hex characters before the status. */
export const romMd5 = async (client: RawClient, offset: number, size: number): Promise<string> => {
  const r = await client.command(0x13, u32le(offset, size, 0, 0), 0, 5000)
  if (r.data[32] !== 0) throw new Error(`SPI_FLASH_MD5 failed: ${Array.from(r.data)}`)
  return Buffer.from(r.data.subarray(0, 32)).toString("latin1")
}

/**
 * `connect(options)` for a test file: an unpaced emulated board with a raw
 * client on it; every board and client it opened is closed after each test.
 */
export const rawBoards = () => {
  const open: Array<{ board: EspBoard; client: RawClient }> = []
  afterEach(async () => {
    for (const { board, client } of open.splice(0)) {
      await client.close()
      await board.stop()
    }
  })
  return async (options: Omit<EspEmulatorOptions, "devicePath">) => {
    const board = await startEspBoard({ pace: false, ...options })
    const client = await RawClient.open(board.hostPath)
    open.push({ board, client })
    return { board, client }
  }
}
