import { Effect } from "effect"
import { PortNotFound } from "../domain/errors/serial.js"
import type { PortInfo } from "./SerialPorts.js"
import { SerialPorts } from "./SerialPorts.js"

const VID_PID = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$/

/**
 * Which listed ports a selector means: a path (`/dev/ttyUSB0`, a by-id link,
 * or a bare `ttyUSB0`), a USB serial number, or `VID:PID` in hex.
 */
export const matchPorts = (selector: string, ports: ReadonlyArray<PortInfo>): Array<PortInfo> => {
  const wanted = selector.trim()
  const byPath = ports.filter((port) => port.path === wanted || port.byId === wanted || port.path === `/dev/${wanted}`)
  if (byPath.length > 0) return byPath
  const vidPid = VID_PID.exec(wanted)
  if (vidPid) {
    const [vendorId, productId] = [vidPid[1]!.toLowerCase(), vidPid[2]!.toLowerCase()]
    return ports.filter((port) => port.vendorId === vendorId && port.productId === productId)
  }
  return ports.filter((port) => port.serialNumber !== undefined && port.serialNumber === wanted)
}

const looksLikePath = (selector: string) => selector.startsWith("/")

/**
 * Resolves a selector to one port path. A path that is not listed (a pty, a
 * port udev/sysfs does not report) is passed through as given: opening it
 * gives the precise error (missing, permission, busy).
 */
export const resolvePort = (selector: string): Effect.Effect<string, PortNotFound, SerialPorts> =>
  Effect.gen(function* () {
    const ports = yield* (yield* SerialPorts).list
    return yield* resolveAmong(selector, ports)
  })

export const resolveAmong = (selector: string, ports: ReadonlyArray<PortInfo>): Effect.Effect<string, PortNotFound> => {
  const matches = matchPorts(selector, ports)
  if (matches.length === 1) return Effect.succeed(matches[0]!.path)
  if (matches.length === 0 && looksLikePath(selector)) return Effect.succeed(selector.trim())
  return Effect.fail(
    new PortNotFound({
      selector,
      matches: matches.map((port) => port.path),
      available: ports.map((port) => describePort(port))
    })
  )
}

/** `/dev/ttyUSB0 (10c4:ea60 serial 0001)` */
export const describePort = (port: PortInfo): string => {
  const usb = port.vendorId && port.productId ? `${port.vendorId}:${port.productId}` : undefined
  const parts = [usb, port.serialNumber ? `serial ${port.serialNumber}` : undefined].filter(Boolean)
  return parts.length > 0 ? `${port.path} (${parts.join(" ")})` : port.path
}
