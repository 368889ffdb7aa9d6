/**
 * The factory self-test console an emulated AVR / STM32 / RP2040 application
 * runs after it boots — the same conventions as the ESP emulator (sim/esp):
 * the boot banner ends with `factory-test ready`; lines end in `\n` or `\r\n`;
 * `info` → `OK chip=… id=… fw=…`; `id` → `OK id=<unique id>`; `wifi`/`mem`/
 * `sensor` and any configured command → `OK …` or `FAIL …`; `reboot` boots
 * again (banner again); unknown → `ERR unknown command: <cmd>`.
 */

/** `true` = pass with the default reply, `false` = fail, a string = that exact reply line. */
export type McuSelfTests = Readonly<Record<string, boolean | string>>

const DEFAULT_REPLIES: Readonly<Record<string, { readonly ok: string; readonly fail: string }>> = {
  mem: { ok: "OK mem free_ram=1536", fail: "FAIL mem: RAM check failed" },
  sensor: { ok: "OK sensor temp=23.5C", fail: "FAIL sensor: no response from sensor (I2C 0x40)" },
  gpio: { ok: "OK gpio loopback", fail: "FAIL gpio: loopback pin stuck low" }
}

export interface AppIdentity {
  readonly chip: string
  /** What `id` answers (STM32 UID, RP2040 flash id, AVR: none → `none`). */
  readonly uniqueId: string
  readonly firmwareName: string
  readonly version: string
}

/** `FWVER=<version>;` anywhere in the image (the ESP emulator's marker), else `unknown`. */
export const versionIn = (image: Uint8Array): string => {
  const text = Buffer.from(image).toString("latin1")
  const match = /FWVER=([\x21-\x3a\x3c-\x7e]{1,32});/.exec(text)
  return match?.[1] ?? "unknown"
}

export const bootBanner = (app: AppIdentity): string =>
  [`${app.chip} boot`, `app: ${app.firmwareName} version ${app.version}`, "factory-test ready", ""].join("\r\n")

export const selfTestReply = (command: string, app: AppIdentity, tests: McuSelfTests, failing: ReadonlySet<string>): string => {
  if (command === "info") return `OK chip=${app.chip} id=${app.uniqueId} fw=${app.version}`
  if (command === "id") return `OK id=${app.uniqueId}`
  const configured = tests[command]
  const known = configured !== undefined || DEFAULT_REPLIES[command] !== undefined
  if (!known) return `ERR unknown command: ${command}`
  if (failing.has(command) || configured === false) return DEFAULT_REPLIES[command]?.fail ?? `FAIL ${command}`
  if (typeof configured === "string") return configured
  return DEFAULT_REPLIES[command]?.ok ?? `OK ${command}`
}

/** Collects console lines; `onLine` gets each trimmed non-empty line. */
export class LineReader {
  private pending = ""
  constructor(private readonly onLine: (line: string) => void) {}
  feed(chunk: Uint8Array): void {
    this.pending += Buffer.from(chunk).toString("latin1")
    let newline = this.pending.indexOf("\n")
    while (newline >= 0) {
      const line = this.pending.slice(0, newline).replace(/\r$/, "").trim()
      this.pending = this.pending.slice(newline + 1)
      if (line !== "") this.onLine(line)
      newline = this.pending.indexOf("\n")
    }
  }
  clear(): void {
    this.pending = ""
  }
}
