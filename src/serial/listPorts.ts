import { Duration, Effect } from "effect"
import { readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs"
import { basename, dirname, join, resolve } from "node:path"
import { SerialPort } from "serialport"
import type { PortInfo } from "./SerialPorts.js"

export interface ListRoots {
  /** `/sys/class/tty` */
  readonly sysClassTty: string
  /** `/dev/serial/by-id` */
  readonly serialById: string
  /** `/dev` */
  readonly dev: string
}

const defaultRoots: ListRoots = { sysClassTty: "/sys/class/tty", serialById: "/dev/serial/by-id", dev: "/dev" }

// Same family of names serialport's udev lister accepts; ttyS* only when USB-backed
// (every PC has 32 phantom 8250 ports).
const SERIAL_NAME = /^(ttyUSB|ttyACM|ttyAMA|ttyMFD|ttyO|ttyWCH|ttyXRUSB|rfcomm)\d+$/
const MAX_USB_DEPTH = 6

const readText = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8").trim() || undefined
  } catch {
    return undefined
  }
}

const safeList = (dir: string): Array<string> => {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

/** Walks up from the tty's device node to the USB device that carries idVendor/idProduct. */
const usbAttributes = (deviceDir: string) => {
  let dir = deviceDir
  for (let depth = 0; depth < MAX_USB_DEPTH && dir !== "/"; depth++) {
    const vendorId = readText(join(dir, "idVendor"))
    if (vendorId !== undefined) {
      return {
        vendorId: vendorId.toLowerCase(),
        productId: readText(join(dir, "idProduct"))?.toLowerCase(),
        serialNumber: readText(join(dir, "serial")),
        manufacturer: readText(join(dir, "manufacturer"))
      }
    }
    dir = dirname(dir)
  }
  return undefined
}

/** Ports from sysfs: works without udev (containers, minimal images). */
export const listFromSysfs = (roots: ListRoots = defaultRoots): Array<PortInfo> => {
  const ports: Array<PortInfo> = []
  for (const name of safeList(roots.sysClassTty).sort()) {
    let deviceDir: string
    try {
      deviceDir = realpathSync(join(roots.sysClassTty, name, "device"))
    } catch {
      continue // virtual tty (console, pty…): no device behind it
    }
    const usb = usbAttributes(deviceDir)
    if (!SERIAL_NAME.test(name) && !(name.startsWith("ttyS") && usb)) continue
    ports.push({ path: join(roots.dev, name), ...usb })
  }
  return ports
}

/** `/dev/serial/by-id/<link>` → the `/dev/ttyX` path it points at. */
export const byIdLinks = (roots: ListRoots = defaultRoots): Map<string, string> => {
  const links = new Map<string, string>()
  for (const link of safeList(roots.serialById)) {
    const full = join(roots.serialById, link)
    try {
      const target = basename(resolve(roots.serialById, readlinkSync(full)))
      links.set(join(roots.dev, target), full)
    } catch {
      // dangling link: the device went away while we listed
    }
  }
  return links
}

const udevList = Effect.tryPromise(() => SerialPort.list()).pipe(
  Effect.timeout(Duration.seconds(3)),
  Effect.map((ports) =>
    ports.map(
      (port): PortInfo => ({
        path: port.path,
        vendorId: port.vendorId?.toLowerCase(),
        productId: port.productId?.toLowerCase(),
        serialNumber: port.serialNumber,
        manufacturer: port.manufacturer
      })
    )
  ),
  Effect.orElseSucceed((): Array<PortInfo> => [])
)

const pick = <A>(a: A | undefined, b: A | undefined): A | undefined => (a !== undefined ? a : b)

/**
 * udev's view (when udevadm exists) merged with sysfs and the by-id links:
 * each source fills the fields the others lack. Never fails.
 */
export const listPorts = (roots: ListRoots = defaultRoots): Effect.Effect<ReadonlyArray<PortInfo>> =>
  Effect.gen(function* () {
    const fromUdev = roots === defaultRoots ? yield* udevList : []
    const fromSysfs = yield* Effect.sync(() => listFromSysfs(roots)).pipe(Effect.orElseSucceed(() => []))
    const links = yield* Effect.sync(() => byIdLinks(roots)).pipe(Effect.orElseSucceed(() => new Map<string, string>()))
    const merged = new Map<string, PortInfo>()
    for (const port of [...fromUdev, ...fromSysfs]) {
      const known = merged.get(port.path)
      merged.set(
        port.path,
        known === undefined
          ? port
          : {
              path: port.path,
              vendorId: pick(known.vendorId, port.vendorId),
              productId: pick(known.productId, port.productId),
              serialNumber: pick(known.serialNumber, port.serialNumber),
              manufacturer: pick(known.manufacturer, port.manufacturer)
            }
      )
    }
    for (const [path, link] of links) {
      const known = merged.get(path) ?? { path }
      merged.set(path, { ...known, byId: link })
    }
    return [...merged.values()].sort((a, b) => a.path.localeCompare(b.path, undefined, { numeric: true }))
  })
