import { randomBytes } from "node:crypto"
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { dirname, join } from "node:path"
import { Either } from "effect"
import { parseUf2, RP2040_FAMILY_ID, uf2ToImage } from "../../src/flash/formats/uf2.js"
import { type AppIdentity, bootBanner, LineReader, type McuSelfTests, selfTestReply, versionIn } from "../appConsole.js"
import { PacedLink } from "../pacedLink.js"
import { openSocatPair, type SocatPair } from "../pty.js"

/**
 * Emulated Raspberry Pi Pico: the RP2040 boot ROM's BOOTSEL mass-storage
 * volume as a directory, and the application's USB CDC serial port as a pty.
 *
 * ```ts
 * const pico = await startPicoBoard({ mountRoot: "/tmp/x/media", cdcPath: "/tmp/x/ttyACM0" })
 * // pico.volumePath = /tmp/x/media/RPI-RP2 holding INFO_UF2.TXT and INDEX.HTM
 * // copy a .uf2 there → the "ROM" writes its blocks, removes the volume (USB
 * // re-enumeration) and the app's CDC port appears at cdcPath (a socat pty link)
 * await pico.stop()
 * ```
 *
 * The ROM takes a UF2 once every block (`numBlocks`) of the RP2040 family
 * (0xe48bff56) has arrived, in any file name, like the real MSC driver; other
 * families and non-UF2 files are absorbed and ignored. The app on the CDC port
 * speaks the factory self-test console (../appConsole.ts); `id` answers the
 * 64-bit flash unique id (16 hex digits). USB has no line rate: no pacing.
 * Output written before the host opens the port is lost, as on a real Pico
 * (serialport flushes on open): hosts ask (`info`, `id`) rather than wait for a banner.
 *
 * Faults: `no_reboot` (the copy is absorbed, the volume stays), `no_app` (reboots,
 * but no CDC port appears: a crashing app), `selftest_fail:<command>`,
 * `corrupt_write` (PICOBOOT writes flip a bit of the first page: picotool's verify
 * catches it), `usb_denied` (the PICOBOOT interface refuses to open: no udev rule).
 *
 * With `usb` the board also shows up the way udev and sysfs show a real one, in a
 * tree under `usb.devRoot` (`<root>/dev`) and `<root>/sys`, at hub port 1.<hubPort>:
 * - BOOTSEL: `dev/disk/by-path/platform-fp-hcd.0-usb-0:1.N:1.0-scsi-0:0:0:0-part1` →
 *   the volume (a real link names /dev/sdX1, mounted there), `dev/disk/by-id/usb-RPI_RP2_E0C9125B0D9B-0:0-part1`
 *   (the RP2040 boot ROM reports that serial on every chip: the last board wins the link,
 *   as with udev), and `sys/bus/usb/devices/1-1.N/` (idVendor 2e8a, idProduct 0003, serial, busnum, devnum).
 * - app: `dev/serial/by-path/platform-fp-hcd.0-usb-0:1.N:1.0` and
 *   `dev/serial/by-id/usb-Raspberry_Pi_Pico_<UNIQUEID>-if00` → the CDC pty, sysfs idProduct 000a,
 *   serial = the flash unique id (as pico-sdk's USB stdio reports it).
 * Each enumeration takes a new device address, as on a real bus. The sysfs directory
 * also holds `picoboot.sock`: the emulator's stand-in for the USB cable, over which
 * the fake picotool (test/support/fake-picotool) reads, writes and reboots the board
 * (JSON lines: info, write, read, reboot, and on the app the reset interface's bootsel).
 */

export type PicoFault =
  | { readonly kind: "no_reboot" }
  | { readonly kind: "no_app" }
  | { readonly kind: "corrupt_write" }
  | { readonly kind: "usb_denied" }
  | { readonly kind: "selftest_fail"; readonly command: string }

export const parsePicoFault = (text: string): PicoFault => {
  const [kind, arg = ""] = text.split(":")
  if (kind === "no_reboot" || kind === "no_app" || kind === "corrupt_write" || kind === "usb_denied") return { kind }
  if (kind === "selftest_fail") return { kind, command: arg }
  throw new Error(`unknown Pico fault "${text}" (no_reboot, no_app, corrupt_write, usb_denied, selftest_fail:<cmd>)`)
}

/** Device addresses on the emulated bus: every enumeration takes the next one. */
let nextDevnum = 10
const CONTROLLER = "platform-fp-hcd.0"

export interface PicoOptions {
  /** Where the "automounter" puts the volume (the volume is `<mountRoot>/<label>`). */
  readonly mountRoot: string
  readonly label?: string
  /** Path at which the CDC port appears after the reboot (the host end of a pty pair). */
  readonly cdcPath: string
  /** 16 hex digits; random by default. */
  readonly uniqueId?: string
  readonly faults?: ReadonlyArray<PicoFault | string>
  readonly tests?: McuSelfTests
  readonly firmwareName?: string
  readonly pollMs?: number
  /** Publish udev links and sysfs entries (see the header); `devRoot` is the emulated `/dev`. */
  readonly usb?: { readonly devRoot: string; readonly hubPort: number }
}

export type PicoState = "bootsel" | "rebooting" | "app" | "crashed" | "stopped"

export interface PicoHandle {
  readonly volumePath: string
  readonly cdcPath: string
  readonly uniqueId: string
  readonly state: PicoState
  /** Flash content from 0x10000000 as written by the last accepted UF2. */
  readonly flash: () => Uint8Array
  readonly stats: { uf2Accepted: number; filesIgnored: number; boots: number; appLines: number; picobootWrites: number }
  /** With `usb`: the CDC port's by-path link (what a station lists), else `cdcPath`. */
  readonly portPath: string
  readonly console: () => string
  readonly waitForState: (state: PicoState, timeoutMs?: number) => Promise<void>
  /** Hold BOOTSEL and replug: the CDC port goes, the volume comes back. */
  readonly enterBootsel: () => Promise<void>
  readonly stop: () => Promise<void>
}

const INFO_UF2 = "UF2 Bootloader v3.0\r\nModel: Raspberry Pi RP2\r\nBoard-ID: RPI-RP2\r\n"
const INDEX_HTM =
  "<html><head><meta http-equiv=\"refresh\" content=\"0;URL='https://raspberrypi.com/device/RP2?version=E0C9125B0D9B'\"/></head><body>Redirecting to <a href='https://raspberrypi.com/device/RP2'>raspberrypi.com</a></body></html>\r\n"

export const startPicoBoard = async (options: PicoOptions): Promise<PicoHandle> => {
  const faults = (options.faults ?? []).map((f) => (typeof f === "string" ? parsePicoFault(f) : f))
  const failing = new Set(faults.flatMap((f) => (f.kind === "selftest_fail" ? [f.command] : [])))
  const uniqueId = (options.uniqueId ?? randomBytes(8).toString("hex")).toLowerCase()
  const volumePath = join(options.mountRoot, options.label ?? "RPI-RP2")
  const stats = { uf2Accepted: 0, filesIgnored: 0, boots: 0, appLines: 0, picobootWrites: 0 }
  const usb = options.usb
  const sysRoot = usb ? join(dirname(usb.devRoot), "sys", "bus", "usb", "devices") : ""
  const sysName = usb ? `1-1.${usb.hubPort}` : ""
  const byPathTty = usb ? join(usb.devRoot, "serial", "by-path", `${CONTROLLER}-usb-0:1.${usb.hubPort}:1.0`) : options.cdcPath
  const byIdTty = usb ? join(usb.devRoot, "serial", "by-id", `usb-Raspberry_Pi_Pico_${uniqueId.toUpperCase()}-if00`) : ""
  const byPathDisk = usb ? join(usb.devRoot, "disk", "by-path", `${CONTROLLER}-usb-0:1.${usb.hubPort}:1.0-scsi-0:0:0:0-part1`) : ""
  const byIdDisk = usb ? join(usb.devRoot, "disk", "by-id", "usb-RPI_RP2_E0C9125B0D9B-0:0-part1") : ""
  let cable: Server | undefined
  let state: PicoState = "bootsel"
  let flash: Uint8Array = new Uint8Array(0)
  let consoleText = ""
  let poller: NodeJS.Timeout | undefined
  let cdc: { pair: SocatPair; uart: PacedLink } | undefined
  const seen = new Map<string, number>()

  const app = (): AppIdentity => ({
    chip: "RP2040",
    uniqueId,
    firmwareName: options.firmwareName ?? "factory-app",
    version: versionIn(flash)
  })

  const link = (at: string, target: string) => {
    mkdirSync(dirname(at), { recursive: true })
    rmSync(at, { force: true })
    symlinkSync(target, at)
  }

  /** The USB device as sysfs shows it, and its PICOBOOT / reset interface as a unix socket. */
  const enumerate = async (mode: "bootsel" | "app") => {
    if (!usb) return
    const dir = join(sysRoot, sysName)
    mkdirSync(dir, { recursive: true })
    const attributes: Record<string, string> = {
      idVendor: "2e8a",
      idProduct: mode === "bootsel" ? "0003" : "000a",
      serial: mode === "bootsel" ? "E0C9125B0D9B" : uniqueId.toUpperCase(),
      manufacturer: "Raspberry Pi",
      product: mode === "bootsel" ? "RP2 Boot" : "Pico",
      busnum: "1",
      devnum: String(nextDevnum++),
      devpath: `1.${usb.hubPort}`
    }
    for (const [name, value] of Object.entries(attributes)) writeFileSync(join(dir, name), `${value}\n`)
    if (faults.some((f) => f.kind === "usb_denied")) writeFileSync(join(dir, "picoboot.denied"), "")
    const socket = join(dir, "picoboot.sock")
    rmSync(socket, { force: true })
    const server = createServer((conn) => {
      let buffered = ""
      conn.on("data", (chunk) => {
        buffered += chunk.toString("latin1")
        let at: number
        while ((at = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, at)
          buffered = buffered.slice(at + 1)
          const reply = picoboot(mode, line)
          conn.write(`${JSON.stringify(reply)}\n`)
        }
      })
      conn.on("error", () => undefined)
    })
    cable = server
    await new Promise<void>((resolve) => server.listen(socket, resolve))
  }

  const unenumerate = async () => {
    if (!usb) return
    const server = cable
    cable = undefined
    rmSync(join(sysRoot, sysName), { recursive: true, force: true })
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  /** What the fake picotool can do over the cable: the PICOBOOT operations it needs. */
  const picoboot = (mode: "bootsel" | "app", line: string): Record<string, unknown> => {
    let request: { op?: string; addr?: number; data?: string; len?: number }
    try {
      request = JSON.parse(line)
    } catch {
      return { ok: false, error: "bad request" }
    }
    if (mode === "app") {
      if (request.op !== "bootsel") return { ok: false, error: "not in BOOTSEL mode" }
      // The reset interface answers, then the board drops off the bus.
      setTimeout(() => void enterBootselNow(), 20)
      return { ok: true }
    }
    if (state !== "bootsel") return { ok: false, error: `device is ${state}` }
    switch (request.op) {
      case "info":
        return { ok: true, type: "RP2040", revision: "B2", flashSize: 2 * 1024 * 1024, flashId: uniqueId.toUpperCase() }
      case "write": {
        const data = Buffer.from(request.data ?? "", "base64")
        const offset = (request.addr ?? 0) - 0x10000000
        if (offset < 0 || offset + data.length > 2 * 1024 * 1024) return { ok: false, error: "address outside flash" }
        if (faults.some((f) => f.kind === "corrupt_write") && offset === 0 && data.length > 0) data[0] = data[0]! ^ 0x01
        if (flash.length < offset + data.length) {
          const grown = new Uint8Array(offset + data.length).fill(0xff)
          grown.set(flash)
          flash = grown
        }
        flash.set(data, offset)
        stats.picobootWrites++
        return { ok: true }
      }
      case "read": {
        const offset = (request.addr ?? 0) - 0x10000000
        const out = Buffer.alloc(request.len ?? 0, 0xff)
        Buffer.from(flash.subarray(Math.max(0, offset), Math.max(0, offset) + out.length)).copy(out)
        return { ok: true, data: out.toString("base64") }
      }
      case "reboot":
        setTimeout(() => void reboot(), 20)
        return { ok: true }
      default:
        return { ok: false, error: `unknown op ${request.op}` }
    }
  }

  const mountVolume = () => {
    mkdirSync(volumePath, { recursive: true })
    writeFileSync(join(volumePath, "INFO_UF2.TXT"), INFO_UF2)
    writeFileSync(join(volumePath, "INDEX.HTM"), INDEX_HTM)
    if (usb) {
      link(byPathDisk, volumePath)
      link(byIdDisk, volumePath)
    }
    seen.clear()
    state = "bootsel"
    poller = setInterval(scan, options.pollMs ?? 25)
  }

  const scan = () => {
    if (state !== "bootsel") return
    let names: Array<string>
    try {
      names = readdirSync(volumePath)
    } catch {
      return
    }
    for (const name of names) {
      if (name === "INFO_UF2.TXT" || name === "INDEX.HTM") continue
      const file = join(volumePath, name)
      let size: number
      try {
        size = statSync(file).size
      } catch {
        continue
      }
      if (seen.get(name) === size) continue
      seen.set(name, size)
      if (size === 0 || size % 512 !== 0) continue
      const parsed = parseUf2(readFileSync(file), name)
      if (Either.isLeft(parsed)) {
        stats.filesIgnored++
        continue
      }
      const ours = parsed.right.filter((b) => b.familyId === RP2040_FAMILY_ID)
      const total = ours[0]?.numBlocks ?? 0
      if (ours.length === 0 || new Set(ours.map((b) => b.blockNo)).size < total) {
        stats.filesIgnored++
        continue
      }
      stats.uf2Accepted++
      flash = uf2ToImage(ours).image
      if (faults.some((f) => f.kind === "no_reboot")) continue
      void reboot()
      return
    }
  }

  const reboot = async () => {
    state = "rebooting"
    clearInterval(poller)
    rmSync(volumePath, { recursive: true, force: true })
    if (usb) {
      rmSync(byPathDisk, { force: true })
      rmSync(byIdDisk, { force: true })
    }
    await unenumerate()
    await new Promise((r) => setTimeout(r, 100)) // USB re-enumeration
    if (state !== "rebooting") return
    if (faults.some((f) => f.kind === "no_app")) {
      state = "crashed"
      return
    }
    const pair = await openSocatPair({ hostPath: options.cdcPath, prefix: "fp-pico-" })
    if (usb) {
      link(byPathTty, options.cdcPath)
      link(byIdTty, options.cdcPath)
    }
    await enumerate("app")
    const uart = await PacedLink.open(pair.devicePath, { pace: false, baud: 115200, bitsPerByte: 10 })
    cdc = { pair, uart }
    stats.boots++
    const lines = new LineReader((line) => {
      stats.appLines++
      const reply = `${selfTestReply(line, app(), options.tests ?? {}, failing)}\r\n`
      consoleText += reply
      uart.write(Buffer.from(reply, "latin1"))
    })
    uart.onReceive = (chunk) => lines.feed(chunk)
    state = "app"
    const banner = bootBanner(app())
    consoleText += banner
    uart.write(Buffer.from(banner, "latin1"))
  }

  const closeCdc = async () => {
    const current = cdc
    cdc = undefined
    if (usb) {
      rmSync(byPathTty, { force: true })
      rmSync(byIdTty, { force: true })
    }
    await unenumerate()
    if (current) {
      await current.uart.close()
      await current.pair.kill()
    }
  }

  const enterBootselNow = async () => {
    await closeCdc()
    mountVolume()
    await enumerate("bootsel")
  }

  mountVolume()
  await enumerate("bootsel")

  return {
    volumePath,
    cdcPath: options.cdcPath,
    portPath: byPathTty,
    uniqueId,
    get state() {
      return state
    },
    flash: () => flash,
    stats,
    console: () => consoleText,
    waitForState: (wanted, timeoutMs = 5000) =>
      new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs
        const check = () => {
          if (state === wanted) return resolve()
          if (Date.now() > deadline) return reject(new Error(`Pico emulator: state ${state}, not ${wanted}, after ${timeoutMs} ms`))
          setTimeout(check, 10)
        }
        check()
      }),
    enterBootsel: enterBootselNow,
    stop: async () => {
      state = "stopped"
      clearInterval(poller)
      await closeCdc()
      rmSync(volumePath, { recursive: true, force: true })
      if (usb) {
        rmSync(byPathDisk, { force: true })
        rmSync(byIdDisk, { force: true })
      }
    }
  }
}
