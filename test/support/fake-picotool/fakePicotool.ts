// Puts the fake `picotool` (this folder) first on PATH, pointed at an emulated sysfs tree
// (sim/rp2040/emulator.ts with `usb`); records every call's argv.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))

export interface FakePicotool {
  /** argv of every call, in order. */
  readonly calls: () => ReadonlyArray<ReadonlyArray<string>>
  readonly dispose: () => void
}

/** `root`: the folder holding the emulated `dev/` and `sys/` (the emulator's `usb.devRoot` is `<root>/dev`). */
export const installFakePicotool = (root: string): FakePicotool => {
  const dir = mkdtempSync(join(tmpdir(), "fake-picotool-"))
  const log = join(dir, "calls.log")
  const saved = { PATH: process.env["PATH"], sysfs: process.env["FAKE_PICOTOOL_SYSFS"], log: process.env["FAKE_PICOTOOL_LOG"] }
  process.env["PATH"] = `${here}:${saved.PATH ?? ""}`
  process.env["FAKE_PICOTOOL_SYSFS"] = join(root, "sys", "bus", "usb", "devices")
  process.env["FAKE_PICOTOOL_LOG"] = log
  const restore = (key: string, value: string | undefined) => (value === undefined ? delete process.env[key] : (process.env[key] = value))
  return {
    calls: () =>
      existsSync(log)
        ? readFileSync(log, "utf8")
            .split("\n")
            .filter((line) => line.length > 0)
            .map((line) => line.split("\x1f"))
        : [],
    dispose: () => {
      restore("PATH", saved.PATH)
      restore("FAKE_PICOTOOL_SYSFS", saved.sysfs)
      restore("FAKE_PICOTOOL_LOG", saved.log)
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
