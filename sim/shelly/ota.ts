/**
 * OTA from a URL and its failure modes, for the simulated devices.
 *
 * Shelly.Update takes `{stage: "stable"|"beta"}` or `{url}` — one or the other
 * (Shelly Gen2+ API docs, Shelly component: "Shelly.Update … url: URL address
 * of the update package"; go-shelly `ShellyUpdateRequest`; shared/reference/
 * shelly-rpc.md §3 "Firmware update methods"). The call answers at once (null)
 * and the device downloads, checks and flashes in the background, then reboots
 * into the new version; a failed download or a package for another model leaves
 * it on its old firmware (docs: Shelly.Update is asynchronous; the outcome is
 * seen only in the version after the reboot). The channels' shape, `{"stable":
 * {version, build_id}, "beta": {…}}` with each key present only when that
 * channel has a newer build, is the docs' Shelly.CheckForUpdate (rpc.ts).
 *
 * Real update packages are zips with a Mongoose OS manifest and a signature;
 * the simulator's stand-in is a one-line JSON manifest (model, app, version,
 * payload sha256) followed by the payload, made by `makeFirmwareImage`. The
 * device checks that the manifest names its model and that the payload's
 * sha256 matches, as the real firmware refuses a package for another device
 * or a damaged one.
 *
 * Faults (rules.ts): `ota_no_return` — the device reboots to install and
 * never comes back; `ota_old_version` — it reboots but comes back on the old
 * version (a failed flash rolled back).
 */
import { createHash } from "node:crypto"
import { get } from "node:http"
import { Either } from "effect"
import { isLoopback, parseIpv4 } from "../../src/domain/ipv4.js"
import type { SimDevice } from "./device.js"

export interface FirmwareImageSpec {
  readonly app: string
  readonly model: string
  readonly version: string
  /** Payload bytes after the manifest line (default 4 KiB). */
  readonly size?: number
}

/** A simulator firmware package: `{"sim_fw":1,…}\n` + payload. Deterministic per spec. */
export const makeFirmwareImage = (spec: FirmwareImageSpec): Uint8Array => {
  const size = spec.size ?? 4096
  const payload = Buffer.alloc(size)
  const seed = createHash("sha256").update(`${spec.model}/${spec.version}`).digest()
  for (let i = 0; i < size; i++) payload[i] = seed[i % seed.length]! ^ (i & 0xff)
  const manifest = {
    sim_fw: 1,
    app: spec.app,
    model: spec.model,
    version: spec.version,
    size,
    sha256: createHash("sha256").update(payload).digest("hex")
  }
  return Buffer.concat([Buffer.from(`${JSON.stringify(manifest)}\n`), payload])
}

/** Checks a downloaded package for `device`; the version to install, or why not. */
export const checkFirmwareImage = (device: SimDevice, bytes: Buffer): Either.Either<string, string> => {
  const newline = bytes.indexOf(0x0a)
  if (newline < 0 || newline > 4096) return Either.left("not a firmware package (no manifest)")
  const manifest = Either.try(() => JSON.parse(bytes.subarray(0, newline).toString("utf8")) as Record<string, unknown>)
  if (Either.isLeft(manifest) || manifest.right.sim_fw !== 1) return Either.left("not a firmware package (bad manifest)")
  const m = manifest.right
  if (m.model !== device.model.model) return Either.left(`package is for ${String(m.model)}, this is ${device.model.model}`)
  const payload = bytes.subarray(newline + 1)
  if (payload.length !== m.size) return Either.left(`package truncated (${payload.length} of ${String(m.size)} bytes)`)
  if (createHash("sha256").update(payload).digest("hex") !== m.sha256) return Either.left("package damaged (sha256 mismatch)")
  return typeof m.version === "string" ? Either.right(m.version) : Either.left("package names no version")
}

const maxImageBytes = 16 * 1024 * 1024
const downloadTimeoutMs = 30_000

/**
 * Validates `url` as the device would before answering Shelly.Update: an
 * http URL; for the simulator also loopback only (tests never leave 127/8).
 */
export const checkUpdateUrl = (url: string): string | undefined => {
  const parsed = Either.try(() => new URL(url))
  if (Either.isLeft(parsed) || parsed.right.protocol !== "http:") return "Argument 'url' is invalid"
  const host = parseIpv4(parsed.right.hostname)
  if (Either.isLeft(host) || !isLoopback(host.right)) return "Argument 'url' is invalid (the simulator downloads from 127.0.0.0/8 only)"
  return undefined
}

/** GET `url` (bounded in size and time); the body or the failure. */
const download = (url: string): Promise<Either.Either<Buffer, string>> =>
  new Promise((resolve) => {
    // agent: false — each device is its own HTTP client with its own connection;
    // a process-wide keep-alive pool would reuse sockets the server is closing (ECONNRESET).
    const request = get(url, { timeout: downloadTimeoutMs, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume()
        return resolve(Either.left(`download failed: HTTP ${res.statusCode}`))
      }
      const chunks: Array<Buffer> = []
      let total = 0
      res.on("data", (chunk: Buffer) => {
        total += chunk.length
        if (total > maxImageBytes) {
          request.destroy()
          return resolve(Either.left("download failed: package too large"))
        }
        chunks.push(chunk)
      })
      res.on("end", () => resolve(Either.right(Buffer.concat(chunks))))
      res.on("error", (e) => resolve(Either.left(`download failed: ${e.message}`)))
    })
    request.on("timeout", () => request.destroy(new Error("timeout")))
    request.on("error", (e) => resolve(Either.left(`download failed: ${e.message}`)))
  })

/**
 * Downloads and checks the package, then hands the version to `install`
 * (the fleet's flash + reboot). A failure ends the update with the device
 * still on its old firmware and the reason in its `lastError`.
 */
export const updateFromUrl = (device: SimDevice, url: string, install: (version: string) => void): void => {
  device.updating = true
  void download(url).then((body) => {
    const checked = Either.flatMap(body, (bytes) => checkFirmwareImage(device, bytes))
    if (Either.isLeft(checked)) {
      device.updating = false
      device.lastError = `OTA from ${url}: ${checked.left}`
      return
    }
    install(checked.right)
  })
}

/** What the reboot after a flash brings, given the device's faults. */
export const otaLanding = (device: SimDevice): "new_version" | "old_version" | "no_return" =>
  device.has("ota_no_return") ? "no_return" : device.has("ota_old_version") ? "old_version" : "new_version"
