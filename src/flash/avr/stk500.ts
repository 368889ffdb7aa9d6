import { Duration, Effect } from "effect"
import { FlashTimeout, ProtocolError } from "../../domain/errors/flash.js"
import type { SerialIoError } from "../../domain/errors/serial.js"
import type { SerialConnection } from "../../serial/SerialPorts.js"

/**
 * STK500v1 as optiboot speaks it (Atmel AVR061 command set): a command, its
 * arguments, CRC_EOP (0x20); the answer is INSYNC (0x14), data, OK (0x10).
 * NOSYNC (0x15) means the bootloader lost the framing; FAILED (0x11) is rare.
 */
export const STK = {
  OK: 0x10,
  FAILED: 0x11,
  INSYNC: 0x14,
  NOSYNC: 0x15,
  CRC_EOP: 0x20,
  GET_SYNC: 0x30,
  GET_PARAMETER: 0x41,
  ENTER_PROGMODE: 0x50,
  LEAVE_PROGMODE: 0x51,
  LOAD_ADDRESS: 0x55,
  PROG_PAGE: 0x64,
  READ_PAGE: 0x74,
  READ_SIGN: 0x75,
  PARAM_SW_MAJOR: 0x81,
  PARAM_SW_MINOR: 0x82
} as const

export const frame = (...bytes: Array<number>) => Uint8Array.from([...bytes, STK.CRC_EOP])

export const loadAddress = (byteAddress: number) => {
  const word = byteAddress >> 1
  return frame(STK.LOAD_ADDRESS, word & 0xff, (word >> 8) & 0xff)
}

export const progPage = (data: Uint8Array, memtype: "F" | "E" = "F") => {
  const out = new Uint8Array(5 + data.length)
  out.set([STK.PROG_PAGE, data.length >> 8, data.length & 0xff, memtype.charCodeAt(0)])
  out.set(data, 4)
  out[4 + data.length] = STK.CRC_EOP
  return out
}

export const readPage = (length: number, memtype: "F" | "E" = "F") =>
  frame(STK.READ_PAGE, length >> 8, length & 0xff, memtype.charCodeAt(0))

/** One request/response on an open port; counts wire bytes both ways. */
export class Stk500Link {
  wireBytes = 0
  constructor(readonly serial: SerialConnection) {}

  /** Sends `request`, waits for INSYNC + `dataLength` bytes + OK, returns the data. */
  exchange(
    step: string,
    request: Uint8Array,
    dataLength: number,
    timeout: Duration.DurationInput
  ): Effect.Effect<Uint8Array, FlashTimeout | ProtocolError | SerialIoError> {
    // Waiting for the write callback before listening would add a libuv round trip per exchange.
    return Effect.zipRight(this.send(request), this.reply(step, dataLength, timeout), { concurrent: true })
  }

  /**
   * Two commands in one write, then both replies: saves a turnaround per page.
   * Safe on the chip: while optiboot sends the first reply (2 bytes: INSYNC goes
   * straight into UDR, OK waits about one character time) at most one byte of the
   * second command arrives, and the ATmega USART buffers two plus its shift register.
   */
  pair(
    first: { readonly step: string; readonly request: Uint8Array; readonly dataLength: number },
    second: { readonly step: string; readonly request: Uint8Array; readonly dataLength: number },
    timeout: Duration.DurationInput
  ): Effect.Effect<Uint8Array, FlashTimeout | ProtocolError | SerialIoError> {
    const both = new Uint8Array(first.request.length + second.request.length)
    both.set(first.request)
    both.set(second.request, first.request.length)
    return Effect.zipRight(
      this.send(both),
      Effect.zipRight(this.reply(first.step, first.dataLength, timeout), this.reply(second.step, second.dataLength, timeout)),
      { concurrent: true }
    )
  }

  private send(request: Uint8Array): Effect.Effect<void, SerialIoError> {
    this.wireBytes += request.length
    return this.serial.write(request)
  }

  private reply(step: string, dataLength: number, timeout: Duration.DurationInput): Effect.Effect<Uint8Array, FlashTimeout | ProtocolError | SerialIoError> {
    const port = this.serial.path
    return Effect.gen(this, function* () {
      const head = yield* this.serial.readExactly(1, Duration.minutes(1))
      if (head[0] !== STK.INSYNC) {
        yield* this.serial.discardInput
        return yield* new ProtocolError({
          port,
          command: step,
          detail: head[0] === STK.NOSYNC ? "the bootloader answered NOSYNC (framing lost)" : `expected INSYNC 0x14, got 0x${head[0]!.toString(16).padStart(2, "0")}`
        })
      }
      const rest = yield* this.serial.readExactly(dataLength + 1, Duration.minutes(1))
      this.wireBytes += 1 + rest.length
      const status = rest[dataLength]!
      if (status !== STK.OK) {
        return yield* new ProtocolError({
          port,
          command: step,
          detail: status === STK.FAILED ? "the bootloader answered FAILED" : `expected OK 0x10 after ${dataLength} data bytes, got 0x${status.toString(16).padStart(2, "0")}`
        })
      }
      return rest.subarray(0, dataLength)
    }).pipe(
      // The outer timeout decides: readExactly's own timeout cannot be told from a vanished port.
      Effect.timeoutFail({ duration: timeout, onTimeout: () => new FlashTimeout({ port, step, timeoutMs: Duration.toMillis(timeout) }) })
    )
  }
}
