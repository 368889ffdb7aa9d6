import { Redacted } from "effect"
import { randomBytes } from "node:crypto"

/**
 * A fresh device password: 144 random bits as 24 base64url characters
 * (letters, digits, `-`, `_`), which the device's web UI accepts and which need
 * no quoting in YAML, URLs or shells.
 */
export const generateDevicePassword = (): Redacted.Redacted<string> => Redacted.make(randomBytes(18).toString("base64url"))
