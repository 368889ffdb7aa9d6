/** What Stage 3 needs per run (filled in by app/stage3.ts from config.yaml and flags). */
import type { Duration, Redacted } from "effect"
import type { DevicePins } from "../devicePins.js"
import type { OtaChannel, PinnedSettings } from "./ota.js"

export interface Stage3Settings {
  /** HTTP port of every device (80 on real devices; the simulator's port in tests). */
  readonly devicePort: number
  readonly password?: Redacted.Redacted<string> | undefined
  readonly dryRun: boolean
  /** Devices processed at once (each device sees at most two requests at a time). */
  readonly concurrency: number
  /** TCP connect probe, in place of ICMP ping (runbook: 0.25 s). */
  readonly probeTimeout: Duration.DurationInput
  /** Shelly.GetDeviceInfo, the identity call (runbook: 1 s HTTP fallback). */
  readonly identityTimeout: Duration.DurationInput
  /** Sys.GetConfig / Sys.SetConfig. */
  readonly friendlyTimeout: Duration.DurationInput
  readonly ota: {
    readonly enabled: boolean
    readonly mode: "check_only" | "check_and_update"
    /** Shelly.CheckForUpdate / Shelly.Update (config `ota.timeout`). */
    readonly timeout: Duration.DurationInput
  }
  readonly friendly: {
    readonly enabled: boolean
    readonly fieldName: string
    /** true: the device's name wins, write only when it has none; false: the inventory wins. */
    readonly backfill: boolean
  }
  /** Vendor channel for Shelly.Update {stage} (stage3.ota.channel / --channel); default stable. */
  readonly channel?: OtaChannel | undefined
  /** Pinned versions from the firmware cache (stage3.ota.target); src/stages/stage3/ota.ts. */
  readonly pinned?: PinnedSettings | undefined
  /** `--wait-update`: poll Shelly.GetDeviceInfo until the new version shows (→ `updated`). */
  /** HTTPS with the per-MAC certificate pins of `stage1.https` (src/stages/devicePins.ts); absent: plain HTTP. */
  readonly https?: DevicePins | undefined
  readonly waitUpdate?: { readonly timeout: Duration.DurationInput; readonly interval: Duration.DurationInput } | undefined
}
