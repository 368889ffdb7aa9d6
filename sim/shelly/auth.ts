/**
 * The device side of Shelly digest auth (RFC 7616, SHA-256, qop=auth, user
 * `admin`, realm = device id). The hash math is shared with the client
 * (`src/shelly/digest.ts`); nonce issue, expiry and `nc` replay checks live here.
 */
import { randomBytes, randomInt } from "node:crypto"
import { digestResponse, DIGEST_USER, ha2For, parseAuthParams, sha256Hex } from "../../src/shelly/digest.js"
import type { JsonObject, NonceState, SimDevice } from "./device.js"

/** Firmware 2.x: a nonce stays valid for an hour (`SimDevice.nonceLifetimeMs`) and up to 30,000 uses. */
const nonceMaxUses = 30_000
/**
 * How far below the highest `nc` seen a not-yet-used `nc` is still accepted.
 * The HTTP channel takes up to 6 requests at once, each on its own
 * connection, so a client numbering them in order cannot make them arrive in
 * order; a strict "must exceed the last one" rule would refuse honest
 * concurrent requests. Each `nc` is still accepted only once (RFC 7616's
 * replay protection). The exact rule of real firmware is not documented.
 */
const ncWindow = 32
/** HA2 of the JSON-RPC `auth` object form. */
export const frameHa2 = sha256Hex("dummy_method:dummy_uri")

/** Bounded per device so a client that never authenticates cannot grow memory (firmware 1.x style). */
const maxNonces = 32
/**
 * Firmware 2.x keeps a small nonce table: a client that takes a fresh nonce
 * for each overlapping call pushes its own older ones out (they then answer
 * `stale=true`). The exact size is not documented; openhab#21179 quotes the
 * 2.0.1-beta1 changelog "Fix digest nonce table slot leak on TTL expiry".
 */
const maxNonces2x = 4

/**
 * Firmware 2.x digest behaviour (changelog 2.0.0, quoted in
 * iobroker.shelly#1588 and openhab-addons#21179): opaque base64 nonces (with
 * `+ / =`), `stale=true` for a correctly signed request whose nonce expired or
 * was dropped, RFC 7616 `nc` per nonce, and 429 "Too many requests" under a
 * burst of requests that need a challenge (brute-force protection;
 * iobroker.shelly#1589, HA core#177257). Chosen per device: version 2.x, or the
 * `fw2` trait on a 1.x model.
 */
export const authStyle2x = (device: SimDevice): boolean => device.ver.startsWith("2.") || device.has("fw2")

/** 2.x: more than this many 401 challenges within `throttleWindowMs` (device time) start throttling. */
const throttleChallenges = 20
const throttleWindowMs = 10_000
/** How long (device time) a throttled device answers 429 to every request that needs auth. */
export const throttleMs = 5_000

/** 2.x: true while the device answers 429; counts a challenge about to be sent. */
export const throttled = (device: SimDevice): boolean => {
  if (!authStyle2x(device)) return false
  const now = Date.now()
  return device.throttledUntil > now
}

const noteChallenge = (device: SimDevice): void => {
  if (!authStyle2x(device)) return
  const now = Date.now()
  const window = throttleWindowMs * device.timeScale
  device.recentChallenges = device.recentChallenges.filter((at) => now - at < window)
  device.recentChallenges.push(now)
  if (device.recentChallenges.length > throttleChallenges) {
    device.throttledUntil = now + throttleMs * device.timeScale
    device.recentChallenges = []
  }
}

export const issueNonce = (device: SimDevice): string => {
  const style2 = authStyle2x(device)
  const nonce = style2 ? randomBytes(16).toString("base64") : String(randomInt(1_000_000_000, 9_999_999_999))
  if (device.nonces === undefined) device.nonces = new Map()
  const slots = style2 ? maxNonces2x : maxNonces
  while (device.nonces.size >= slots) {
    const oldest = device.nonces.keys().next().value
    if (oldest === undefined) break
    device.nonces.delete(oldest)
  }
  const lifetimeMs = device.nonceLifetimeMs * device.timeScale
  device.nonces.set(nonce, { expiresAt: Date.now() + lifetimeMs, highestNc: 0, window: 0, uses: 0 })
  return nonce
}

/** The `WWW-Authenticate` value of a 401; counted per device so tests can see what auth cost. */
export const challengeHeader = (device: SimDevice, stale = false): string => {
  device.authChallenges += 1
  noteChallenge(device)
  const staleParam = stale && authStyle2x(device) ? ", stale=true" : ""
  return `Digest qop="auth", realm="${device.reportedId}", nonce="${issueNonce(device)}", algorithm=SHA-256${staleParam}`
}

/** Records `nc` as used in `state`; false when it was used before or lies below the window. */
const takeNc = (state: NonceState, nc: number): boolean => {
  if (nc > state.highestNc) {
    const shift = nc - state.highestNc
    // `<<` takes its count mod 32, hence the explicit cases.
    state.window = shift > ncWindow ? 0 : shift === ncWindow ? 0x80000000 : ((state.window << shift) | (1 << (shift - 1))) >>> 0
    state.highestNc = nc
    return true
  }
  const below = state.highestNc - 1 - nc
  if (below < 0 || below >= ncWindow) return false
  const bit = (1 << below) >>> 0
  if ((state.window & bit) !== 0) return false
  state.window = (state.window | bit) >>> 0
  return true
}

/**
 * Accepts the nonce with this `nc`: issued here, not expired or used up, and
 * (with `trackNc`) that `nc` not used before.
 */
const acceptNonce = (device: SimDevice, nonce: string, nc: number, trackNc = true): boolean => {
  const state = device.nonces?.get(nonce)
  if (state === undefined) return false
  if (Date.now() > state.expiresAt || state.uses >= nonceMaxUses) {
    device.nonces?.delete(nonce)
    return false
  }
  if (!Number.isInteger(nc) || nc < 1) return false
  if (trackNc && !takeNc(state, nc)) {
    device.ncRefused += 1
    return false
  }
  state.uses += 1
  return true
}

/** What the device's auth state looks like from outside (no nonce values, nothing secret). */
export interface AuthState {
  readonly enabled: boolean
  /** 401 challenges sent since the fleet started. */
  readonly challenges: number
  /** Signed requests refused for a reused (or too old) `nc`. */
  readonly ncRefused: number
  /** Live nonces, oldest first: highest `nc` accepted and accepted uses. */
  readonly nonces: ReadonlyArray<{ readonly highestNc: number; readonly uses: number }>
}

export const authState = (device: SimDevice): AuthState => ({
  enabled: device.ha1 !== null,
  challenges: device.authChallenges,
  ncRefused: device.ncRefused,
  nonces: [...(device.nonces?.values() ?? [])].map((n) => ({ highestNc: n.highestNc, uses: n.uses }))
})

const sameHex = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()

/**
 * A correctly signed request whose nonce is no longer live (expired, used up,
 * pushed out of the table): what firmware 2.x answers with `stale=true`.
 */
export const signedWithStaleNonce = (device: SimDevice, header: string | undefined, httpMethod: string): boolean => {
  if (device.ha1 === null || header === undefined || !/^digest\s/i.test(header.trim())) return false
  const p = parseAuthParams(header.trim().slice(6))
  const { cnonce, nc, nonce, response, uri } = p
  if (!cnonce || !nc || !nonce || !response || uri === undefined) return false
  if (device.nonces?.has(nonce) === true && Date.now() <= device.nonces.get(nonce)!.expiresAt) return false
  const expected = digestResponse({ ha1: device.ha1, nonce, nc, cnonce, qop: "auth", ha2: ha2For(httpMethod, uri) })
  return sameHex(expected, response)
}

/** `Authorization: Digest …` on a GET or POST; `requestUri` is the request target as received. */
export const verifyHeader = (device: SimDevice, header: string | undefined, httpMethod: string, requestUri: string): boolean => {
  if (device.ha1 === null) return true
  if (header === undefined || !/^digest\s/i.test(header.trim())) return false
  const p = parseAuthParams(header.trim().slice(6))
  const { cnonce, nc, nonce, response, uri } = p
  if (!cnonce || !nc || !nonce || !response || uri === undefined) return false
  if ((p.username ?? "") !== DIGEST_USER || (p.realm ?? "") !== device.reportedId) return false
  if ((p.qop ?? "") !== "auth") return false
  if (p.algorithm !== undefined && p.algorithm.toUpperCase() !== "SHA-256") return false
  // The digest covers the uri the client names; it must be the one requested.
  if (uri !== requestUri) return false
  if (!/^[0-9a-fA-F]{8}$/.test(nc)) return false
  const expected = digestResponse({ ha1: device.ha1, nonce, nc, cnonce, qop: "auth", ha2: ha2For(httpMethod, uri) })
  if (!sameHex(expected, response)) return false
  return acceptNonce(device, nonce, parseInt(nc, 16))
}

/**
 * The frame form: `"auth": {realm, username, nonce, cnonce, response, algorithm, nc}` with nc an integer
 * (absent = 1: shellies-ng `rpc/auth.ts` omits it and hashes `params.nc || 1`).
 * `trackNc: false` accepts a repeated `nc` while the nonce lives: firmware before
 * 2.0 ignored the count (windkh/node-red-contrib-shelly#297), and clients that
 * resend one `auth` object for every frame until the nonce expires after an hour
 * work against it (alexryd/node-shellies-ng#12).
 */
export const verifyFrameAuth = (device: SimDevice, auth: JsonObject, options: { readonly trackNc?: boolean } = {}): boolean => {
  if (device.ha1 === null) return true
  const { cnonce, nc, nonce, realm, response, username } = auth
  // shellies-ng sends cnonce as a number.
  if ((typeof cnonce !== "string" && typeof cnonce !== "number") || typeof response !== "string") return false
  if (typeof nonce !== "string" && typeof nonce !== "number") return false
  const ncValue = nc ?? 1
  const ncNumber = typeof ncValue === "number" ? ncValue : typeof ncValue === "string" ? Number(ncValue) : NaN
  if ((username ?? DIGEST_USER) !== DIGEST_USER || realm !== device.reportedId) return false
  if (auth.algorithm !== undefined && String(auth.algorithm).toUpperCase() !== "SHA-256") return false
  const expected = digestResponse({
    ha1: device.ha1,
    nonce: String(nonce),
    nc: String(ncValue),
    cnonce: String(cnonce),
    qop: "auth",
    ha2: frameHa2
  })
  if (!sameHex(expected, response)) return false
  return acceptNonce(device, String(nonce), ncNumber, options.trackNc ?? true)
}
