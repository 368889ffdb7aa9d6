import { describe, expect, it } from "vitest"
import { Either, Schema } from "effect"
import type { Mac } from "../../src/domain/mac.js"
import { apSsidFor, checkMac, deviceIdFor, macFromDeviceId, sameMac } from "../../src/shelly/identity.js"
import {
  CheckForUpdateResult,
  DeviceInfo,
  DeviceStatus,
  EmptyResult,
  isGen2Plus,
  SetConfigResult,
  SysConfig,
  WifiScanResult
} from "../../src/shelly/schemas.js"

const decode = <A, I>(schema: Schema.Schema<A, I>, value: unknown) => Schema.decodeUnknownEither(schema)(value)

describe("result schemas (shapes from the reference's device dumps)", () => {
  it("GetDeviceInfo: Plus 1PM dump decodes; null name; newer keys kept; missing id rejected", () => {
    const dump = {
      name: null,
      id: "shellyplus1pm-aabbccddeeff",
      mac: "AABBCCDDEEFF",
      slot: 0,
      model: "SNSW-001P16EU",
      gen: 2,
      fw_id: "20231219-133934/1.1.0-g34b5d4f",
      ver: "1.1.0",
      app: "Plus1PM",
      auth_en: false,
      auth_domain: null,
      matter: false,
      provision: "complete",
      some_future_key: [1, 2]
    }
    const info = Either.getOrThrow(decode(DeviceInfo, dump))
    expect(info.name).toBeNull()
    expect(isGen2Plus(info)).toBe(true)
    expect(info["some_future_key"]).toEqual([1, 2])
    expect(isGen2Plus({ gen: 1 })).toBe(false)
    expect(Either.isLeft(decode(DeviceInfo, { ...dump, id: undefined }))).toBe(true)
  })

  it("GetStatus of a real Plus 1PM decodes with its component keys", () => {
    const status = {
      ble: {},
      cloud: { connected: false },
      "input:0": { id: 0, state: false },
      mqtt: { connected: false },
      "switch:0": { id: 0, output: false, apower: 0.0 },
      sys: { mac: "44179394D4D4", restart_required: false, time: null, unixtime: null, uptime: 1539, available_updates: {} },
      wifi: { sta_ip: "192.0.2.24", status: "got ip", ssid: "HausAutoDev", rssi: -32 }
    }
    const decoded = Either.getOrThrow(decode(DeviceStatus, status))
    expect(decoded.sys.available_updates).toEqual({})
    expect(decoded["switch:0"]).toEqual({ id: 0, output: false, apower: 0 })
  })

  it("CheckForUpdate: {} or stable/beta; Update/Reboot/SetAuth: null or {}; SetConfig: restart_required", () => {
    expect(Either.getOrThrow(decode(CheckForUpdateResult, {}))).toEqual({})
    expect(Either.getOrThrow(decode(CheckForUpdateResult, { stable: { version: "1.4.4", build_id: "b" } })).stable?.version).toBe("1.4.4")
    expect(Either.isLeft(decode(CheckForUpdateResult, { stable: { build_id: "b" } }))).toBe(true)
    expect(Either.getOrThrow(decode(EmptyResult, null))).toBeNull()
    expect(Either.getOrThrow(decode(EmptyResult, {}))).toEqual({})
    expect(Either.getOrThrow(decode(SetConfigResult, { restart_required: false })).restart_required).toBe(false)
    expect(Either.isLeft(decode(SetConfigResult, {}))).toBe(true)
  })

  it("Sys.GetConfig with a null device name; WiFi.Scan results", () => {
    expect(
      Either.getOrThrow(decode(SysConfig, { device: { name: null, mac: "34B7DAC68344" }, location: { tz: "Europe/Rome" } })).device.name
    ).toBeNull()
    const scan = Either.getOrThrow(decode(WifiScanResult, { results: [{ ssid: null, bssid: "aa:bb", auth: 3, channel: 6, rssi: -60 }] }))
    expect(scan.results[0]!.auth).toBe(3)
  })
})

describe("identity", () => {
  const mac = "A1B2C3D4E5F6" as Mac
  it("device ids and AP SSIDs per app (irregular Gen3 prefixes included)", () => {
    expect(deviceIdFor("S2PMG3", mac)).toBe("shelly2pmg3-a1b2c3d4e5f6")
    expect(deviceIdFor("Mini1PMG3", mac)).toBe("shelly1pmminig3-a1b2c3d4e5f6")
    expect(deviceIdFor("Plus1PM", mac)).toBe("shellyplus1pm-a1b2c3d4e5f6")
    expect(deviceIdFor("shellyplus1pm", mac)).toBe("shellyplus1pm-a1b2c3d4e5f6")
    expect(apSsidFor("Plus2PM", mac)).toBe("ShellyPlus2PM-A1B2C3D4E5F6")
    expect(apSsidFor("S1PMG3", mac)).toBe("Shelly1PMG3-A1B2C3D4E5F6")
    expect(macFromDeviceId("shelly2pmg3-a1b2c3d4e5f6")).toBe("A1B2C3D4E5F6")
    expect(macFromDeviceId("shelly2pmg3")).toBeUndefined()
  })

  it("MAC check accepts any spelling and reports what was found", () => {
    expect(checkMac("a1:b2:c3:d4:e5:f6", mac)).toEqual({ _tag: "Match" })
    expect(sameMac("A1B2C3D4E5F6", mac)).toBe(true)
    expect(checkMac("A1B2C3D4E5F7", mac)).toEqual({ _tag: "Mismatch", found: "A1B2C3D4E5F7" })
    expect(checkMac("garbage", mac)).toEqual({ _tag: "Mismatch", found: "garbage" })
  })
})
