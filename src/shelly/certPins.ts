/**
 * Certificate pins per MAC for devices that serve their API over HTTPS,
 * trusted on first use. What the devices present (sources in
 * sim/shelly/tlsCerts.ts): factory-shipped 2.0.0+ firmware a certificate from
 * Shelly's internal PKI, otherwise one the owner uploaded (often self-signed);
 * none a client can check against a public CA (aioshelly and Home Assistant
 * skip the check by default). So the first contact records the certificate's
 * SHA-256 fingerprint under the device's MAC, and every later contact must
 * present the same one, or nothing is sent (ShellyRpcLive checks each
 * connection after the handshake).
 *
 * The file (`data/shelly_cert_pins.json` by default) is written with the
 * inventory's safe write (.bak, .tmp, fsync, rename); a refused certificate
 * leaves it as it was. Forgetting a pin is deleting its entry (CertificateChanged's hint).
 *   {"version":1,"pins":{"A8:03:2A:B1:C2:D3":{"sha256":"AB:CD:…","pinned_at":"2026-12-05T21:00:00.000Z"}}}
 */
import { FileSystem } from "@effect/platform"
import type { Path } from "@effect/platform"
import { Effect, Either, Option, Schema } from "effect"
import { CertificateChanged, CertPinFileInvalid } from "../domain/errors/certPin.js"
import type { StateWriteError } from "../domain/errors/inventory.js"
import { parseMac } from "../domain/mac.js"
import { safeWriteFile } from "../runtime/safeWrite.js"
import type { DeviceTls } from "./ShellyRpc.js"

export const DEFAULT_PIN_FILE = "data/shelly_cert_pins.json"

const Sha256 = Schema.String.pipe(Schema.pattern(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/))
const PinEntry = Schema.Struct({ sha256: Sha256, pinned_at: Schema.String })
const PinDocument = Schema.Struct({ version: Schema.Literal(1), pins: Schema.Record({ key: Schema.String, value: PinEntry }) })
type PinDocument = typeof PinDocument.Type

const decodeDocument = Schema.decodeUnknownEither(Schema.parseJson(PinDocument), { errors: "first" })

/** The pins in `file`; a missing file has none. */
export const loadPins = (file: string): Effect.Effect<PinDocument["pins"], CertPinFileInvalid, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.map(Option.some),
      Effect.catchIf(
        (e) => e._tag === "SystemError" && e.reason === "NotFound",
        () => Effect.succeed(Option.none<string>())
      ),
      Effect.mapError((e) => new CertPinFileInvalid({ path: file, reason: e.message }))
    )
    if (Option.isNone(text)) return {}
    const decoded = decodeDocument(text.value)
    if (Either.isLeft(decoded)) return yield* Effect.fail(new CertPinFileInvalid({ path: file, reason: decoded.left.message }))
    for (const mac of Object.keys(decoded.right.pins)) {
      if (Either.isLeft(parseMac(mac)))
        return yield* Effect.fail(new CertPinFileInvalid({ path: file, reason: `"${mac}" is not a MAC address` }))
    }
    return decoded.right.pins
  })

/** The key a MAC has in the file: `AA:BB:CC:DD:EE:FF`. */
const macKey = (mac: string): string => {
  const parsed = parseMac(mac)
  const hex = Either.isRight(parsed) ? parsed.right.replace(/[^0-9A-F]/gi, "").toUpperCase() : mac.toUpperCase()
  return hex.match(/.{2}/g)?.join(":") ?? hex
}

/** The pin of `mac`, if one was recorded. */
export const pinOf = (pins: PinDocument["pins"], mac: string): Option.Option<string> =>
  Option.map(Option.fromNullable(pins[macKey(mac)]), (entry) => entry.sha256)

/**
 * Trust on first use: the device `mac` presented the certificate `presented`
 * (at `device`). No pin yet → pinned now (`"pinned"`); the same one → `"known"`;
 * another one → `CertificateChanged`, the file untouched.
 */
export const trustOnFirstUse = (
  file: string,
  mac: string,
  presented: string,
  device: string,
  now: Date
): Effect.Effect<"pinned" | "known", CertificateChanged | CertPinFileInvalid | StateWriteError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const pins = yield* loadPins(file)
    const key = macKey(mac)
    const pinned = pins[key]
    if (pinned !== undefined) {
      if (pinned.sha256 === presented) return "known" as const
      return yield* Effect.fail(new CertificateChanged({ device, mac: key, pinned: pinned.sha256, presented, pinFile: file }))
    }
    const next: PinDocument = { version: 1, pins: { ...pins, [key]: { sha256: presented, pinned_at: now.toISOString() } } }
    yield* safeWriteFile(file, `${JSON.stringify(next, null, 2)}\n`)
    return "pinned" as const
  })

/** `file`'s key for `mac` (for targets that carry a pin). */
export const pinKey = macKey

/**
 * A device known by its address, whose MAC its first answer tells (`backup
 * --ip`, `restore`, `credentials rotate`; made by `forAddress` in
 * src/stages/devicePins.ts): held from the first connection to the pin of
 * the MAC expected there when it has one; otherwise read with any
 * certificate, its fingerprint noted.
 */
export interface AddressCertificate {
  readonly tls: DeviceTls
  /**
   * Once the device answered with `mac`: the TLS setting for every later call.
   * A certificate other than that MAC's pin is `CertificateChanged`; a MAC
   * without a pin is pinned now (first use).
   */
  readonly confirm: (mac: string, device: string) => Effect.Effect<DeviceTls, CertificateChanged | CertPinFileInvalid | StateWriteError>
}
