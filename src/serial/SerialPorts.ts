import type { Duration, Effect, Scope } from "effect"
import { Context } from "effect"
import type { PortUnavailable, SerialIoError, SignalsUnsupported } from "../domain/errors/serial.js"

export interface PortInfo {
  readonly path: string
  readonly vendorId?: string | undefined
  readonly productId?: string | undefined
  readonly serialNumber?: string | undefined
  readonly manufacturer?: string | undefined
  /** `/dev/serial/by-id/...` link when one exists. */
  readonly byId?: string | undefined
}

export interface OpenOptions {
  readonly baudRate: number
  /** 8N1 unless set; the STM32 system bootloader talks 8E1. */
  readonly parity?: "none" | "even" | "odd" | undefined
}

/** An open port. Reads come from an internal buffer fed by the port's data events. */
export interface SerialConnection {
  readonly path: string
  readonly write: (data: Uint8Array) => Effect.Effect<void, SerialIoError>
  /** Resolves with whatever bytes are buffered, waiting up to `maxWait` for at least one. Empty on timeout. */
  readonly read: (maxWait: Duration.DurationInput) => Effect.Effect<Uint8Array, SerialIoError>
  /** Waits until `n` bytes are buffered (or fails with SerialIoError on timeout / close); `Duration.infinity` arms no timer. */
  readonly readExactly: (n: number, timeout: Duration.DurationInput) => Effect.Effect<Uint8Array, SerialIoError>
  /** Drops anything buffered (input) — e.g. boot noise before a sync. */
  readonly discardInput: Effect.Effect<void>
  readonly setSignals: (signals: {
    readonly dtr?: boolean
    readonly rts?: boolean
  }) => Effect.Effect<void, SignalsUnsupported | SerialIoError>
  readonly setBaudRate: (baudRate: number) => Effect.Effect<void, SerialIoError>
  /** Waits until written bytes left the OS buffer. */
  readonly drain: Effect.Effect<void, SerialIoError>
}

export interface SerialPortsService {
  /** Opens a port for the scope's lifetime; closed when the scope ends. */
  readonly open: (path: string, options: OpenOptions) => Effect.Effect<SerialConnection, PortUnavailable, Scope.Scope>
  /** Never fails: falls back to /dev/serial/by-id and /sys/class/tty when udevadm is missing. */
  readonly list: Effect.Effect<ReadonlyArray<PortInfo>>
}

export class SerialPorts extends Context.Tag("fleet-provision/SerialPorts")<SerialPorts, SerialPortsService>() {}
