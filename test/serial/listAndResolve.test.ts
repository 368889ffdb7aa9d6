import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { type PortInfo, SerialPortsLive, SerialPorts, listPorts, matchPorts, resolveAmong, resolvePort } from "../../src/serial/index.js"

/** A miniature sysfs + /dev/serial/by-id as a container without udev would have it. */
const makeFakeSys = () => {
  const root = mkdtempSync(join(tmpdir(), "fp-sysfs-"))
  const devices = join(root, "sys/devices/pci0000:00/usb1")
  const cp2102 = join(devices, "1-1")
  const esp = join(devices, "1-2")
  mkdirSync(join(cp2102, "1-1:1.0/ttyUSB0"), { recursive: true })
  mkdirSync(join(esp, "1-2:1.0"), { recursive: true })
  writeFileSync(join(cp2102, "idVendor"), "10c4\n")
  writeFileSync(join(cp2102, "idProduct"), "EA60\n")
  writeFileSync(join(cp2102, "serial"), "0001\n")
  writeFileSync(join(cp2102, "manufacturer"), "Silicon Labs\n")
  writeFileSync(join(esp, "idVendor"), "303a\n")
  writeFileSync(join(esp, "idProduct"), "1001\n")
  writeFileSync(join(esp, "serial"), "F4:12:FA:00:11:22\n")
  const tty = join(root, "sys/class/tty")
  for (const [name, target] of [
    ["ttyUSB0", join(cp2102, "1-1:1.0/ttyUSB0")],
    ["ttyACM0", join(esp, "1-2:1.0")],
    ["ttyS0", join(root, "sys/devices/platform/serial8250")]
  ] as const) {
    mkdirSync(join(tty, name), { recursive: true })
    mkdirSync(target, { recursive: true })
    symlinkSync(target, join(tty, name, "device"))
  }
  mkdirSync(join(tty, "tty0"), { recursive: true }) // virtual: no device link
  const byId = join(root, "dev/serial/by-id")
  mkdirSync(byId, { recursive: true })
  symlinkSync("../../ttyUSB0", join(byId, "usb-Silicon_Labs_CP2102_0001-if00-port0"))
  symlinkSync("../../ttyUSB9", join(byId, "usb-gone-if00")) // dangling
  return { root, roots: { sysClassTty: tty, serialById: byId, dev: join(root, "dev") } }
}

const fake = makeFakeSys()
afterAll(() => rmSync(fake.root, { recursive: true, force: true }))

describe("listPorts without udev", () => {
  it.effect("reads VID/PID/serial from sysfs and by-id links; skips virtual and 8250 ttys", () =>
    Effect.gen(function* () {
      const ports = yield* listPorts(fake.roots)
      const dev = fake.roots.dev
      expect(ports.map((p) => p.path)).toEqual([join(dev, "ttyACM0"), join(dev, "ttyUSB0"), join(dev, "ttyUSB9")])
      const usb0 = ports.find((p) => p.path === join(dev, "ttyUSB0"))!
      expect(usb0).toMatchObject({ vendorId: "10c4", productId: "ea60", serialNumber: "0001", manufacturer: "Silicon Labs" })
      expect(usb0.byId).toBe(join(fake.roots.serialById, "usb-Silicon_Labs_CP2102_0001-if00-port0"))
      expect(ports.find((p) => p.path === join(dev, "ttyACM0"))).toMatchObject({ vendorId: "303a", productId: "1001" })
    })
  )

  it.effect("missing directories give an empty list, not a failure", () =>
    Effect.gen(function* () {
      const ports = yield* listPorts({ sysClassTty: "/nonexistent/a", serialById: "/nonexistent/b", dev: "/dev" })
      expect(ports).toEqual([])
    })
  )

  it.live("the live layer's list never fails on this machine", () =>
    Effect.gen(function* () {
      const ports = yield* (yield* SerialPorts).list
      expect(Array.isArray(ports)).toBe(true)
    }).pipe(Effect.provide(SerialPortsLive))
  )
})

describe("resolvePort", () => {
  const ports: Array<PortInfo> = [
    { path: "/dev/ttyUSB0", vendorId: "10c4", productId: "ea60", serialNumber: "0001", byId: "/dev/serial/by-id/usb-cp-0001" },
    { path: "/dev/ttyUSB1", vendorId: "10c4", productId: "ea60", serialNumber: "0002" },
    { path: "/dev/ttyACM0", vendorId: "303a", productId: "1001", serialNumber: "F4:12" }
  ]

  it("selects by path, bare name, by-id link, serial number and unique VID:PID", () => {
    expect(matchPorts("/dev/ttyUSB1", ports).map((p) => p.path)).toEqual(["/dev/ttyUSB1"])
    expect(matchPorts("ttyACM0", ports).map((p) => p.path)).toEqual(["/dev/ttyACM0"])
    expect(matchPorts("/dev/serial/by-id/usb-cp-0001", ports).map((p) => p.path)).toEqual(["/dev/ttyUSB0"])
    expect(matchPorts("0002", ports).map((p) => p.path)).toEqual(["/dev/ttyUSB1"])
    expect(matchPorts("303A:1001", ports).map((p) => p.path)).toEqual(["/dev/ttyACM0"])
  })

  it.effect("an ambiguous VID:PID or an unknown serial is PortNotFound listing what is there", () =>
    Effect.gen(function* () {
      const ambiguous = yield* Effect.flip(resolveAmong("10c4:ea60", ports))
      expect(ambiguous.matches).toEqual(["/dev/ttyUSB0", "/dev/ttyUSB1"])
      expect(ambiguous.message).toContain("matches 2 ports")
      const unknown = yield* Effect.flip(resolveAmong("XYZ999", ports))
      expect(unknown.message).toContain("/dev/ttyUSB0 (10c4:ea60 serial 0001)")
      expect(unknown.code).toBe("port_not_found")
    })
  )

  it.effect("an unlisted absolute path passes through (a pty, or let open() explain)", () =>
    Effect.gen(function* () {
      expect(yield* resolveAmong("/tmp/fp-pty-x/host", ports)).toBe("/tmp/fp-pty-x/host")
      const viaService = yield* Effect.either(
        resolvePort("0001").pipe(Effect.provideService(SerialPorts, { open: () => Effect.die("unused"), list: Effect.succeed(ports) }))
      )
      expect(Either.getOrThrow(viaService)).toBe("/dev/ttyUSB0")
    })
  )
})
