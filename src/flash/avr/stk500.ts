import { Duration, Effect } from "effect"
import { ProtocolError } from "../../domain/errors/flash.js"
import type { SerialIoError } from "../../domain/errors/serial.js"
import type { SerialConnection } from "../../serial/SerialPorts.js"
import { concatBytes } from "../../domain/bytes.js"
import { McuLink } from "../mcuLink.js"

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

/** Up to 256 bytes: optiboot keeps only the low length byte (a uint8 counter, 0 = 256). */
export const readPage = (length: number, memtype: "F" | "E" = "F") =>
  frame(STK.READ_PAGE, length >> 8, length & 0xff, memtype.charCodeAt(0))

export interface StkCommand {
  readonly step: string
  readonly request: Uint8Array
  /** Data bytes between INSYNC and OK in the answer. */
  readonly dataLength: number
}

/**
 * STK500v1 exchanges on an open port (bounded by `link.guard`, see ../mcuLink.ts).
 *
 * Pipelining: optiboot reads the UART by polling and the ATmega USART holds
 * only two bytes plus the one in its shift register, so while it programs a
 * page (~4.5 ms ≈ 50 byte times at 115200) or sends a page of data, anything
 * more the host sends is lost (overrun). The next command must wait for the OK.
 * The one safe overlap is a LOAD_ADDRESS in the same write as the command after
 * it: optiboot answers LOAD_ADDRESS with two bytes straight into the (empty)
 * UDR and is back in getch() within a byte time, so no byte of the next command
 * is lost. `exchange` sends such a group in one write and reads all answers.
 */
export class Stk500Link {
  readonly link: McuLink
  constructor(readonly serial: SerialConnection) {
    this.link = new McuLink(serial)
  }

  get wireBytes(): number {
    return this.link.wireBytes
  }

  /** Sends the commands in one write, then waits for INSYNC [data] OK of each; returns each data part. */
  exchange(
    commands: ReadonlyArray<StkCommand>,
    timeout: Duration.DurationInput
  ): Effect.Effect<ReadonlyArray<Uint8Array>, ProtocolError | SerialIoError> {
    const request = commands.length === 1 ? commands[0]!.request : concatBytes(...commands.map((c) => c.request))
    const total = commands.reduce((n, c) => n + c.dataLength + 2, 0)
    const first = commands[0]!.step
    return Effect.gen(this, function* () {
      yield* this.link.send(request)
      // The first byte alone, so a NOSYNC is reported at once instead of after the timeout.
      const head = yield* this.link.receive(first, 1, timeout)
      if (head[0] !== STK.INSYNC) return yield* this.framingError(first, head[0]!)
      const rest = total > 1 ? yield* this.link.receive(commands.at(-1)!.step, total - 1, timeout) : new Uint8Array(0)
      const replies: Array<Uint8Array> = []
      let at = -1 // `rest` lacks the first INSYNC
      for (const command of commands) {
        if (at >= 0 && rest[at] !== STK.INSYNC) return yield* this.framingError(command.step, rest[at]!)
        const data = rest.subarray(at + 1, at + 1 + command.dataLength)
        const status = rest[at + 1 + command.dataLength]!
        if (status !== STK.OK) {
          return yield* new ProtocolError({
            port: this.serial.path,
            command: command.step,
            detail:
              status === STK.FAILED
                ? "the bootloader answered FAILED"
                : `expected OK 0x10 after ${command.dataLength} data bytes, got 0x${status.toString(16).padStart(2, "0")}`
          })
        }
        replies.push(data)
        at += command.dataLength + 2
      }
      return replies
    })
  }

  private framingError(step: string, got: number) {
    return Effect.zipRight(
      this.serial.discardInput,
      Effect.fail(
        new ProtocolError({
          port: this.serial.path,
          command: step,
          detail:
            got === STK.NOSYNC
              ? "the bootloader answered NOSYNC (framing lost)"
              : `expected INSYNC 0x14, got 0x${got.toString(16).padStart(2, "0")}`
        })
      )
    )
  }
}
