/**
 * The device side of Shelly digest auth (RFC 7616, SHA-256, qop=auth, user
 * `admin`, realm = device id). The hash math is shared with the client
 * (`src/shelly/digest.ts`); nonce issue, expiry and `nc` replay checks live here.
 */
import { randomInt } from "node:crypto"
import { digestResponse, DIGEST_USER, ha2For, parseAuthParams, sha256Hex } from "../../src/shelly/digest.js"
import type { JsonObject, SimDevice } from "./device.js"

/** Firmware 2.x: a nonce stays valid for an hour and up to 30,000 uses. */
const nonceLifetimeMs = 60 * 60 * 1000
const nonceMaxUses = 30_000
/** Bounded per device so a client that never authenticates cannot grow memory. */
const maxNonces = 32

/** HA2 of the JSON-RPC `auth` object form. */
export const frameHa2 = sha256Hex("dummy_method:dummy_uri")

export const issueNonce = (device: SimDevice): string => {
  const nonce = String(randomInt(1_000_000_000, 9_999_999_999))
  if (device.nonces === undefined) device.nonces = new Map()
  if (device.nonces.size >= maxNonces) {
    const oldest = device.nonces.keys().next().value
    if (oldest !== undefined) device.nonces.delete(oldest)
  }
  device.nonces.set(nonce, { expiresAt: Date.now() + nonceLifetimeMs, lastNc: 0, uses: 0 })
  return nonce
}

export const challengeHeader = (device: SimDevice): string =>
  `Digest qop="auth", realm="${device.reportedId}", nonce="${issueNonce(device)}", algorithm=SHA-256`

/** Accepts the nonce for this `nc` (must grow per nonce, so a captured request cannot be replayed). */
const acceptNonce = (device: SimDevice, nonce: string, nc: number): boolean => {
  const state = device.nonces?.get(nonce)
  if (state === undefined) return false
  if (Date.now() > state.expiresAt || state.uses >= nonceMaxUses) {
    device.nonces?.delete(nonce)
    return false
  }
  if (!Number.isInteger(nc) || nc <= state.lastNc) return false
  state.lastNc = nc
  state.uses += 1
  return true
}

const sameHex = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()

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

/** The frame form: `"auth": {realm, username, nonce, cnonce, response, algorithm, nc}` with nc an integer. */
export const verifyFrameAuth = (device: SimDevice, auth: JsonObject): boolean => {
  if (device.ha1 === null) return true
  const { cnonce, nc, nonce, realm, response, username } = auth
  if (typeof cnonce !== "string" || typeof response !== "string") return false
  if (typeof nonce !== "string" && typeof nonce !== "number") return false
  const ncNumber = typeof nc === "number" ? nc : typeof nc === "string" ? Number(nc) : NaN
  if ((username ?? DIGEST_USER) !== DIGEST_USER || realm !== device.reportedId) return false
  if (auth.algorithm !== undefined && String(auth.algorithm).toUpperCase() !== "SHA-256") return false
  const expected = digestResponse({
    ha1: device.ha1, nonce: String(nonce), nc: String(nc), cnonce, qop: "auth", ha2: frameHa2
  })
  if (!sameHex(expected, response)) return false
  return acceptNonce(device, String(nonce), ncNumber)
}
