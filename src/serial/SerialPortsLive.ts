import { Duration, Effect, Layer, Option } from "effect"
import type { SerialPortStream } from "@serialport/stream"
import { PortUnavailable, type PortUnavailableReason, SerialIoError, SignalsUnsupported } from "../domain/errors/serial.js"
import { listPorts } from "./listPorts.js"
import { serialPortStream } from "./portBinding.js"
import { ReceiveBuffer } from "./ReceiveBuffer.js"
import { type OpenOptions, type SerialConnection, SerialPorts } from "./SerialPorts.js"

const OPEN_TIMEOUT = Duration.seconds(5)
/** A write to a healthy port finishes long before this; past it the port is wedged. */
const WRITE_TIMEOUT = Duration.seconds(10)

/** Maps the binding's open error (it carries only a message, no errno) to the operator's likely cause. */
export const classifyOpenError = (message: string): PortUnavailableReason => {
  if (/no such file|ENOENT|not found|no such device|ENODEV|ENXIO/i.test(message)) return "not_found"
  if (/permission denied|EACCES|EPERM|operation not permitted/i.test(message)) return "permission"
  if (/cannot lock|resource temporarily unavailable|EAGAIN|resource busy|EBUSY|device or resource busy/i.test(message)) return "busy"
  if (/is a directory|EISDIR/i.test(message)) return "directory"
  // termios calls on something that is not a terminal (/dev/null, a regular file).
  if (/inappropriate ioctl|ENOTTY/i.test(message)) return "not_a_tty"
  return "other"
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))

const openPort = (path: string, options: OpenOptions) =>
  Effect.async<SerialPortStream, PortUnavailable>((resume) => {
    const port = serialPortStream({ path, baudRate: options.baudRate, parity: options.parity ?? "none" })
    port.open((error) => {
      if (error) {
        const detail = errorText(error)
        resume(Effect.fail(new PortUnavailable({ port: path, reason: classifyOpenError(detail), detail })))
      } else {
        resume(Effect.succeed(port))
      }
    })
  }).pipe(
    Effect.timeoutFail({
      duration: OPEN_TIMEOUT,
      onTimeout: () => new PortUnavailable({ port: path, reason: "other", detail: "open did not complete within 5 s" })
    })
  )

const closePort = (port: SerialPortStream) =>
  Effect.async<void>((resume) => {
    if (!port.isOpen) return resume(Effect.void)
    port.close(() => resume(Effect.void))
  }).pipe(Effect.timeout(Duration.seconds(2)), Effect.ignore)

const makeConnection = (path: string, port: SerialPortStream): SerialConnection => {
  const received = new ReceiveBuffer()
  port.on("data", (chunk: Buffer) => received.push(chunk))
  port.on("close", (error: (Error & { disconnected?: boolean }) | null) =>
    received.fail(error?.disconnected ? `port disconnected (${error.message})` : "port closed")
  )
  port.on("error", (error: Error) => received.fail(error.message))

  // serialport's set() writes both lines at once (TIOCMSET) and defaults the
  // ones not given to "asserted"; keep the current state so a one-line change
  // leaves the other line alone. Linux asserts both when a port is opened.
  const lines = { dtr: true, rts: true }

  const ioError = (operation: string, detail: string) => new SerialIoError({ port: path, operation, detail })
  const failIfGone = (operation: string) =>
    received.failure === undefined ? Effect.void : Effect.fail(ioError(operation, received.failure))

  /** `limit`: a plain timer settles a callback that never comes (cheaper than a timeout fiber race per write). */
  const callback = (
    operation: string,
    run: (done: (error: Error | null | undefined) => void) => void,
    limit?: { readonly ms: number; readonly detail: string }
  ) =>
    Effect.flatMap(failIfGone(operation), () =>
      Effect.async<void, SerialIoError>((resume) => {
        let settled = false
        // A vanished port may never call back; its close event settles instead.
        const onGone = () => settle(Effect.fail(ioError(operation, received.failure ?? "port closed")))
        const timer = limit === undefined ? undefined : setTimeout(() => settle(Effect.fail(ioError(operation, limit.detail))), limit.ms)
        const settle = (effect: Effect.Effect<void, SerialIoError>) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          port.off("close", onGone)
          resume(effect)
        }
        port.once("close", onGone)
        run((error) => settle(error ? Effect.fail(ioError(operation, errorText(error))) : Effect.void))
        return Effect.sync(() => {
          clearTimeout(timer)
          port.off("close", onGone)
        })
      })
    )

  const read = (maxWait: Duration.DurationInput): Effect.Effect<Uint8Array, SerialIoError> =>
    Effect.suspend(() => {
      if (received.length > 0) return Effect.succeed(received.takeAll())
      if (received.failure !== undefined) return Effect.fail(ioError("read", received.failure))
      return received.changed.pipe(
        Effect.timeoutOption(maxWait),
        Effect.flatMap((woke) =>
          Option.isNone(woke)
            ? Effect.succeed(new Uint8Array(0))
            : received.length > 0
              ? Effect.succeed(received.takeAll())
              : Effect.fail(ioError("read", received.failure ?? "port closed"))
        )
      )
    })

  const waitFor = (n: number): Effect.Effect<Uint8Array, SerialIoError> =>
    Effect.suspend(() => {
      if (received.length >= n) return Effect.succeed(received.take(n))
      if (received.failure !== undefined) return Effect.fail(ioError("read", received.failure))
      return Effect.zipRight(received.changed, waitFor(n))
    })

  return {
    path,
    write: (data) =>
      callback(
        "write",
        (done) => {
          port.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength), done)
        },
        { ms: Duration.toMillis(WRITE_TIMEOUT), detail: "the port accepted no data for 10 s" }
      ),
    read,
    readExactly: (n, timeout) =>
      // No timer for an unbounded wait: callers that bound a whole phase themselves save a fiber race per read.
      !Duration.isFinite(Duration.decode(timeout))
        ? waitFor(n)
        : waitFor(n).pipe(
            Effect.timeoutFail({
              duration: timeout,
              onTimeout: () => ioError("read", `expected ${n} bytes within ${Duration.format(timeout)}, ${received.length} arrived`)
            })
          ),
    discardInput: Effect.sync(() => received.clear()),
    setSignals: (signals) =>
      Effect.flatMap(failIfGone("set DTR/RTS"), () =>
        Effect.async<void, SignalsUnsupported | SerialIoError>((resume) => {
          const next = { dtr: signals.dtr ?? lines.dtr, rts: signals.rts ?? lines.rts }
          port.set(next, (error) => {
            if (!error) {
              lines.dtr = next.dtr
              lines.rts = next.rts
              resume(Effect.void)
            } else if (/inappropriate ioctl|ENOTTY|not supported|EINVAL/i.test(error.message)) {
              resume(Effect.fail(new SignalsUnsupported({ port: path, detail: error.message })))
            } else {
              resume(Effect.fail(ioError("set DTR/RTS", error.message)))
            }
          })
        })
      ),
    setBaudRate: (baudRate) => callback(`set baud rate ${baudRate}`, (done) => port.update({ baudRate }, done)),
    drain: callback("drain", (done) => port.drain(done))
  }
}

export const SerialPortsLive = Layer.succeed(SerialPorts, {
  open: (path, options) => Effect.acquireRelease(openPort(path, options), closePort).pipe(Effect.map((port) => makeConnection(path, port))),
  list: listPorts()
})
