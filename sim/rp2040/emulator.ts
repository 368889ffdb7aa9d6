import { randomBytes } from "node:crypto"
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Either } from "effect"
import { parseUf2, RP2040_FAMILY_ID, uf2ToImage } from "../../src/flash/formats/uf2.js"
import { type AppIdentity, bootBanner, LineReader, type McuSelfTests, selfTestReply, versionIn } from "../avr/appConsole.js"
import { openSocatPair, PacedUart, type SocatPair } from "../avr/uart.js"

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
 * speaks the factory self-test console (../avr/appConsole.ts); `id` answers the
 * 64-bit flash unique id (16 hex digits). USB has no line rate: no pacing.
 * Output written before the host opens the port is lost, as on a real Pico
 * (serialport flushes on open): hosts ask (`info`, `id`) rather than wait for a banner.
 *
 * Faults: `no_reboot` (the copy is absorbed, the volume stays), `no_app` (reboots,
 * but no CDC port appears: a crashing app), `selftest_fail:<command>`.
 */

export type PicoFault = { readonly kind: "no_reboot" } | { readonly kind: "no_app" } | { readonly kind: "selftest_fail"; readonly command: string }

export const parsePicoFault = (text: string): PicoFault => {
  const [kind, arg = ""] = text.split(":")
  if (kind === "no_reboot" || kind === "no_app") return { kind }
  if (kind === "selftest_fail") return { kind, command: arg }
  throw new Error(`unknown Pico fault "${text}" (no_reboot, no_app, selftest_fail:<cmd>)`)
}

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
}

export type PicoState = "bootsel" | "rebooting" | "app" | "crashed" | "stopped"

export interface PicoHandle {
  readonly volumePath: string
  readonly cdcPath: string
  readonly uniqueId: string
  readonly state: PicoState
  /** Flash content from 0x10000000 as written by the last accepted UF2. */
  readonly flash: () => Uint8Array
  readonly stats: { uf2Accepted: number; filesIgnored: number; boots: number; appLines: number }
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
  const stats = { uf2Accepted: 0, filesIgnored: 0, boots: 0, appLines: 0 }
  let state: PicoState = "bootsel"
  let flash: Uint8Array = new Uint8Array(0)
  let consoleText = ""
  let poller: NodeJS.Timeout | undefined
  let cdc: { pair: SocatPair; uart: PacedUart } | undefined
  const seen = new Map<string, number>()

  const app = (): AppIdentity => ({ chip: "RP2040", uniqueId, firmwareName: options.firmwareName ?? "factory-app", version: versionIn(flash) })

  const mountVolume = () => {
    mkdirSync(volumePath, { recursive: true })
    writeFileSync(join(volumePath, "INFO_UF2.TXT"), INFO_UF2)
    writeFileSync(join(volumePath, "INDEX.HTM"), INDEX_HTM)
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
    await new Promise((r) => setTimeout(r, 100)) // USB re-enumeration
    if (state !== "rebooting") return
    if (faults.some((f) => f.kind === "no_app")) {
      state = "crashed"
      return
    }
    const pair = await openSocatPair({ hostPath: options.cdcPath, prefix: "fp-pico-" })
    const uart = await PacedUart.open(pair.devicePath, { pace: false, baud: 115200, bitsPerByte: 10 })
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
    if (current) {
      await current.uart.close()
      await current.pair.kill()
    }
  }

  mountVolume()

  return {
    volumePath,
    cdcPath: options.cdcPath,
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
    enterBootsel: async () => {
      await closeCdc()
      mountVolume()
    },
    stop: async () => {
      state = "stopped"
      clearInterval(poller)
      await closeCdc()
      rmSync(volumePath, { recursive: true, force: true })
    }
  }
}
