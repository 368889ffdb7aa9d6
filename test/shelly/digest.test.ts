import { describe, expect, it } from "vitest"
import {
  authorizationHeader,
  digestResponse,
  ha1For,
  ha2For,
  parseAuthParams,
  parseDigestChallenge,
  sha256Hex,
  verifyAuthorization
} from "../../src/shelly/digest.js"

describe("digest math", () => {
  it("matches the JSON-RPC auth HA2 vector from the Shelly docs", () => {
    expect(sha256Hex("dummy_method:dummy_uri")).toBe("6370ec69915103833b5222b368555393393f098bfbfbb59f47e0590af135f062")
    expect(ha2For("dummy_method", "dummy_uri")).toBe("6370ec69915103833b5222b368555393393f098bfbfbb59f47e0590af135f062")
  })

  it("matches the RFC 7616 section 3.9.1 SHA-256 example", () => {
    const response = digestResponse({
      ha1: ha1For("http-auth@example.org", "Circle of Life", "Mufasa"),
      nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
      nc: "00000001",
      cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
      qop: "auth",
      ha2: ha2For("GET", "/dir/index.html")
    })
    expect(response).toBe("753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")
  })

  it("parses the challenge a device sends, nonce kept opaque", () => {
    const numeric = parseDigestChallenge(
      'Digest qop="auth", realm="shellyplus1pm-44179394d4d4", nonce="603", algorithm=SHA-256'
    )
    expect(numeric).toEqual({ realm: "shellyplus1pm-44179394d4d4", nonce: "603", qop: "auth", algorithm: "SHA-256", opaque: undefined })
    const base64 = parseDigestChallenge('Digest qop="auth", realm="shelly1pmg3-34b7dac68344", nonce="Ac2aagAAAAAWqUM3+/x=", algorithm=SHA-256')
    expect(base64?.nonce).toBe("Ac2aagAAAAAWqUM3+/x=")
    expect(parseDigestChallenge('Basic realm="x"')).toBeUndefined()
    expect(parseDigestChallenge(undefined)).toBeUndefined()
    expect(parseAuthParams('a="x, \\"y\\"", b=2')).toEqual({ a: 'x, "y"', b: "2" })
  })

  it("builds an Authorization header the verifier accepts, and only for the right password and uri", () => {
    const challenge = parseDigestChallenge('Digest qop="auth", realm="shelly2pmg3-a1b2c3d4e5f6", nonce="1763746991", algorithm=SHA-256')!
    const uri = '/rpc/Sys.SetConfig?config=%7B%22device%22%3A%7B%22name%22%3A%22X%22%7D%7D'
    const header = authorizationHeader({ challenge, password: "s3cret", httpMethod: "GET", uri, cnonce: "abc123" })
    expect(header).toMatch(/^Digest username="admin", realm="shelly2pmg3-a1b2c3d4e5f6", nonce="1763746991", uri="/)
    expect(header).toContain("nc=00000001")
    expect(header).toContain("qop=auth")
    expect(header).toContain("algorithm=SHA-256")
    const ha1 = ha1For("shelly2pmg3-a1b2c3d4e5f6", "s3cret")
    expect(verifyAuthorization({ header, ha1, httpMethod: "GET", expectedNonce: "1763746991" })).toBe(true)
    expect(verifyAuthorization({ header, ha1: ha1For("shelly2pmg3-a1b2c3d4e5f6", "wrong"), httpMethod: "GET" })).toBe(false)
    expect(verifyAuthorization({ header, ha1, httpMethod: "POST" })).toBe(false)
    expect(verifyAuthorization({ header, ha1, httpMethod: "GET", expectedNonce: "other" })).toBe(false)
    expect(header).not.toContain("s3cret")
  })
})
