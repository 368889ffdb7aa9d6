import { autoDetect, type BindingInterface, type BindingPortInterface } from "@serialport/bindings-cpp"
import { SerialPortStream } from "@serialport/stream"

/**
 * The serial binding every port here is opened with: the one serialport
 * detects for the platform, with one repair on Linux and macOS.
 *
 * The repair: @serialport/bindings-cpp 13 has one uv_poll handle per port,
 * and its `Poller::poll` (src/poller.cpp) restarts that handle with only the
 * interest just asked for (`uv_poll_start(poll_handle, events, …)`), dropping
 * any other still waited on. When the reader re-arms "readable" while a write
 * waits for "writable" (the board answered one command while the next is
 * still filling the port's output queue, which is what a pipelined flasher
 * does), the write's wake-up is lost: it hangs until the board sends more,
 * and a board waiting for the rest of that command never does. Flashes under
 * load stalled for the whole write timeout (10 s) and retried.
 * test/serial/portBinding.test.ts drives that pattern through real ptys.
 *
 * Each port's poller is asked, every time, for everything that has a waiter
 * (the pending "readable"/"writable"/"disconnect" listeners) plus the new
 * interest, so no waiter's interest is ever dropped. The flags are the
 * binding's own (dist/poller.js `EVENTS`). Windows has no poller.
 */
const UV_READABLE = 0b001
const UV_WRITABLE = 0b010
const UV_DISCONNECT = 0b100

interface PollerLike {
  poll(eventFlag?: number): void
  listenerCount(event: string): number
}

const keepEveryInterest = (poller: PollerLike): void => {
  const pollOnly = poller.poll.bind(poller)
  poller.poll = (eventFlag = 0) =>
    pollOnly(
      eventFlag |
        (poller.listenerCount("readable") > 0 ? UV_READABLE : 0) |
        (poller.listenerCount("writable") > 0 ? UV_WRITABLE : 0) |
        (poller.listenerCount("disconnect") > 0 ? UV_DISCONNECT : 0)
    )
}

const pollerOf = (port: BindingPortInterface): PollerLike | undefined => {
  const poller = (port as { readonly poller?: Partial<PollerLike> }).poller
  return typeof poller?.poll === "function" && typeof poller.listenerCount === "function" ? (poller as PollerLike) : undefined
}

/** The detected binding; every port it opens keeps all its poll interests. */
export const repairedBinding = (base: BindingInterface = autoDetect() as BindingInterface): BindingInterface => ({
  list: () => base.list(),
  open: async (options) => {
    const port = await base.open(options)
    const poller = pollerOf(port)
    if (poller) keepEveryInterest(poller)
    return port
  }
})

let binding: BindingInterface | undefined

/** A serial port, not yet opened, on the repaired binding: what the flasher, the emulators and test clients open. */
export const serialPortStream = (options: {
  readonly path: string
  readonly baudRate: number
  readonly parity?: "none" | "even" | "odd"
}): SerialPortStream => {
  binding ??= repairedBinding()
  return new SerialPortStream({
    binding,
    path: options.path,
    baudRate: options.baudRate,
    parity: options.parity ?? "none",
    autoOpen: false
  })
}
