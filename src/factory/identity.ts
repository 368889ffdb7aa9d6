import { Effect, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import type { DetectedBoard } from "../flash/Flasher.js"

/** What a board is known by, in the records and at the backend. */
export interface DeviceCredentials {
  /**
   * `<platform>-<identity>`: the identity (MAC, chip UID or serial) in lowercase
   * hex/alphanumerics, e.g. `esp32-a1b2c3d4e5f6`. Derived, not random, so a
   * board flashed twice keeps its id and its registration stays single.
   */
  readonly deviceId: string
  /** Per-device secret (32 random bytes, base64url): backend and QR label only. */
  readonly secret: Redacted.Redacted<string>
  /** One-time provisioning token (18 random bytes, base64url): backend and QR label only. */
  readonly token: Redacted.Redacted<string>
}

export const deviceIdOf = (board: Pick<DetectedBoard, "platform" | "identity">): string =>
  `${board.platform}-${board.identity.value.toLowerCase().replace(/[^0-9a-z]/g, "")}`

/** `A1B2C3D4E5F6` → `a1:b2:c3:d4:e5:f6` for MACs; other identities as reported. */
export const displayIdentity = (board: Pick<DetectedBoard, "identity">): string => {
  const value = board.identity.value
  if (board.identity.kind === "mac" && /^[0-9a-fA-F]{12}$/.test(value.replace(/[:-]/g, ""))) {
    return value.replace(/[:-]/g, "").toLowerCase().match(/../g)!.join(":")
  }
  return value
}

export const newCredentials = (board: Pick<DetectedBoard, "platform" | "identity">): Effect.Effect<DeviceCredentials> =>
  Effect.sync(() => ({
    deviceId: deviceIdOf(board),
    secret: Redacted.make(randomBytes(32).toString("base64url")),
    token: Redacted.make(randomBytes(18).toString("base64url"))
  }))
