/**
 * SLIP framing (RFC 1055) as the ESP ROM bootloader uses it: every packet is
 * wrapped in 0xC0; inside, 0xDB → DB DD and 0xC0 → DB DC. Shared by the
 * flasher (src/flash/esp) and the emulator (sim/esp).
 */
export const SLIP_END = 0xc0
export const SLIP_ESC = 0xdb
export const SLIP_ESC_END = 0xdc
export const SLIP_ESC_ESC = 0xdd

export const slipEncode = (payload: Uint8Array): Uint8Array => {
  let extra = 0
  for (const byte of payload) if (byte === SLIP_END || byte === SLIP_ESC) extra++
  const out = new Uint8Array(payload.length + extra + 2)
  let i = 0
  out[i++] = SLIP_END
  for (const byte of payload) {
    if (byte === SLIP_END) {
      out[i++] = SLIP_ESC
      out[i++] = SLIP_ESC_END
    } else if (byte === SLIP_ESC) {
      out[i++] = SLIP_ESC
      out[i++] = SLIP_ESC_ESC
    } else {
      out[i++] = byte
    }
  }
  out[i] = SLIP_END
  return out
}

/**
 * Incremental decoder: feed it chunks as they arrive, get complete packets
 * back. Bytes outside a frame (boot noise) are dropped; an invalid escape
 * drops the frame it is in and is counted in `errors`.
 */
export class SlipDecoder {
  private buffer: Array<number> = []
  private inFrame = false
  private escaped = false
  private broken = false
  errors = 0

  push(chunk: Uint8Array): Array<Uint8Array> {
    const packets: Array<Uint8Array> = []
    for (const byte of chunk) {
      if (byte === SLIP_END) {
        if (this.inFrame && this.buffer.length > 0 && !this.broken && !this.escaped) {
          packets.push(Uint8Array.from(this.buffer))
        }
        // A lone END (or END END) starts a fresh frame.
        this.inFrame = true
        this.buffer = []
        this.escaped = false
        this.broken = false
        continue
      }
      if (!this.inFrame) continue
      if (this.escaped) {
        this.escaped = false
        if (byte === SLIP_ESC_END) this.buffer.push(SLIP_END)
        else if (byte === SLIP_ESC_ESC) this.buffer.push(SLIP_ESC)
        else {
          this.broken = true
          this.errors++
        }
        continue
      }
      if (byte === SLIP_ESC) this.escaped = true
      else this.buffer.push(byte)
    }
    return packets
  }

  /** Bytes seen outside any frame are dropped; this reports if a frame is half-read. */
  get pending(): boolean {
    return this.inFrame && this.buffer.length > 0
  }
}
