// What the web UI accepts from a client, and the headers every answer carries.
// A request that breaks a limit gets a 4xx and costs nothing more: the body
// is never buffered past its cap, an error never echoes the input back, and
// a flood of visitors cannot push the operator's session out.

/** Request bodies (JSON API and the login form); real ones are well under 1 KiB. */
export const MAX_BODY_BYTES = 64 * 1024

/** Characters of an error message sent back (a bad value is named, not copied whole). */
export const MAX_ERROR_CHARS = 300

/** Cuts an error text so it never echoes a large input. */
export const clipMessage = (text: string): string =>
  text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}… (${text.length} characters)` : text

/**
 * Pages load only their own script and style (the style is inline in the
 * head), may not be framed (clickjacking), and send forms only to us.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "x-frame-options": "DENY",
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; connect-src 'self'; " +
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer"
}

export interface LoginThrottleOptions {
  /** Failed attempts allowed per client within `windowMs`. */
  readonly attempts: number
  readonly windowMs: number
  /** Clients tracked at most (the oldest entry goes first). */
  readonly clients: number
}

export const defaultLoginThrottle: LoginThrottleOptions = { attempts: 5, windowMs: 60_000, clients: 10_000 }

/**
 * Failed logins per client address in a fixed window. `retryAfter` says how
 * many seconds a blocked client must wait; a right password clears the count.
 */
export const makeLoginThrottle = (options: LoginThrottleOptions = defaultLoginThrottle, now: () => number = Date.now) => {
  const failures = new Map<string, { count: number; since: number }>()
  const current = (client: string) => {
    const entry = failures.get(client)
    if (entry === undefined || now() - entry.since >= options.windowMs) return undefined
    return entry
  }
  return {
    /** Seconds to wait, or 0 when the client may try now. */
    retryAfter: (client: string): number => {
      const entry = current(client)
      return entry !== undefined && entry.count >= options.attempts
        ? Math.max(1, Math.ceil((entry.since + options.windowMs - now()) / 1000))
        : 0
    },
    failed: (client: string): void => {
      const entry = current(client)
      if (entry !== undefined) entry.count += 1
      else {
        failures.delete(client)
        failures.set(client, { count: 1, since: now() })
        if (failures.size > options.clients) failures.delete(failures.keys().next().value!)
      }
    },
    succeeded: (client: string): void => void failures.delete(client)
  }
}
