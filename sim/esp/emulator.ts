import { chipProfile, formatMac, parseMacText } from "./chips.js"
import { normaliseFaults } from "./faults.js"
import { PacedLink } from "../pacedLink.js"
import { EspMachine } from "./machine.js"
import type { EspEmulatorHandle, EspEmulatorOptions } from "./types.js"

/** Starts an emulated chip on the device end of a pty. API: see ./index.ts. */
export const startEspEmulator = async (options: EspEmulatorOptions): Promise<EspEmulatorHandle> => {
  const profile = chipProfile(options.chip)
  const mac = parseMacText(options.mac ?? profile.defaultMac)
  const flashSize = options.flashSize ?? profile.defaultFlashSize
  if (!Number.isInteger(Math.log2(flashSize)) || flashSize < 256 * 1024 || flashSize > 16 * 1024 * 1024) {
    throw new Error(`ESP emulator flashSize ${flashSize} must be a power of two between 256 KiB and 16 MiB`)
  }
  const romBaud = options.baud ?? 115200
  const faults = normaliseFaults(options.faults)
  let link: PacedLink | undefined
  let vanished = false
  const machine = new EspMachine(
    {
      profile,
      mac,
      flashSize,
      romBaud,
      appBaud: options.appBaud ?? 115200,
      faults,
      tests: options.tests ?? {},
      firmwareName: options.firmwareName ?? "factory-app",
      // A board waiting in download mode without anyone having reset it is one whose IO0 is held.
      strapHeld: options.bootStrap ? options.bootStrap === "held" : options.startIn !== "app",
      programTime: options.pace ?? true
    },
    {
      write: (bytes, notBefore) => link?.write(bytes, notBefore),
      setBaud: (baud) => {
        if (link) link.baud = baud
      },
      vanish: () => {
        vanished = true
        void link?.close().then(() => options.onVanish?.())
      }
    }
  )
  link = await PacedLink.open(options.devicePath, {
    pace: options.pace ?? true,
    baud: romBaud,
    bitsPerByte: 10,
    slackMs: 0.5,
    owner: "ESP emulator",
    onReceive: (chunk) => machine.receive(chunk),
    onRawReceive: (length) => machine.countIncoming(length)
  })
  if (options.startIn === "app") machine.boot("poweron")

  let stopped = false
  const handle: EspEmulatorHandle = {
    chip: options.chip,
    devicePath: options.devicePath,
    mac: formatMac(mac),
    flashSize,
    get state() {
      return machine.state
    },
    get baud() {
      return machine.currentBaud
    },
    get bootStrapHeld() {
      return machine.bootStrapHeld
    },
    setBootStrap: (held) => machine.setBootStrap(held),
    flash: machine.flash.bytes,
    stats: machine.stats,
    readFlash: (offset, length) => machine.flash.read(offset, length),
    console: () => machine.consoleOutput,
    waitFor: async (text, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs
      while (!machine.consoleOutput.includes(text)) {
        if (Date.now() > deadline) {
          throw new Error(`ESP emulator on ${options.devicePath}: "${text}" not printed within ${timeoutMs} ms`)
        }
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    },
    reset: async (mode) => {
      if (stopped || vanished) return
      link!.discardQueued()
      await machine.reset(mode)
    },
    stop: async () => {
      if (stopped) return
      stopped = true
      machine.stop()
      await link!.close()
    }
  }
  return handle
}
