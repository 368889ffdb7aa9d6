/**
 * Stage 2 and Stage 3 against devices that serve their API over HTTPS: the
 * same per-MAC pins Stage 1 records (`stage1.https`, src/shelly/certPins.ts).
 * The inventory names the MAC before the first call, so a device with a pin
 * is held to it from its first connection on (ShellyRpcLive compares the
 * certificate after the handshake, before a byte of the request goes out:
 * a changed one fails the call with `CertificateChanged`). A device without a
 * pin is read once with any certificate, and once it has answered with the
 * inventory's MAC, that certificate is pinned for it (trust on first use, as
 * in Stage 1) before anything is written to it.
 */
import type { FileSystem, Path } from "@effect/platform"
import { Clock, Effect, Option } from "effect"
import { CertificateChanged, type CertPinFileInvalid } from "../domain/errors/certPin.js"
import type { StateWriteError } from "../domain/errors/inventory.js"
import { type AddressCertificate, loadPins, pinKey, pinOf, trustOnFirstUse } from "../shelly/certPins.js"
import type { DeviceTls } from "../shelly/ShellyRpc.js"

export type PinFailure = CertificateChanged | CertPinFileInvalid | StateWriteError

/** One device's certificate for a run. */
export interface DeviceCertificate {
  /** For the first calls: the pinned certificate, or (no pin yet) any, its fingerprint noted. */
  readonly tls: DeviceTls
  /**
   * Once the device answered with its MAC: the TLS setting for every later
   * call (pinned now on first use; the pin as it was otherwise).
   */
  readonly confirm: (device: string) => Effect.Effect<DeviceTls, PinFailure>
}

/** The pins of a run over HTTPS. */
export interface DevicePins {
  readonly pinFile: string
  readonly forMac: (mac: string) => DeviceCertificate
  readonly forAddress: (expected?: string) => AddressCertificate
}

/**
 * Reads `pinFile` once for the run (a bad file stops the run before any
 * device is contacted); first-use pins are written one at a time, each a
 * safe write of the whole file. A dry run (`write: false`) holds each
 * device to what it presented for the rest of the run but writes no pin.
 */
export const openDevicePins = (
  pinFile: string,
  options: { readonly write: boolean } = { write: true }
): Effect.Effect<DevicePins, CertPinFileInvalid, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const pins = yield* loadPins(pinFile)
    const context = yield* Effect.context<FileSystem.FileSystem | Path.Path>()
    const writes = yield* Effect.makeSemaphore(1)
    const pinnedTls = (mac: string, sha256: string): DeviceTls => ({ pinned: { sha256, mac: pinKey(mac), file: pinFile } })
    /** What the device presented on its first reads, held to `mac`'s pin, or pinned for it now. */
    const settle = (mac: string, seen: ReadonlyArray<string>, device: string) =>
      Effect.gen(function* () {
        const pinned = pinOf(pins, mac)
        if (Option.isSome(pinned)) {
          const presented = seen.find((sha256) => sha256 !== pinned.value)
          if (presented !== undefined)
            return yield* new CertificateChanged({ device, mac: pinKey(mac), pinned: pinned.value, presented, pinFile })
          return pinnedTls(mac, pinned.value)
        }
        const [first, other] = seen
        // Nothing seen: the answer came over plain HTTP (cannot happen with tls set); nothing to pin.
        if (first === undefined) return {}
        // Two certificates for one device's first reads: one answer came from something else.
        if (other !== undefined)
          return yield* new CertificateChanged({ device, mac: pinKey(mac), pinned: first, presented: other, pinFile })
        const now = new Date(yield* Clock.currentTimeMillis)
        if (options.write) yield* writes.withPermits(1)(trustOnFirstUse(pinFile, mac, first, device, now))
        return pinnedTls(mac, first)
      }).pipe(Effect.provide(context))
    const forAddress = (expected?: string): AddressCertificate => {
      const pinned = expected === undefined ? Option.none() : pinOf(pins, expected)
      if (expected !== undefined && Option.isSome(pinned)) {
        // The pin was checked on every connection; a device answering with another MAC is the caller's to refuse.
        const tls = pinnedTls(expected, pinned.value)
        return { tls, confirm: () => Effect.succeed(tls) }
      }
      const seen: Array<string> = []
      const tls: DeviceTls = {
        seen: (sha256) => {
          if (!seen.includes(sha256)) seen.push(sha256)
        }
      }
      return { tls, confirm: (mac, device) => settle(mac, seen, device) }
    }
    /** The same, for a device whose MAC the caller has already checked against the inventory. */
    const forMac = (mac: string): DeviceCertificate => {
      const certificate = forAddress(mac)
      return { tls: certificate.tls, confirm: (device) => certificate.confirm(mac, device) }
    }
    return { pinFile, forMac, forAddress }
  })

/** No HTTPS configured: plain HTTP, nothing pinned. */
export const certificateOf = (pins: DevicePins | undefined, mac: string): DeviceCertificate | undefined =>
  pins === undefined ? undefined : pins.forMac(mac)

/**
 * The pins of a command that talks to devices, when `stage1.https` is on
 * (`pinFile`: InventorySettings.httpsPinFile); undefined: plain HTTP.
 * `write`: pin on first use (a dry run holds devices to what they presented
 * but writes nothing).
 */
export const devicePinsOf = (pinFile: string | undefined, write: boolean) =>
  pinFile === undefined ? Effect.succeed(undefined) : openDevicePins(pinFile, { write })
