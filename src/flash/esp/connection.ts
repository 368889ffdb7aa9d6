import { Duration, Effect, Option } from "effect"
import { CommandRejected, FlashTimeout, ProtocolError } from "../../domain/errors/flash.js"
import type { SerialIoError } from "../../domain/errors/serial.js"
import type { SerialConnection } from "../../serial/SerialPorts.js"
import { SlipDecoder, slipEncode } from "../../serial/slip.js"
import { type Command, opName } from "./commands.js"
import { decodeResponse, encodeRequest, type Response } from "./packet.js"

/** ROM error "received message is invalid", also what an unknown command gets. */
export const ROM_INVALID_MESSAGE = 0x05
/** How many unrelated packets a command skips before giving up on its reply (esptool's limit). */
const MAX_SKIPPED_PACKETS = 100
/** Wake-up interval of a waiting read; the caller's timeout decides when to give up. */
const IDLE_READ = Duration.seconds(1)

export type CommandError = FlashTimeout | ProtocolError | CommandRejected | SerialIoError

/**
 * Request/response over SLIP on an open port. Replies are matched by
 * direction and op; anything else (boot log, extra SYNC replies) is skipped.
 */
export class EspConnection {
  private readonly decoder = new SlipDecoder()
  private readonly packets: Array<Uint8Array> = []
  /** Known after chip detection; inferred from reply size before. */
  statusBytes: 2 | 4 | undefined = undefined
  /** Bytes put on the wire (SLIP-framed) since the last reset of the counter. */
  wireBytes = 0
  /** Bytes seen outside frames, kept (bounded) to explain a failed sync. */
  private noise = ""

  constructor(readonly serial: SerialConnection) {}

  get port(): string {
    return this.serial.path
  }

  recentNoise(): string {
    return this.noise
  }

  send(command: Command): Effect.Effect<void, SerialIoError> {
    const frame = slipEncode(encodeRequest(command.op, command.data, command.checksum))
    this.wireBytes += frame.length
    return this.serial.write(frame)
  }

  /** Drops buffered input and half-decoded frames (before a sync, after a baud change). */
  readonly reset: Effect.Effect<void> = Effect.suspend(() => {
    this.packets.length = 0
    this.decoder.push(Uint8Array.of(0xc0))
    this.packets.length = 0
    return this.serial.discardInput
  })

  /** Waits for the next SLIP packet; callers bound it with a timeout (interrupting a read is safe). */
  readonly nextPacket: Effect.Effect<Uint8Array, SerialIoError> = Effect.suspend(() => {
    const queued = this.packets.shift()
    if (queued !== undefined) return Effect.succeed(queued)
    return Effect.flatMap(this.serial.read(IDLE_READ), (chunk) => {
      this.feed(chunk)
      return this.nextPacket
    })
  })

  /** Next packet within `wait`, or undefined. */
  packetWithin(wait: Duration.DurationInput): Effect.Effect<Uint8Array | undefined, SerialIoError> {
    return this.nextPacket.pipe(Effect.timeoutOption(wait), Effect.map(Option.getOrUndefined))
  }

  private feed(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    for (const packet of this.decoder.push(chunk)) this.packets.push(packet)
    if (!this.decoder.pending && this.noise.length < 512) {
      // Printable bytes outside frames are usually a boot log: worth showing when sync fails.
      const text = String.fromCharCode(...chunk.filter((b) => (b >= 0x20 && b < 0x7f) || b === 0x0a)).trim()
      if (text) this.noise = (this.noise + " " + text).slice(-512)
    }
  }

  /**
   * Reads and drops packets until the line has been quiet for `quiet` (the
   * ROM repeats an unsupported-command reply 8 times; late replies after a
   * timeout), then drops buffered input.
   */
  drain(quiet: Duration.DurationInput): Effect.Effect<void, SerialIoError> {
    const loop = (left: number): Effect.Effect<void, SerialIoError> =>
      left <= 0 ? Effect.void : Effect.flatMap(this.packetWithin(quiet), (packet) => (packet === undefined ? Effect.void : loop(left - 1)))
    return Effect.zipRight(loop(MAX_SKIPPED_PACKETS * 2), this.reset)
  }

  /** Reads until the reply to `op` arrives (or the ROM's unsupported-command reply); no status check. */
  awaitReply(command: Command): Effect.Effect<Response, FlashTimeout | ProtocolError | SerialIoError> {
    const loop = (skipped: number): Effect.Effect<Response, ProtocolError | SerialIoError> =>
      skipped >= MAX_SKIPPED_PACKETS
        ? Effect.fail(new ProtocolError({ port: this.port, command: command.label, detail: `no reply among ${skipped} packets` }))
        : Effect.flatMap(this.nextPacket, (packet) => {
            const decoded = decodeResponse(packet, this.statusBytes)
            if (decoded._tag !== "Response") return loop(skipped + 1)
            const reply = decoded.response
            if (reply.op === command.op) return Effect.succeed(reply)
            // The ESP32/ESP8266 ROM answers a command it does not know with another op,
            // status ≠ 0 and error 0x05 (esptool loader.py command(): UnsupportedCommandError).
            if (reply.status !== 0 && reply.error === ROM_INVALID_MESSAGE) return Effect.succeed(reply)
            return loop(skipped + 1)
          })
    return loop(0).pipe(
      Effect.timeoutFail({
        duration: command.timeout,
        onTimeout: () => new FlashTimeout({ port: this.port, step: command.label, timeoutMs: Duration.toMillis(command.timeout) })
      })
    )
  }

  /** Sends a command and returns its reply; a failure status is CommandRejected. */
  command(command: Command): Effect.Effect<Response, CommandError> {
    return Effect.zipRight(this.send(command), this.awaitReply(command)).pipe(
      Effect.flatMap((response) =>
        response.status === 0
          ? Effect.succeed(response)
          : Effect.fail(new CommandRejected({ port: this.port, command: command.label, errorCode: response.error }))
      )
    )
  }

  readReg(command: Command): Effect.Effect<number, CommandError> {
    return Effect.map(this.command(command), (response) => response.value >>> 0)
  }
}

export const describeOp = opName
