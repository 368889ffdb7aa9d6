/**
 * Stage 1 against a device that serves its API over HTTPS (`stage1` setting
 * `tls`): the first reads over the AP take any certificate and note its
 * fingerprint; once the device has said its MAC, that fingerprint is trusted
 * on first use or checked against the pin of that MAC (src/shelly/certPins.ts),
 * before any setting (or password) is sent. From then on every connection to
 * the device must present the pinned certificate (ShellyRpcLive).
 */
import { Clock, Effect, Option } from "effect"
import { CertificateChanged } from "../../domain/errors/certPin.js"
import { pinKey, trustOnFirstUse } from "../../shelly/certPins.js"
import type { DeviceTls } from "../../shelly/ShellyRpc.js"

export interface CertificateSession {
  /** For the first reads: any certificate, its fingerprint noted. */
  readonly firstContact: DeviceTls | undefined
  /** Pins (or checks) what the first reads saw for `mac`; the TLS setting every later call needs (none over plain HTTP). */
  readonly pin: (mac: string, device: string) => ReturnType<typeof pinSeen>
}

const pinSeen = (pinFile: string, seen: ReadonlyArray<string>, mac: string, device: string) =>
  Effect.gen(function* () {
    const [first, other] = seen
    if (first === undefined) return Option.none<DeviceTls>()
    // Two certificates in one AP session: one of the answers came from something else.
    if (other !== undefined) return yield* Effect.fail(new CertificateChanged({ device, mac, pinned: first, presented: other, pinFile }))
    const now = new Date(yield* Clock.currentTimeMillis)
    yield* trustOnFirstUse(pinFile, mac, first, device, now)
    return Option.some<DeviceTls>({ pinned: { sha256: first, mac: pinKey(mac), file: pinFile } })
  })

export const certificateSession = (tls: { readonly pinFile: string } | undefined): CertificateSession => {
  const seen: Array<string> = []
  return {
    firstContact:
      tls === undefined
        ? undefined
        : {
            seen: (sha256) => {
              if (!seen.includes(sha256)) seen.push(sha256)
            }
          },
    pin: (mac, device) => (tls === undefined ? Effect.succeedNone : pinSeen(tls.pinFile, seen, mac, device))
  }
}
