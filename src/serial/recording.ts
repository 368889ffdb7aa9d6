import { Clock, Effect, Layer } from "effect"
import { SerialIoError, SignalsUnsupported } from "../domain/errors/serial.js"
import { type SerialConnection, SerialPorts } from "./SerialPorts.js"

/** One DTR/RTS change as the port would see it: both line states after the call, at the Clock's time. */
export interface SignalEvent {
  readonly atMillis: number
  readonly dtr: boolean
  readonly rts: boolean
  /** The lines the caller named in this call. */
  readonly changed: { readonly dtr?: boolean; readonly rts?: boolean }
}

export interface RecordingConnection {
  readonly connection: SerialConnection
  /** Everything recorded so far, oldest first. */
  readonly events: () => ReadonlyArray<SignalEvent>
}

/**
 * A connection that records DTR/RTS changes (time from `Clock`, so under
 * TestClock the timings are exact) for tests of reset sequences. Data methods
 * come from `base` or fail loudly; `signalsSupported: false` behaves like a
 * pseudo-terminal.
 */
export const makeRecordingConnection = (
  options: { readonly path?: string; readonly signalsSupported?: boolean; readonly base?: Partial<SerialConnection> } = {}
): RecordingConnection => {
  const path = options.path ?? "/dev/recording"
  const log: Array<SignalEvent> = []
  const lines = { dtr: true, rts: true }
  const missing = (member: string) =>
    Effect.fail(new SerialIoError({ port: path, operation: member, detail: "not provided by the recording connection" }))
  const connection: SerialConnection = {
    path,
    write: () => missing("write"),
    read: () => missing("read"),
    readExactly: () => missing("readExactly"),
    discardInput: Effect.void,
    setBaudRate: () => missing("setBaudRate"),
    drain: Effect.void,
    ...options.base,
    setSignals: (signals) =>
      options.signalsSupported === false
        ? Effect.fail(new SignalsUnsupported({ port: path, detail: "Inappropriate ioctl for device (recording)" }))
        : Effect.flatMap(Clock.currentTimeMillis, (atMillis) =>
            Effect.sync(() => {
              lines.dtr = signals.dtr ?? lines.dtr
              lines.rts = signals.rts ?? lines.rts
              log.push({ atMillis, dtr: lines.dtr, rts: lines.rts, changed: { ...signals } })
            })
          )
  }
  return { connection, events: () => [...log] }
}

/** A SerialPorts layer whose every `open` yields the given recording connection. */
export const recordingSerialPortsLayer = (recording: RecordingConnection) =>
  Layer.succeed(SerialPorts, {
    open: () => Effect.succeed(recording.connection),
    list: Effect.succeed([{ path: recording.connection.path }])
  })
