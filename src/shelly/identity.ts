/**
 * Who a device says it is: id `<lowercase prefix>-<lowercase mac>` (realm of
 * digest auth), AP SSID `<Prefix>-<MAC>`, and the MAC check every stage makes
 * before writing to an address (another device may have taken the IP).
 */
import { Either } from "effect"
import { type Mac, parseMac } from "../domain/mac.js"

export interface AppNames {
  /** Lowercase device id prefix. */
  readonly idPrefix: string
  /** Mixed-case prefix of the AP SSID and mDNS host name. */
  readonly apPrefix: string
}

// Facts from shared/reference/shelly-rpc.md §4; Gen3 prefixes do not follow the app name.
const apps: Readonly<Record<string, AppNames>> = {
  plus1: { idPrefix: "shellyplus1", apPrefix: "ShellyPlus1" },
  plus1pm: { idPrefix: "shellyplus1pm", apPrefix: "ShellyPlus1PM" },
  plus2pm: { idPrefix: "shellyplus2pm", apPrefix: "ShellyPlus2PM" },
  plusi4: { idPrefix: "shellyplusi4", apPrefix: "ShellyPlusI4" },
  plusplugs: { idPrefix: "shellyplusplugs", apPrefix: "ShellyPlusPlugS" },
  pro1pm: { idPrefix: "shellypro1pm", apPrefix: "ShellyPro1PM" },
  s1g3: { idPrefix: "shelly1g3", apPrefix: "Shelly1G3" },
  s1pmg3: { idPrefix: "shelly1pmg3", apPrefix: "Shelly1PMG3" },
  mini1pmg3: { idPrefix: "shelly1pmminig3", apPrefix: "Shelly1PMMiniG3" },
  s2pmg3: { idPrefix: "shelly2pmg3", apPrefix: "Shelly2PMG3" },
  i4g3: { idPrefix: "shellyi4g3", apPrefix: "ShellyI4G3" },
  plugsg3: { idPrefix: "shellyplugsg3", apPrefix: "ShellyPlugSG3" },
  htg3: { idPrefix: "shellyhtg3", apPrefix: "ShellyHTG3" },
  minipmg3: { idPrefix: "shellypmminig3", apPrefix: "ShellyPMMiniG3" },
  s1pmg4: { idPrefix: "shelly1pmg4", apPrefix: "Shelly1PMG4" },
  // Pro 4PM: AP SSID `ShellyPro4PM-34987A47A1DC` (reference §4).
  pro4pm: { idPrefix: "shellypro4pm", apPrefix: "ShellyPro4PM" },
  // 2PM Gen4: "Device SSID: Shelly2PMG4-XXXXXXXXXXXX" (Shelly KB, 2PM Gen4 page).
  s2pmg4: { idPrefix: "shelly2pmg4", apPrefix: "Shelly2PMG4" },
  // EM Mini Gen4 (app `MiniEMG4` in published scans of 2.0.0 devices); the prefix
  // `shellyemminig4` is from a published model table, not a device capture.
  miniemg4: { idPrefix: "shellyemminig4", apPrefix: "ShellyEMMiniG4" },
  // Wall Display: host/instance `ShellyWallDisplay-00082291A2B3` (home-assistant/core shelly config-flow tests).
  walldisplay: { idPrefix: "shellywalldisplay", apPrefix: "ShellyWallDisplay" },
  // Gen1 Shelly 1 (unsupported; simulated only to be refused): real Gen1 names end in 6 hex digits, `shelly1-68B743`.
  "shsw-1": { idPrefix: "shelly1", apPrefix: "shelly1" }
}

/** The id prefix and AP/mDNS host prefix of an app (`S2PMG3` → `shelly2pmg3`, `Shelly2PMG3`). */
export const namesFor = (appOrPrefix: string): AppNames => {
  const key = appOrPrefix.trim()
  const known = apps[key.toLowerCase()]
  if (known !== undefined) return known
  // Already a prefix (`shellyplus1pm`), or an app we have no row for: Shelly + app.
  const prefix = /^shelly/i.test(key) ? key.slice(6) : key
  return { idPrefix: `shelly${prefix.toLowerCase()}`, apPrefix: `Shelly${prefix}` }
}

/** `deviceIdFor("S2PMG3", mac)` → `shelly2pmg3-a1b2c3d4e5f6`; also takes the id prefix itself. */
export const deviceIdFor = (appOrPrefix: string, mac: Mac): string => `${namesFor(appOrPrefix).idPrefix}-${mac.toLowerCase()}`

/** The factory AP SSID: `Shelly2PMG3-A1B2C3D4E5F6`. */
export const apSsidFor = (appOrPrefix: string, mac: Mac): string => `${namesFor(appOrPrefix).apPrefix}-${mac.toUpperCase()}`

/** The MAC from a device id (`shelly2pmg3-a1b2c3d4e5f6` → `A1B2C3D4E5F6`), when it ends in one. */
export const macFromDeviceId = (deviceId: string): Mac | undefined => {
  const match = /-([0-9a-fA-F]{12})$/.exec(deviceId.trim())
  return match === null ? undefined : Either.getOrUndefined(parseMac(match[1]!))
}

export type MacCheck =
  | { readonly _tag: "Match" }
  /** `found` is the canonical MAC, or the raw text when the device sent no valid MAC. */
  | { readonly _tag: "Mismatch"; readonly found: string }

/** Compares the MAC a device reports (any spelling) with the one expected at that address. */
export const checkMac = (reported: string, expected: Mac): MacCheck => {
  const parsed = parseMac(reported)
  if (Either.isLeft(parsed)) return { _tag: "Mismatch", found: reported }
  return parsed.right === expected ? { _tag: "Match" } : { _tag: "Mismatch", found: parsed.right }
}

export const sameMac = (reported: string, expected: Mac): boolean => checkMac(reported, expected)._tag === "Match"
