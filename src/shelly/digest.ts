/**
 * HTTP Digest authentication as Shelly Gen2+ devices use it: RFC 7616 with
 * SHA-256, user `admin`, realm = device id, `qop=auth`. Pure functions only
 * (node:crypto for the hash) so the simulator can verify with the same math.
 */
import { createHash, randomBytes } from "node:crypto"

export const DIGEST_USER = "admin"

export const sha256Hex = (input: string): string => createHash("sha256").update(input, "utf8").digest("hex")

/** HA1 = sha256(`user:realm:password`); also the `ha1` that Shelly.SetAuth stores. */
export const ha1For = (realm: string, password: string, user: string = DIGEST_USER): string => sha256Hex(`${user}:${realm}:${password}`)

/** HA2 = sha256(`METHOD:uri`), the uri including its query string. */
export const ha2For = (httpMethod: string, uri: string): string => sha256Hex(`${httpMethod}:${uri}`)

/** response = sha256(`HA1:nonce:nc:cnonce:qop:HA2`). */
export const digestResponse = (args: {
  readonly ha1: string
  readonly nonce: string
  readonly nc: string
  readonly cnonce: string
  readonly qop: string
  readonly ha2: string
}): string => sha256Hex(`${args.ha1}:${args.nonce}:${args.nc}:${args.cnonce}:${args.qop}:${args.ha2}`)

export interface DigestChallenge {
  readonly realm: string
  /** Opaque: short hex, decimal, or base64 on firmware 2.x. */
  readonly nonce: string
  readonly qop: string | undefined
  readonly algorithm: string | undefined
  readonly opaque: string | undefined
  /**
   * RFC 7616 `stale=true`: the request was signed correctly but its nonce is
   * gone (expired, or pushed out of firmware 2.x's small nonce table) — sign
   * again with this challenge's nonce; not a password error.
   */
  readonly stale?: boolean | undefined
}

/** Splits `k="v", k2=v2` parameter lists (quoted values may hold commas and escaped quotes). */
export const parseAuthParams = (input: string): Record<string, string> => {
  const params: Record<string, string> = {}
  const pattern = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g
  for (const match of input.matchAll(pattern)) {
    const key = match[1]!.toLowerCase()
    params[key] = match[2] !== undefined ? match[2].replace(/\\(.)/g, "$1") : (match[3] ?? "")
  }
  return params
}

/** Reads a `WWW-Authenticate: Digest …` header; undefined when it is not a usable digest challenge. */
export const parseDigestChallenge = (header: string | undefined): DigestChallenge | undefined => {
  if (header === undefined) return undefined
  const trimmed = header.trim()
  if (!/^digest\s/i.test(trimmed)) return undefined
  const params = parseAuthParams(trimmed.slice(6))
  const { realm, nonce } = params
  if (realm === undefined || nonce === undefined) return undefined
  return {
    realm,
    nonce,
    qop: params.qop,
    algorithm: params.algorithm,
    opaque: params.opaque,
    stale: params.stale?.toLowerCase() === "true"
  }
}

export const freshCnonce = (): string => randomBytes(16).toString("hex")

export interface AuthorizationInput {
  readonly challenge: DigestChallenge
  readonly password: string
  readonly httpMethod: string
  /** Request target as sent: path plus query. */
  readonly uri: string
  readonly cnonce: string
  /** Nonce count: 1 for a fresh nonce, one more per reuse (`NonceCache`). */
  readonly nc?: number
}

const quote = (value: string): string => `"${value.replace(/["\\]/g, "\\$&")}"`

/** The `Authorization` header value for one request. */
export const authorizationHeader = (input: AuthorizationInput): string => {
  const { challenge, cnonce, httpMethod, password, uri } = input
  const nc = formatNc(input.nc ?? 1)
  const qop = "auth"
  const response = digestResponse({
    ha1: ha1For(challenge.realm, password),
    nonce: challenge.nonce,
    nc,
    cnonce,
    qop,
    ha2: ha2For(httpMethod, uri)
  })
  const parts = [
    `username=${quote(DIGEST_USER)}`,
    `realm=${quote(challenge.realm)}`,
    `nonce=${quote(challenge.nonce)}`,
    `uri=${quote(uri)}`,
    `cnonce=${quote(cnonce)}`,
    `nc=${nc}`,
    `qop=${qop}`,
    `response=${quote(response)}`,
    `algorithm=SHA-256`
  ]
  if (challenge.opaque !== undefined) parts.push(`opaque=${quote(challenge.opaque)}`)
  return `Digest ${parts.join(", ")}`
}

/** Server side: true when an `Authorization` header proves knowledge of `ha1` for this request. */
export const verifyAuthorization = (args: {
  readonly header: string | undefined
  readonly ha1: string
  readonly httpMethod: string
  readonly expectedNonce?: string
}): boolean => {
  if (args.header === undefined || !/^digest\s/i.test(args.header.trim())) return false
  const p = parseAuthParams(args.header.trim().slice(6))
  if (p.nonce === undefined || p.uri === undefined || p.cnonce === undefined || p.nc === undefined) return false
  if (p.response === undefined || (p.qop ?? "auth") !== "auth") return false
  if (args.expectedNonce !== undefined && p.nonce !== args.expectedNonce) return false
  const expected = digestResponse({
    ha1: args.ha1,
    nonce: p.nonce,
    nc: p.nc,
    cnonce: p.cnonce,
    qop: "auth",
    ha2: ha2For(args.httpMethod, p.uri)
  })
  return expected === p.response.toLowerCase()
}

/** `nc` as the header carries it: 8 lowercase hex digits. */
export const formatNc = (nc: number): string => nc.toString(16).padStart(8, "0")

export interface NonceCacheOptions {
  /** Devices remembered at most; the least recently used one goes first. */
  readonly maxEntries: number
  /**
   * A cached challenge older than this is not reused. Firmware 2.x keeps a
   * nonce for 1 h; a margin below that keeps a nonce about to expire from
   * costing a 401 on a slow fleet run.
   */
  readonly maxAgeMs: number
  /** Uses per nonce at most (firmware 2.x: 30,000). */
  readonly maxUses: number
}

export const defaultNonceCacheOptions: NonceCacheOptions = {
  maxEntries: 10_000,
  maxAgeMs: 50 * 60 * 1000,
  maxUses: 30_000
}

interface NonceEntry {
  readonly challenge: DigestChallenge
  /** The last `nc` handed out for this nonce. */
  nc: number
  readonly obtainedAt: number
}

/** A nonce to sign one request with. */
export interface NonceUse {
  readonly challenge: DigestChallenge
  readonly nc: number
}

/**
 * The last digest challenge per device (firmware 2.x lets a nonce be reused
 * with a growing `nc`), so a call can sign up front instead of paying a 401
 * round trip first. Holds no secret: nonces and realms travel in clear text.
 *
 * `nc` is handed out synchronously, so calls running side by side on one
 * device never share a value for the same nonce. Bounded in size (LRU by
 * Map insertion order) because a long-running web UI or a 10,000-device run
 * would otherwise keep every device it ever met. Time comes from the caller
 * (a monotonic clock in the client) so the ageing rule is testable without
 * waiting.
 */
export class NonceCache {
  private readonly entries = new Map<string, NonceEntry>()

  constructor(private readonly options: NonceCacheOptions = defaultNonceCacheOptions) {}

  get size(): number {
    return this.entries.size
  }

  /** The cached challenge for `key` with its next `nc`; undefined when none is usable. */
  next(key: string, now: number): NonceUse | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    this.entries.delete(key)
    if (now - entry.obtainedAt > this.options.maxAgeMs || entry.nc >= this.options.maxUses) return undefined
    entry.nc += 1
    this.entries.set(key, entry)
    return { challenge: entry.challenge, nc: entry.nc }
  }

  /**
   * Records a challenge just received and claims its first use (nc 1) for
   * the request that answers it. Replaces whatever `key` held.
   */
  fresh(key: string, challenge: DigestChallenge, now: number): NonceUse {
    this.entries.delete(key)
    this.entries.set(key, { challenge, nc: 1, obtainedAt: now })
    if (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next()
      if (oldest.done !== true) this.entries.delete(oldest.value)
    }
    return { challenge, nc: 1 }
  }

  forget(key: string): void {
    this.entries.delete(key)
  }
}
