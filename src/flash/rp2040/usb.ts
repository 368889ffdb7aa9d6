import { FileSystem, Path } from "@effect/platform"
import { Effect, Option } from "effect"

/**
 * Telling Picos apart on one station. udev names every USB device twice:
 * by-path (the physical hub port: `…-usb-0:1.3:1.0` for the CDC tty,
 * `…-usb-0:1.3:1.0-scsi-0:0:0:0-part1` for the BOOTSEL disk) and by-id (the USB
 * serial: `usb-Raspberry_Pi_Pico_E6614103E73D5F2F-if00`). A board keeps its hub
 * port across the BOOTSEL ⇄ app reboot, so the port path is what pairs a BOOTSEL
 * volume / USB device with the CDC port of the same board. The serial cannot do
 * that on an RP2040: its boot ROM reports the fixed serial E0C9125B0D9B on every
 * chip; only the app (pico-sdk: the flash unique id) has a per-board serial,
 * which we use to check that the board answering is the one flashed.
 *
 * Roots derive from the port: `<dev>/serial/by-path/…` → `<dev>/disk/by-path`,
 * `<dev>/serial/by-id`, and sysfs at `<dev>/../sys` (so `/dev` → `/sys`; an
 * emulated tree in a temp dir works the same way).
 */

export const RP2040_BOOTROM_SERIAL = "E0C9125B0D9B"

export interface UsbLocation {
  /** `platform-xhci-hcd.0-usb-0:1.3`: controller + hub port path, the same for every interface and mode. */
  readonly key: string
  /** `1.3` */
  readonly portPath: string
  readonly devRoot: string
}

/** Location key of a by-path link name (tty or disk). */
export const locationOfLinkName = (name: string): Option.Option<{ key: string; portPath: string }> => {
  const match = /^(.*?usb-\d+:([\d.]+)):\d+\.\d+/.exec(name)
  return match ? Option.some({ key: match[1]!, portPath: match[2]! }) : Option.none()
}

/** USB serial from a by-id link name `usb-<Vendor>_<Product>_<SERIAL>-if00`. */
export const serialOfByIdName = (name: string): Option.Option<string> => {
  const match = /^usb-.*_([^_]+?)-if\d+(-port\d+)?$/.exec(name)
  return match ? Option.some(match[1]!) : Option.none()
}

export const devRootOf = (port: string): Option.Option<string> => {
  for (const marker of ["/serial/by-path/", "/serial/by-id/"]) {
    const at = port.indexOf(marker)
    if (at > 0) return Option.some(port.slice(0, at))
  }
  return port.startsWith("/dev/") ? Option.some("/dev") : Option.none()
}

const realPath = (fs: FileSystem.FileSystem, file: string) => fs.realPath(file).pipe(Effect.option)

const links = (fs: FileSystem.FileSystem, path: Path.Path, dir: string) =>
  fs.readDirectory(dir).pipe(
    Effect.map((names) => names.map((name) => ({ name, full: path.join(dir, name) }))),
    Effect.orElseSucceed(() => [] as Array<{ name: string; full: string }>)
  )

/** The hub port of a station port: from its own by-path name, or from the by-path link pointing at the same tty. */
export const portLocation = (port: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const devRoot = devRootOf(port)
    if (Option.isNone(devRoot)) return Option.none<UsbLocation>()
    if (path.dirname(port).endsWith("/serial/by-path")) {
      return Option.map(locationOfLinkName(path.basename(port)), (l): UsbLocation => ({ ...l, devRoot: devRoot.value }))
    }
    const target = yield* realPath(fs, port)
    if (Option.isNone(target)) return Option.none<UsbLocation>()
    for (const link of yield* links(fs, path, path.join(devRoot.value, "serial", "by-path"))) {
      const linked = yield* realPath(fs, link.full)
      if (Option.isSome(linked) && linked.value === target.value) {
        return Option.map(locationOfLinkName(link.name), (l): UsbLocation => ({ ...l, devRoot: devRoot.value }))
      }
    }
    return Option.none<UsbLocation>()
  })

/** The hub port of a mounted BOOTSEL volume: the disk by-path link whose block device is mounted there. */
export const volumeLocation = (volume: string, devRoot: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const mounted = yield* realPath(fs, volume)
    const volumeDev = yield* fs.stat(volume).pipe(
      Effect.map((info) => info.dev),
      Effect.option
    )
    for (const link of yield* links(fs, path, path.join(devRoot, "disk", "by-path"))) {
      const target = yield* realPath(fs, link.full)
      if (Option.isNone(target)) continue
      // Real: the link names /dev/sdX1, whose device number is the mount's st_dev. Emulated: it names the mount itself.
      const same =
        (Option.isSome(mounted) && target.value === mounted.value) ||
        (yield* fs.stat(target.value).pipe(
          Effect.map(
            (info) => info.type === "BlockDevice" && Option.isSome(volumeDev) && Option.getOrUndefined(info.rdev) === volumeDev.value
          ),
          Effect.orElseSucceed(() => false)
        ))
      if (same) return locationOfLinkName(link.name)
    }
    return Option.none<{ key: string; portPath: string }>()
  })

/** USB serial of the tty a port names (from the by-id link pointing at the same tty). */
export const usbSerialOf = (port: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    if (path.dirname(port).endsWith("/serial/by-id")) return serialOfByIdName(path.basename(port))
    const devRoot = devRootOf(port)
    const target = yield* realPath(fs, port)
    if (Option.isNone(devRoot) || Option.isNone(target)) return Option.none<string>()
    for (const link of yield* links(fs, path, path.join(devRoot.value, "serial", "by-id"))) {
      const linked = yield* realPath(fs, link.full)
      if (Option.isSome(linked) && linked.value === target.value) return serialOfByIdName(link.name)
    }
    return Option.none<string>()
  })

export interface UsbDevice {
  readonly sysfs: string
  readonly busnum: number
  readonly devnum: number
  readonly idVendor: string
  readonly idProduct: string
  readonly serial: string | undefined
}

/** RP2040 in BOOTSEL (2e8a:0003) or a pico-sdk app with USB stdio (2e8a:000a). */
export const PICO_BOOTSEL_PID = "0003"
export const PICO_STDIO_PID = "000a"

/** The USB device (sysfs `<bus>-<portPath>`) now at a hub port, whatever mode it is in. */
export const usbDeviceAt = (location: UsbLocation) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const devices = path.join(path.dirname(location.devRoot), "sys", "bus", "usb", "devices")
    const controller = /pci-([0-9a-f:.]+)-usb/i.exec(location.key)?.[1]
    for (const entry of yield* links(fs, path, devices)) {
      if (!new RegExp(`^\\d+-${location.portPath.replace(/\./g, "\\.")}$`).test(entry.name)) continue
      if (controller !== undefined) {
        const real = yield* realPath(fs, entry.full)
        if (Option.isNone(real) || !real.value.includes(controller)) continue
      }
      const read = (attribute: string) =>
        fs.readFileString(path.join(entry.full, attribute)).pipe(
          Effect.map((s) => s.trim()),
          Effect.option
        )
      const [busnum, devnum, idVendor, idProduct, serial] = yield* Effect.all([
        read("busnum"),
        read("devnum"),
        read("idVendor"),
        read("idProduct"),
        read("serial")
      ])
      if (Option.isNone(busnum) || Option.isNone(devnum) || Option.isNone(idProduct)) continue
      const device: UsbDevice = {
        sysfs: entry.full,
        busnum: Number(busnum.value),
        devnum: Number(devnum.value),
        idVendor: Option.getOrElse(idVendor, () => ""),
        idProduct: idProduct.value,
        serial: Option.getOrUndefined(serial)
      }
      return Option.some(device)
    }
    return Option.none<UsbDevice>()
  })
