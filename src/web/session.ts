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
  readonly get: (id: string | undefined) => Session | undefined
}

/** At most `limit` sessions; the oldest is dropped first, so a flood of visits cannot grow memory without bound. */
export const makeSessions = (limit = 1000): Sessions => {
  const sessions = new Map<string, Session>()
  return {
    create: () => {
      const session = { id: token(), csrf: token() }
      sessions.set(session.id, session)
      if (sessions.size > limit) sessions.delete(sessions.keys().next().value!)
      return session
    },
    get: (id) => (id === undefined ? undefined : sessions.get(id))
  }
}

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest()

/** Constant-time comparison (on digests, so lengths do not leak either). */
export const sameSecret = (given: string, expected: Redacted.Redacted<string>): boolean =>
  timingSafeEqual(digest(given), digest(Redacted.value(expected)))

/** Loopback binds (127.0.0.0/8, ::1, localhost) need no password. */
export const isLoopbackHost = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
