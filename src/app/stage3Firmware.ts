/**
 * Stage 3's firmware choice from config and flags: the channel, and the
 * pinned versions with the firmware cache they are installed from.
 */
import { Duration, Effect } from "effect"
import type { Stage3Config } from "../config/stage3.js"
import { loadFirmwareIndex } from "../firmware/cache.js"
import type { OtaChannel, PinnedSettings } from "../stages/stage3/ota.js"

export interface FirmwareFlags {
  readonly channel?: OtaChannel | undefined
  readonly allowDowngrade?: boolean | undefined
}

export const firmwareSettings = (config: Stage3Config, flags: FirmwareFlags) =>
  Effect.gen(function* () {
    const channel: OtaChannel = flags.channel ?? config.ota.channel
    const targets = config.ota.target
    if (Object.keys(targets).length === 0) return { channel, pinned: undefined as PinnedSettings | undefined }
    const firmware = yield* loadFirmwareIndex(config.ota.firmware_dir)
    const pinned: PinnedSettings = {
      targets,
      firmware,
      baseUrl: config.ota.firmware_url,
      allowDowngrade: flags.allowDowngrade === true || config.ota.allow_downgrade,
      wait: { timeout: Duration.seconds(config.update_wait.timeout), interval: Duration.seconds(config.update_wait.interval) }
    }
    return { channel, pinned }
  })
