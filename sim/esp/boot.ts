import type { ChipProfile } from "./chips.js"
import { findAppPartition, hasImageMagic, readAppInfo, type AppInfo, ESP32_APP_OFFSET } from "./image.js"

export type ResetReason = "poweron" | "software" | "run_user_code"

export interface BootResult {
  readonly text: string
  /** The app that now runs, or undefined when the boot stopped (bad image). */
  readonly app: AppInfo | undefined
}

const hex32 = (flash: Uint8Array, offset: number): string =>
  `0x${(new DataView(flash.buffer, flash.byteOffset).getUint32(offset, true) >>> 0).toString(16).padStart(8, "0")}`

const ESP32_ROM_BANNER = "ets Jun  8 2016 00:22:57\r\n\r\n"
const ESP8266_ROM_BANNER = "\r\n ets Jan  8 2013,"

/** What the ROM prints when reset with IO0 low (download mode). */
export const downloadBanner = (profile: ChipProfile, reason: "poweron" | "software" = "poweron"): string =>
  profile.chip === "esp32"
    ? `${ESP32_ROM_BANNER}${reason === "software" ? "rst:0xc (SW_CPU_RESET)" : "rst:0x1 (POWERON_RESET)"},boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n`
    : `${ESP8266_ROM_BANNER}rst cause:2, boot mode:(1,7)\r\n\r\n`

const appBanner = (profile: ChipProfile, app: AppInfo, fallbackName: string, t0: number): string => {
  const name = app.projectName || fallbackName
  if (profile.chip === "esp32") {
    return [
      `I (${t0}) cpu_start: Pro cpu up.`,
      `I (${t0 + 12}) cpu_start: Starting app cpu, entry point is 0x40081404`,
      `I (${t0 + 30}) app_init: Application information:`,
      `I (${t0 + 31}) app_init: Project name:     ${name}`,
      `I (${t0 + 32}) app_init: App version:      ${app.version}`,
      `I (${t0 + 40}) main_task: Calling app_main()`,
      "factory-test ready",
      ""
    ].join("\r\n")
  }
  return [`SDK ver: 3.0.5 compiled @ Jan  1 2025`, `app: ${name} version ${app.version}`, "factory-test ready", ""].join("\r\n")
}

/** The boot from flash: ROM banner, 2nd-stage bootloader (ESP32), image checks, app banner. */
export const bootFromFlash = (profile: ChipProfile, flash: Uint8Array, reason: ResetReason, fallbackName: string): BootResult => {
  let text = ""
  if (profile.chip === "esp32") {
    if (reason !== "run_user_code") {
      const rst = reason === "poweron" ? "rst:0x1 (POWERON_RESET)" : "rst:0xc (SW_CPU_RESET)"
      text += `${ESP32_ROM_BANNER}${rst},boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n`
    }
    if (!hasImageMagic(flash, profile.bootOffset)) {
      // The real ROM repeats this until reset; three lines say the same.
      const line = `invalid header: ${hex32(flash, profile.bootOffset)}\r\n`
      return { text: text + line + line + line, app: undefined }
    }
    text +=
      "configsip: 0, SPIWP:0xee\r\nclk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\n" +
      "mode:DIO, clock div:2\r\nentry 0x40080644\r\n" +
      "I (29) boot: ESP-IDF v5.3.1 2nd stage bootloader\r\n"
    const appOffset = findAppPartition(flash) ?? ESP32_APP_OFFSET
    if (!hasImageMagic(flash, appOffset)) {
      text +=
        `E (112) esp_image: image at 0x${appOffset.toString(16)} has invalid magic byte (nothing flashed here?)\r\n` +
        "E (118) boot: No bootable app partitions in the partition table\r\n"
      return { text, app: undefined }
    }
    text += `I (95) boot: Loaded app from partition at offset 0x${appOffset.toString(16)}\r\n`
    const app = readAppInfo(flash, appOffset)
    return { text: text + appBanner(profile, app, fallbackName, 310), app }
  }
  if (reason !== "run_user_code") {
    text += `${ESP8266_ROM_BANNER}rst cause:${reason === "poweron" ? 1 : 2}, boot mode:(3,6)\r\n\r\n`
  }
  if (!hasImageMagic(flash, profile.bootOffset)) return { text: text + "ets_main.c \r\n", app: undefined }
  text += `load 0x40100000, len 1396, room 16 \r\ntail 4\r\nchksum 0x89\r\n`
  const app = readAppInfo(flash, profile.bootOffset)
  return { text: text + appBanner(profile, app, fallbackName, 0), app }
}

const DEFAULT_REPLIES: Readonly<Record<string, { readonly ok: string; readonly fail: string }>> = {
  wifi: { ok: "OK wifi rssi=-48 ssid=factory-test", fail: "FAIL wifi: no AP found" },
  mem: { ok: "OK mem free_heap=283412", fail: "FAIL mem: heap check failed" },
  sensor: { ok: "OK sensor temp=23.5C", fail: "FAIL sensor: no response from sensor (I2C 0x40)" }
}

/** Reply line of the factory self-test console for one command. */
export const selfTestReply = (
  command: string,
  info: string,
  tests: Readonly<Record<string, boolean | string>>,
  failing: ReadonlySet<string>
): string => {
  const configured = tests[command]
  const known = command === "info" || configured !== undefined || DEFAULT_REPLIES[command] !== undefined
  if (!known) return `ERR unknown command: ${command}`
  if (failing.has(command) || configured === false) return DEFAULT_REPLIES[command]?.fail ?? `FAIL ${command}`
  if (typeof configured === "string") return configured
  if (command === "info") return `OK ${info}`
  return DEFAULT_REPLIES[command]?.ok ?? `OK ${command}`
}
