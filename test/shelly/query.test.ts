import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { decodeQuery, isUrlNormalPath, decodeValueText, encodeQuery, encodeValueText, rpcGetPath } from "../../src/shelly/query.js"

// Param names are identifiers on the device (`config`, `delay_ms`); any non-space text must still survive.
const key = fc.string({ minLength: 1, maxLength: 12 }).filter((k) => k !== "__proto__" && !k.includes(" "))
// Strings biased towards the awkward cases: spaces, JSON look-alikes, URL metacharacters.
const awkwardString = fc.oneof(
  fc.string(),
  fc.constantFrom("true", "false", "null", "42", "-1.5e3", " 1", "{}", "[]", '"quoted"', "a b", "  ", "a+b", "x&y=z", "%20", "ü ß €"),
  fc.string({ unit: fc.constantFrom(" ", "a", '"', "\\", "+", "&", "=", "%", "{", "}", "1") })
)
const value = fc.oneof(
  awkwardString,
  fc.jsonValue({ maxDepth: 3 }),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true })
)
const params = fc.dictionary(key, value, { maxKeys: 5 })

/** JSON cannot carry -0; the device reads it back as 0. */
const normalise = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (Object.is(x, -0) ? 0 : x)))

describe("GET query encoding", () => {
  it("round trip: the device's JSON-then-string decoding gives back the params", () => {
    fc.assert(
      fc.property(params, (p) => {
        expect(decodeQuery(encodeQuery(p))).toEqual(normalise(p))
      }),
      { numRuns: 500 }
    )
  })

  it("never puts a space or %20 in the query", () => {
    fc.assert(
      fc.property(params, (p) => {
        const query = encodeQuery(p)
        expect(query).not.toContain(" ")
        expect(query).not.toContain("%20")
        expect(query).not.toContain("+")
      }),
      { numRuns: 500 }
    )
  })

  it("encodes objects as compact JSON and strings plain", () => {
    expect(encodeValueText({ device: { name: "Test" } })).toBe('{"device":{"name":"Test"}}')
    expect(encodeValueText("stable")).toBe("stable")
    expect(encodeValueText(true)).toBe("true")
    expect(encodeValueText(1000)).toBe("1000")
    expect(encodeValueText(null)).toBe("null")
    // strings the device would otherwise read as another type
    expect(encodeValueText("true")).toBe('"true"')
    expect(encodeValueText("42")).toBe('"42"')
    expect(decodeValueText(encodeValueText({ device: { name: "Living Room" } }))).toEqual({ device: { name: "Living Room" } })
  })

  it("builds the runbook's Sys.SetConfig request target", () => {
    const path = rpcGetPath("Sys.SetConfig", { config: { device: { name: "Wohnzimmer Süd" } } })
    expect(path.startsWith("/rpc/Sys.SetConfig?config=")).toBe(true)
    const query = path.slice(path.indexOf("?") + 1)
    expect(decodeQuery(query)).toEqual({ config: { device: { name: "Wohnzimmer Süd" } } })
    expect(rpcGetPath("Shelly.GetStatus", undefined)).toBe("/rpc/Shelly.GetStatus")
    expect(rpcGetPath("Shelly.Reboot", { delay_ms: undefined })).toBe("/rpc/Shelly.Reboot")
  })
})

describe("request target survives URL parsing unchanged", () => {
  it("new URL keeps the encoded path and query byte for byte (the digest uri must match what is sent)", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,10}\.[A-Za-z][A-Za-z0-9]{0,12}$/), params, (method, p) => {
        const path = rpcGetPath(method, p)
        const url = new URL(`http://127.20.0.1:8080${path}`)
        expect(url.pathname + url.search).toBe(path)
      }),
      { numRuns: 300 }
    )
  })

  it("isUrlNormalPath says true only for paths a URL parser keeps as they are", () => {
    const alphabet = fc.constantFrom("/", ".", "%", "2", "e", "E", "a", "?", "&", "=", "+", "'", " ", "#", "\\", "~", "ü", "[", "@")
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 16 }), (tail) => {
        const path = `/${tail}`
        const url = new URL(`http://127.20.0.1:8080${path}`)
        if (isUrlNormalPath(path)) expect(url.pathname + url.search).toBe(path)
      }),
      { numRuns: 2000 }
    )
    expect(isUrlNormalPath(rpcGetPath("Sys.SetConfig", { config: { device: { name: "Küche Licht" } } }))).toBe(true)
    expect(isUrlNormalPath("/rpc/../x")).toBe(false)
  })
})
