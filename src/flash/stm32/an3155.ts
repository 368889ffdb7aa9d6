import { Duration, Effect } from "effect"
import { BootloaderNack, ProtocolError } from "../../domain/errors/flash.js"
import type { SerialIoError } from "../../domain/errors/serial.js"
import type { SerialConnection } from "../../serial/SerialPorts.js"
import { McuLink } from "../mcuLink.js"

export { concatBytes } from "../../domain/bytes.js"

/**
 * The STM32 system-memory bootloader over USART (ST application note AN3155):
 * 0x7F to start, commands as `cmd, ~cmd`, ACK 0x79 / NACK 0x1F after every
 * stage, addresses big-endian with an XOR checksum, data as `N-1, bytes, XOR`.
 */
export const ACK = 0x79
export const NACK = 0x1f

export const CMD = {
  GET: 0x00,
  GET_VERSION: 0x01,
  GET_ID: 0x02,
  READ_MEMORY: 0x11,
  GO: 0x21,
  WRITE_MEMORY: 0x31,
  ERASE: 0x43,
  EXTENDED_ERASE: 0x44
} as const

const COMMAND_CODES = new Set([0x00, 0x01, 0x02, 0x11, 0x21, 0x31, 0x43, 0x44, 0x50, 0x63, 0x73, 0x82, 0x92, 0xa1])
/** Harmless if the bootloader ran them after a NACK: GET, GET_VERSION, GET_ID. */
const READ_ONLY_CODES = new Set([0x00, 0x01, 0x02])

/**
 * Whether a READ_MEMORY sent in one write (`cmd ~cmd, address+xor, N ~N`) is
 * safe: after a NACK at the command or the address stage, the rest must not
 * parse as any command except a read-only one (see An3155Link).
 */
export const pipelineSafe = (stages: Uint8Array): boolean => {
  for (const resume of [2, 7]) {
    for (let i = resume; i + 1 < stages.length; i += 2) {
      const code = stages[i]!
      if ((code ^ stages[i + 1]!) === 0xff && COMMAND_CODES.has(code) && !READ_ONLY_CODES.has(code)) return false
    }
  }
  return true
}

export const xorOf = (bytes: ArrayLike<number>, seed = 0): number => {
  let acc = seed
  for (let i = 0; i < bytes.length; i++) acc ^= bytes[i]!
  return acc
}

export const command = (code: number) => Uint8Array.of(code, code ^ 0xff)

export const address = (value: number) => {
  const bytes = [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff]
  return Uint8Array.from([...bytes, xorOf(bytes)])
}

/** `N-1, data, XOR(N-1, data)`. */
export const dataFrame = (data: Uint8Array) => {
  const out = new Uint8Array(data.length + 2)
  out[0] = data.length - 1
  out.set(data, 1)
  out[data.length + 1] = xorOf(data, data.length - 1)
  return out
}

/**
 * AN3155 stages on an open port, bounded by `link.guard` (see ../mcuLink.ts).
 *
 * Pipelining. The application note's host flow waits for the ACK after every
 * stage (command, address, length or data); the bootloader polls its USART
 * (one data register plus the shift register) and answers each stage within
 * microseconds, so bytes sent ahead are not lost — the danger is a NACK: the
 * bytes after it are parsed as new commands.
 * - WRITE_MEMORY, ERASE, GO: strictly stop-and-wait. After a NACKed address,
 *   256 bytes of firmware parsed as commands could hold 0x82 0x7D
 *   (READOUT_PROTECT) or 0x73 0x8C (WRITE_UNPROTECT).
 * - READ_MEMORY of flash during verify: the three stages go in one write (one
 *   round trip instead of three). Read protection is already ruled out (the
 *   unique id was read with READ_MEMORY at connect) and the address is in
 *   flash; should a stage still be NACKed, what follows is the address and
 *   `N, ~N`; `pipelineSafe` checks that neither parses as a command
 *   other than GET / GET_VERSION / GET_ID, else that block is read stop-and-wait.
 */
export class An3155Link {
  readonly link: McuLink
  constructor(readonly serial: SerialConnection) {
    this.link = new McuLink(serial)
  }

  get wireBytes(): number {
    return this.link.wireBytes
  }

  private get port() {
    return this.serial.path
  }

  send(bytes: Uint8Array): Effect.Effect<void, SerialIoError> {
    return this.link.send(bytes)
  }

  /** Waits for ACK; NACK → BootloaderNack naming the step. */
  ack(step: string, timeout: Duration.DurationInput): Effect.Effect<void, BootloaderNack | ProtocolError | SerialIoError> {
    return Effect.flatMap(
      this.link.receive(step, 1, timeout),
      ([reply]): Effect.Effect<void, BootloaderNack | ProtocolError> =>
        reply === ACK
          ? Effect.void
          : reply === NACK
            ? Effect.fail(new BootloaderNack({ port: this.port, command: step }))
            : Effect.fail(
                new ProtocolError({
                  port: this.port,
                  command: step,
                  detail: `expected ACK 0x79 or NACK 0x1F, got 0x${reply!.toString(16).padStart(2, "0")}`
                })
              )
    )
  }

  /** Sends `bytes` and waits for the ACK of that stage. */
  stage(step: string, bytes: Uint8Array, timeout: Duration.DurationInput) {
    return Effect.zipRight(this.send(bytes), this.ack(step, timeout))
  }

  /** Reads `n` bytes of a reply body (after its ACK). */
  body(step: string, n: number, timeout: Duration.DurationInput) {
    return this.link.receive(step, n, timeout)
  }
}
