// Plain HTTP helpers for the simulator tests: node's fetch and node:crypto,
// independent of the project's RPC client (which is tested against the sim elsewhere).
import { createHash } from "node:crypto"

export const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex")

export interface RawReply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly json: unknown
}

export const request = async (url: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<RawReply> => {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs ?? 3000) })
  const text = await res.text()
  let json: unknown = undefined
  try {
    json = text.length > 0 ? JSON.parse(text) : undefined
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, text, json }
}

/** What a failed fetch ran into: "refused", "timeout" or the error text. */
export const failureOf = async (url: string, timeoutMs = 300): Promise<string> => {
  try {
    await request(url, { timeoutMs })
    return "answered"
  } catch (e) {
    const err = e as { name?: string; cause?: { code?: string } }
    if (err.name === "TimeoutError") return "timeout"
    if (err.cause?.code === "ECONNREFUSED") return "refused"
    // The connection was cut before an answer (undici names a socket closed mid-request UND_ERR_SOCKET).
    if (err.cause?.code === "ECONNRESET" || err.cause?.code === "UND_ERR_SOCKET") return "reset"
    return String(e)
  }
}

export const parseChallenge = (header: string | null): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const m of (header ?? "").matchAll(/(\w+)=(?:"([^"]*)"|([^\s,]+))/g)) out[m[1]!] = m[2] ?? m[3] ?? ""
  return out
}

/** RFC 7616 SHA-256 `Authorization` header for one request. */
export const digestHeader = (args: {
  realm: string
  nonce: string
  password: string
  method: string
  uri: string
  nc?: number
  cnonce?: string
}): string => {
  const nc = (args.nc ?? 1).toString(16).padStart(8, "0")
  const cnonce = args.cnonce ?? "0a4f113b"
  const ha1 = sha256(`admin:${args.realm}:${args.password}`)
  const ha2 = sha256(`${args.method}:${args.uri}`)
  const response = sha256(`${ha1}:${args.nonce}:${nc}:${cnonce}:auth:${ha2}`)
  return `Digest username="admin", realm="${args.realm}", nonce="${args.nonce}", uri="${args.uri}", cnonce="${cnonce}", nc=${nc}, qop=auth, response="${response}", algorithm=SHA-256`
}
