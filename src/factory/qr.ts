import { Path } from "@effect/platform"
import { Effect, Redacted } from "effect"
import QRCode from "qrcode"
import { RecordFileError } from "../domain/errors/factory.js"
import { writeFileAtomic } from "../runtime/safeWrite.js"
import type { DeviceCredentials } from "./identity.js"

/**
 * Label payload: `fp1:<device-id>:<provisioning-token>`. The version prefix lets
 * a pairing app reject labels it cannot read; ':' never occurs in either part
 * (ids are [a-z0-9-], tokens base64url).
 */
export const qrPayload = (credentials: DeviceCredentials): string => `fp1:${credentials.deviceId}:${Redacted.value(credentials.token)}`

export const parseQrPayload = (text: string): { readonly deviceId: string; readonly token: string } | undefined => {
  const match = /^fp1:([a-z0-9-]+):([A-Za-z0-9_-]+)$/.exec(text)
  return match ? { deviceId: match[1]!, token: match[2]! } : undefined
}

export interface QrLabel {
  /** Paths relative to the project root, as recorded in the CSV. */
  readonly png: string
  readonly svg: string
}

const render = <A>(file: string, run: () => Promise<A>) =>
  Effect.tryPromise({
    try: run,
    catch: (error) =>
      new RecordFileError({ path: file, operation: "rendering QR label", detail: error instanceof Error ? error.message : String(error) })
  })

/** Writes `<dir>/<device-id>.png` and `.svg`. */
export const writeQrLabel = (dir: string, credentials: DeviceCredentials) =>
  Effect.gen(function* () {
    const path = yield* Path.Path
    const payload = qrPayload(credentials)
    const png = path.join(dir, `${credentials.deviceId}.png`)
    const svg = path.join(dir, `${credentials.deviceId}.svg`)
    const pngBytes = yield* render(png, () => QRCode.toBuffer(payload, { type: "png", errorCorrectionLevel: "M", margin: 2, scale: 6 }))
    const svgText = yield* render(svg, () => QRCode.toString(payload, { type: "svg", errorCorrectionLevel: "M", margin: 2 }))
    yield* writeFileAtomic(png, new Uint8Array(pngBytes))
    yield* writeFileAtomic(svg, svgText)
    const label: QrLabel = { png, svg }
    return label
  })

/** The label as block characters for `--qr` on a terminal. */
export const terminalQr = (credentials: DeviceCredentials) =>
  render("(terminal)", () => QRCode.toString(qrPayload(credentials), { type: "terminal", small: true, errorCorrectionLevel: "M" }))
