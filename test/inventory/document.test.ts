import { describe, expect, it } from "@effect/vitest"
import { Either, Option } from "effect"
import { parseMac } from "../../src/domain/mac.js"
import type { Mac } from "../../src/domain/mac.js"
import {
  addDevice,
  findByIp,
  findByMac,
  parseInventory,
  removeDevice,
  serializeInventory,
  setDeviceFields
} from "../../src/inventory/index.js"

const mac = (s: string): Mac => Either.getOrThrow(parseMac(s))

const wrapped = `{
  "version": 1,
  "generated_by": "old tool",
  "devices": {
    "a1:b2:c3:d4:e5:f6": {
      "ip": "192.0.2.35",
      "zeta": true,
      "friendly_name": "Wohnzimmer",
      "alpha": [1, 2, {"z": 1, "a": 2}],
      "stage3": {"ota_status": "up_to_date", "custom": "x"}
    },
    "A1B2C3D4E507": {
      "ip": "192.0.2.78",
      "unicode": "Küche \\u00e4 ✓"
    }
  },
  "trailer": {"b": 1, "a": 2}
}
`

const flat = `{
  "A1-B2-C3-D4-E5-F6": {
    "ip": "192.0.2.35",
    "model": "S3SW-002P16EU"
  },
  "a1b2.c3d4.e507": {
    "ip": "192.0.2.78",
    "nested": {
      "y": null,
      "x": 1.5
    }
  }
}
`

const parse = (text: string) => Either.getOrThrow(parseInventory("data/ip_state.json", text))
const parseError = (text: string) => Either.getOrThrow(Either.flip(parseInventory("data/ip_state.json", text)))

describe("parseInventory / serializeInventory", () => {
  it("reads the wrapped layout and keeps the envelope", () => {
    const doc = parse(wrapped)
    expect(doc.format).toBe("wrapped")
    expect(doc.devices.map((d) => d.mac)).toEqual(["A1B2C3D4E5F6", "A1B2C3D4E507"])
    expect(doc.devices.map((d) => d.key)).toEqual(["a1:b2:c3:d4:e5:f6", "A1B2C3D4E507"])
    expect(Object.keys(doc.envelope)).toEqual(["version", "generated_by", "devices", "trailer"])
  })

  it("reads the flat layout with MACs in any spelling", () => {
    const doc = parse(flat)
    expect(doc.format).toBe("flat")
    expect(doc.devices.map((d) => d.mac)).toEqual(["A1B2C3D4E5F6", "A1B2C3D4E507"])
  })

  it("round-trips both layouts byte-identically when nothing changed", () => {
    const canonicalWrapped = JSON.stringify(JSON.parse(wrapped), null, 2) + "\n"
    expect(serializeInventory(parse(canonicalWrapped))).toBe(canonicalWrapped)
    expect(serializeInventory(parse(flat))).toBe(flat)
  })

  it("keeps key order and unknown fields through an edit; new keys are appended", () => {
    const doc = setDeviceFields(parse(wrapped), mac("A1B2C3D4E5F6"), {
      stage3: { ota_status: "update_available", last_run: "2025-01-01T00:00:00Z" },
      fw: "1.5.0"
    })
    const out = JSON.parse(serializeInventory(doc))
    expect(Object.keys(out)).toEqual(["version", "generated_by", "devices", "trailer"])
    const record = out.devices["a1:b2:c3:d4:e5:f6"]
    expect(Object.keys(record)).toEqual(["ip", "zeta", "friendly_name", "alpha", "stage3", "fw"])
    expect(record.stage3).toEqual({ ota_status: "update_available", custom: "x", last_run: "2025-01-01T00:00:00Z" })
    expect(Object.keys(record.stage3)).toEqual(["ota_status", "custom", "last_run"])
    expect(record.alpha).toEqual([1, 2, { z: 1, a: 2 }])
    expect(Object.keys(record.alpha[2])).toEqual(["z", "a"])
    expect(out.trailer).toEqual({ b: 1, a: 2 })
    expect(out.devices["A1B2C3D4E507"].unicode).toBe("Küche ä ✓")
  })

  it("writes 2-space indent and a trailing newline", () => {
    const text = serializeInventory(parse('{"AABBCCDDEEFF":{"ip":"192.0.2.1"}}'))
    expect(text).toBe('{\n  "AABBCCDDEEFF": {\n    "ip": "192.0.2.1"\n  }\n}\n')
  })

  it("reports invalid JSON with line and column", () => {
    const error = parseError('{\n  "AABBCCDDEEFF": {\n    "ip": "192.0.2.1",\n  }\n}\n')
    expect(error._tag).toBe("InventoryReadError")
    expect(error.line).toBe(4)
    expect(error.column).toBe(3)
    expect(error.message).toContain("data/ip_state.json at line 4, column 3")
    expect(error.message).toContain("invalid JSON")
  })

  it("reports a truncated file at its end", () => {
    const error = parseError('{\n  "AABBCCDDEEFF": {\n    "ip": "192.0')
    expect(error.line).toBe(3)
    expect(error.column).toBe(17)
  })

  it("rejects a non-MAC key in the flat layout, naming the key", () => {
    const error = parseError('{"AABBCCDDEEFF": {}, "router": {"ip": "192.0.2.1"}}')
    expect(error.message).toContain('key "router" at the top level is not a MAC address')
  })

  it("rejects a non-MAC key under devices in the wrapped layout; other envelope keys are free", () => {
    expect(parseError('{"version": 1, "devices": {"nope": {}}}').message).toContain('key "nope" under "devices"')
    expect(parse('{"version": 1, "note": "x", "devices": {}}').envelope).toEqual({ version: 1, note: "x", devices: {} })
  })

  it("rejects the same MAC twice in different spellings", () => {
    const error = parseError('{"aa:bb:cc:dd:ee:ff": {}, "AABBCCDDEEFF": {}}')
    expect(error.message).toContain('MAC AABBCCDDEEFF appears twice at the top level, as "aa:bb:cc:dd:ee:ff" and as "AABBCCDDEEFF"')
  })

  it("rejects non-object entries and a non-object top level", () => {
    expect(parseError('{"AABBCCDDEEFF": 5}').message).toContain('entry "AABBCCDDEEFF" at the top level is not an object (found a number)')
    expect(parseError("[1, 2]").message).toContain("top level must be an object")
    expect(parseError('{"devices": []}').message).toContain('"devices" must be an object')
  })
})

describe("edit helpers", () => {
  const doc = parse(flat)

  it("findByMac compares normalised MACs; findByIp matches the ip field", () => {
    expect(Option.map(findByMac(doc, mac("a1:b2:c3:d4:e5:07")), (d) => d.key)).toEqual(Option.some("a1b2.c3d4.e507"))
    expect(Option.isNone(findByMac(doc, mac("000000000000")))).toBe(true)
    expect(Option.map(findByIp(doc, "192.0.2.35"), (d) => d.mac)).toEqual(Option.some("A1B2C3D4E5F6"))
    expect(Option.isNone(findByIp(doc, "192.0.2.99"))).toBe(true)
  })

  it("setDeviceFields on an unknown MAC leaves the document unchanged", () => {
    expect(setDeviceFields(doc, mac("000000000000"), { ip: "x" })).toBe(doc)
  })

  it("addDevice appends in the file's key style, and merges into a known MAC", () => {
    const added = addDevice(doc, mac("0A0B0C0D0E0F"), { ip: "192.0.2.5" })
    // The first key is spelled A1-B2-…: upper case, dashes.
    expect(added.devices.map((d) => d.key)).toEqual(["A1-B2-C3-D4-E5-F6", "a1b2.c3d4.e507", "0A-0B-0C-0D-0E-0F"])
    const merged = addDevice(doc, mac("a1b2c3d4e5f6"), { ip: "192.0.2.36", fw: "1.5" })
    expect(merged.devices).toHaveLength(2)
    expect(merged.devices[0]!.record).toEqual({ ip: "192.0.2.36", model: "S3SW-002P16EU", fw: "1.5" })
    expect(addDevice(parse("{}"), mac("aa:bb:cc:dd:ee:ff"), {}).devices[0]!.key).toBe("AABBCCDDEEFF")
    const colonLower = parse('{"aa:bb:cc:dd:ee:ff": {}}')
    expect(addDevice(colonLower, mac("0a0b0c0d0e0f"), {}).devices[1]!.key).toBe("0a:0b:0c:0d:0e:0f")
  })

  it("removeDevice drops the entry and nothing else", () => {
    const removed = removeDevice(doc, mac("A1B2C3D4E5F6"))
    expect(serializeInventory(removed)).toBe(
      JSON.stringify({ "a1b2.c3d4.e507": { ip: "192.0.2.78", nested: { y: null, x: 1.5 } } }, null, 2) + "\n"
    )
  })
})
