import { Duration, Effect } from "effect"
import { BootloaderNack, FlashTimeout, ProtocolError } from "../../domain/errors/flash.js"
import type { SerialIoError } from "../../domain/errors/serial.js"
import type { SerialConnection } from "../../serial/SerialPorts.js"

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

export class An3155Link {
  wireBytes = 0
  constructor(readonly serial: SerialConnection) {}

  private get port() {
    return this.serial.path
  }

  private withTimeout<A, E>(step: string, timeout: Duration.DurationInput, effect: Effect.Effect<A, E>) {
    return effect.pipe(
      Effect.timeoutFail({ duration: timeout, onTimeout: () => new FlashTimeout({ port: this.port, step, timeoutMs: Duration.toMillis(timeout) }) })
    )
  }

  send(bytes: Uint8Array): Effect.Effect<void, SerialIoError> {
    this.wireBytes += bytes.length
    return this.serial.write(bytes)
  }

  read(n: number): Effect.Effect<Uint8Array, SerialIoError> {
    return Effect.tap(this.serial.readExactly(n, Duration.minutes(2)), (bytes) => Effect.sync(() => void (this.wireBytes += bytes.length)))
  }

  /** Waits for ACK; NACK → BootloaderNack naming the step. */
  ack(step: string, timeout: Duration.DurationInput): Effect.Effect<void, BootloaderNack | FlashTimeout | ProtocolError | SerialIoError> {
    return this.withTimeout(
      step,
      timeout,
      Effect.flatMap(this.read(1), ([reply]): Effect.Effect<void, BootloaderNack | ProtocolError> =>
        reply === ACK
          ? Effect.void
          : reply === NACK
            ? Effect.fail(new BootloaderNack({ port: this.port, command: step }))
            : Effect.fail(new ProtocolError({ port: this.port, command: step, detail: `expected ACK 0x79 or NACK 0x1F, got 0x${reply!.toString(16).padStart(2, "0")}` }))
      )
    )
  }

  /** Sends `bytes` and waits for the ACK of that stage. */
  stage(step: string, bytes: Uint8Array, timeout: Duration.DurationInput) {
    // Listening while the write completes saves a libuv round trip per stage.
    return Effect.zipRight(this.send(bytes), this.ack(step, timeout), { concurrent: true })
  }

  /** Reads `n` bytes of a reply body (after its ACK). */
  body(step: string, n: number, timeout: Duration.DurationInput) {
    return this.withTimeout(step, timeout, this.read(n))
  }
}
