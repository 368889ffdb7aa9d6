import { describe, expect, it } from "vitest"
import {
  authorizationHeader,
  defaultNonceCacheOptions,
  digestResponse,
  formatNc,
  ha1For,
  ha2For,
  parseAuthParams,
  NonceCache,
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
    const numeric = parseDigestChallenge('Digest qop="auth", realm="shellyplus1pm-44179394d4d4", nonce="603", algorithm=SHA-256')
    expect(numeric).toEqual({
      realm: "shellyplus1pm-44179394d4d4",
      nonce: "603",
      qop: "auth",
      algorithm: "SHA-256",
      opaque: undefined,
      stale: false
    })
    // Firmware 2.x: stale=true (re-sign, not a password error), base64 nonce with padding kept whole.
    const stale = parseDigestChallenge('Digest qop="auth", realm="r", nonce="q+/Zx0==", algorithm=SHA-256, stale=true')
    expect(stale).toMatchObject({ nonce: "q+/Zx0==", stale: true })
    const base64 = parseDigestChallenge(
      'Digest qop="auth", realm="shelly1pmg3-34b7dac68344", nonce="Ac2aagAAAAAWqUM3+/x=", algorithm=SHA-256'
    )
    expect(base64?.nonce).toBe("Ac2aagAAAAAWqUM3+/x=")
    expect(parseDigestChallenge('Basic realm="x"')).toBeUndefined()
    expect(parseDigestChallenge(undefined)).toBeUndefined()
    expect(parseAuthParams('a="x, \\"y\\"", b=2')).toEqual({ a: 'x, "y"', b: "2" })
  })

  it("builds an Authorization header the verifier accepts, and only for the right password and uri", () => {
    const challenge = parseDigestChallenge('Digest qop="auth", realm="shelly2pmg3-a1b2c3d4e5f6", nonce="1763746991", algorithm=SHA-256')!
    const uri = "/rpc/Sys.SetConfig?config=%7B%22device%22%3A%7B%22name%22%3A%22X%22%7D%7D"
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
    // A reused nonce: nc as 8 hex digits, signed into the response.
    const reused = authorizationHeader({ challenge, password: "s3cret", httpMethod: "GET", uri, cnonce: "abc124", nc: 26 })
    expect(reused).toContain("nc=0000001a")
    expect(verifyAuthorization({ header: reused, ha1, httpMethod: "GET", expectedNonce: "1763746991" })).toBe(true)
    expect(verifyAuthorization({ header: reused.replace("nc=0000001a", "nc=0000001b"), ha1, httpMethod: "GET" })).toBe(false)
  })
})

describe("NonceCache", () => {
  const challenge = (nonce: string) => ({ realm: "shelly1pmg3-34b7dac68344", nonce, qop: "auth", algorithm: "SHA-256", opaque: undefined })
  const options = { maxEntries: 3, maxAgeMs: 1000, maxUses: 5 }

  it("hands out nc 1 with a fresh challenge, then 2, 3 … for the same device", () => {
    const cache = new NonceCache(options)
    expect(cache.next("a:80", 0)).toBeUndefined()
    expect(cache.fresh("a:80", challenge("n1"), 0)).toEqual({ challenge: challenge("n1"), nc: 1 })
    expect(cache.next("a:80", 10)?.nc).toBe(2)
    expect(cache.next("a:80", 20)?.nc).toBe(3)
    expect(cache.next("b:80", 20)).toBeUndefined()
    // A new challenge for the device starts its own count.
    cache.fresh("a:80", challenge("n2"), 30)
    expect(cache.next("a:80", 40)).toEqual({ challenge: challenge("n2"), nc: 2 })
    expect(formatNc(2)).toBe("00000002")
    expect(formatNc(0x1ff)).toBe("000001ff")
  })

  it("stops reusing a challenge after maxAgeMs and after maxUses", () => {
    const cache = new NonceCache(options)
    cache.fresh("a:80", challenge("n1"), 100)
    expect(cache.next("a:80", 1100)?.nc).toBe(2)
    expect(cache.next("a:80", 1101)).toBeUndefined()
    // Dropped, not just skipped.
    expect(cache.size).toBe(0)
    cache.fresh("a:80", challenge("n2"), 2000)
    expect([2, 3, 4, 5].map(() => cache.next("a:80", 2000)?.nc)).toEqual([2, 3, 4, 5])
    expect(cache.next("a:80", 2000)).toBeUndefined()
  })

  it("keeps at most maxEntries devices, dropping the least recently used", () => {
    const cache = new NonceCache(options)
    for (const key of ["a", "b", "c"]) cache.fresh(key, challenge(key), 0)
    expect(cache.next("a", 1)?.nc).toBe(2) // a is now the most recent
    cache.fresh("d", challenge("d"), 2)
    expect(cache.size).toBe(3)
    expect(cache.next("b", 3)).toBeUndefined()
    expect(cache.next("a", 3)?.nc).toBe(3)
    expect(cache.next("c", 3)?.nc).toBe(2)
    expect(cache.next("d", 3)?.nc).toBe(2)
  })

  it("stays at 10,000 devices by default however many it meets", () => {
    const cache = new NonceCache()
    expect(defaultNonceCacheOptions).toEqual({ maxEntries: 10_000, maxAgeMs: 50 * 60 * 1000, maxUses: 30_000 })
    for (let i = 0; i < 25_000; i++) cache.fresh(`127.66.${i >> 8}.${i & 255}:80`, challenge(String(i)), i)
    expect(cache.size).toBe(10_000)
    expect(cache.next("127.66.0.0:80", 25_000)).toBeUndefined()
    expect(cache.next(`127.66.${24_999 >> 8}.${24_999 & 255}:80`, 25_000)?.nc).toBe(2)
  })
})
