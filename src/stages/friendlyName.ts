import { Either } from "effect"

/**
 * Shelly firmware does not document a limit for `device.name`; names longer
 * than this have been seen to be cut off in the device UI and in mDNS
 * instance names (63 bytes max), so we stay at 64 characters and refuse
 * longer ones instead of silently truncating (a truncated name would never
 * match the inventory again and be rewritten on every run).
 */
export const FRIENDLY_NAME_MAX_LENGTH = 64

/**
 * Technical normalisation only (the naming policy belongs to the web UI):
 * Unicode NFC, trimmed, runs of spaces collapsed to one. Control and other
 * invisible characters (tab, newline, zero-width, private use) are rejected
 * rather than stripped, so the operator sees exactly what is wrong.
 */
export const normalizeFriendlyName = (raw: string): Either.Either<string, string> => {
  const invisible = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}]/u.exec(raw)
  if (invisible) {
    const code = invisible[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")
    return Either.left(`name contains a control/invisible character U+${code}`)
  }
  const name = raw
    .normalize("NFC")
    .replace(/\p{Zs}+/gu, " ")
    .trim()
  if (name.length === 0) return Either.left("name is empty after trimming spaces")
  const length = [...name].length
  if (length > FRIENDLY_NAME_MAX_LENGTH) {
    return Either.left(`name is ${length} characters, the limit is ${FRIENDLY_NAME_MAX_LENGTH}`)
  }
  return Either.right(name)
}
