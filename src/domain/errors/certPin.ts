/**
 * Errors of the per-MAC certificate pins of devices that serve their API over
 * HTTPS (src/shelly/certPins.ts). Fingerprints are public: they name a
 * certificate, they give nothing away.
 */
import { Data } from "effect"
import type { OperatorError } from "./base.js"

/** The device presented another certificate than the one pinned for its MAC: nothing was sent to it. */
export class CertificateChanged
  extends Data.TaggedError("CertificateChanged")<{
    readonly device: string
    readonly mac: string
    /** SHA-256 fingerprint pinned on first use. */
    readonly pinned: string
    /** SHA-256 fingerprint of the certificate presented now. */
    readonly presented: string
    readonly pinFile: string
  }>
  implements OperatorError
{
  readonly code = "certificate_changed"
  get hint() {
    return `if the device was factory-reset or got a new certificate on purpose, forget its pin: delete the "${this.mac}" entry from ${this.pinFile} and run again (the next contact pins the new certificate); otherwise something else answers at ${this.device} — check the network before sending it any password`
  }
  override get message() {
    return `device ${this.mac} at ${this.device} presented certificate SHA-256 ${this.presented}, but ${this.pinFile} pins ${this.pinned} for it — refused`
  }
}

/** The pin file cannot be read as pins. */
export class CertPinFileInvalid
  extends Data.TaggedError("CertPinFileInvalid")<{
    readonly path: string
    readonly reason: string
  }>
  implements OperatorError
{
  readonly code = "cert_pins_invalid"
  get hint() {
    return `fix or remove ${this.path} (a JSON object {"version":1,"pins":{"<MAC>":{"sha256":"…","pinned_at":"…"}}}); removing it forgets every pin, and the next contact of each device pins its certificate again`
  }
  override get message() {
    return `cannot read the certificate pins in ${this.path}: ${this.reason}`
  }
}
