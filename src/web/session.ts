// Sessions and CSRF tokens, in memory (a restart signs everyone out, which is
// fine for an operator tool). Tokens come from the OS CSPRNG.
import { Redacted } from "effect"
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"

export const SESSION_COOKIE = "provision_session"
export const CSRF_HEADER = "x-csrf-token"

export interface Session {
  readonly id: string
  readonly csrf: string
}

const token = () => randomBytes(24).toString("base64url")

export interface Sessions {
  readonly create: () => Session
  /** The session of a cookie; a session seen again with its cookie is kept in preference to new ones. */
  readonly get: (id: string | undefined) => Session | undefined
}

/**
 * At most `limit` new sessions plus `limit` sessions in use, so a flood of
 * visits cannot grow memory without bound. A session is "new" until a request
 * comes back with its cookie; cookieless requests only ever create new
 * sessions, so however many arrive they push out other new ones, never a
 * session an operator is using. In use, the least recently seen goes first.
 */
export const makeSessions = (limit = 1000): Sessions => {
  const fresh = new Map<string, Session>()
  const used = new Map<string, Session>()
  const bounded = (map: Map<string, Session>) => {
    if (map.size > limit) map.delete(map.keys().next().value!)
  }
  return {
    create: () => {
      const session = { id: token(), csrf: token() }
      fresh.set(session.id, session)
      bounded(fresh)
      return session
    },
    get: (id) => {
      if (id === undefined) return undefined
      const session = used.get(id) ?? fresh.get(id)
      if (session === undefined) return undefined
      // Most recently seen last: re-insert.
      fresh.delete(id)
      used.delete(id)
      used.set(id, session)
      bounded(used)
      return session
    }
  }
}

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest()

/** Constant-time comparison (on digests, so lengths do not leak either). */
export const sameSecret = (given: string, expected: Redacted.Redacted<string>): boolean =>
  timingSafeEqual(digest(given), digest(Redacted.value(expected)))

/** Loopback binds (127.0.0.0/8, ::1, localhost) need no password. */
export const isLoopbackHost = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
