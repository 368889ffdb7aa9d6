/**
 * The whole run of `provision credentials rotate` (the command:
 * src/cli/credentials.ts): the devices picked (every inventory device with an
 * address, or `--mac` ones), the project lock held for the run (no Stage run
 * writes meanwhile), each device rotated (src/credentials/rotate.ts; over TLS
 * with its pin when stage1.https is on), one line per device and a summary.
 * Returns the exit code: 0 ok, 1 a device failed; operator errors (config,
 * secrets, inventory, lock, pin file) fail the effect.
 */
import { Duration, Effect, Either, Option } from "effect"
import { loadSecrets } from "../config/index.js"
import { rotateDevice, type RotationOptions } from "../credentials/rotate.js"
import { inventoryTarget, type InventoryTarget } from "../credentials/targets.js"
import { describeError } from "../domain/errors/base.js"
import { DeviceNotFound, InventoryInputInvalid } from "../domain/errors/web.js"
import { parseMac } from "../domain/mac.js"
import { findByMac } from "../inventory/edit.js"
import { Inventory, ProjectLock } from "../inventory/Inventory.js"
import { makeShellyRpc } from "../shelly/ShellyRpcLive.js"
import { RunOutput } from "../runtime/RunOutput.js"
import { devicePinsOf } from "../stages/devicePins.js"
import { ExitCodes } from "./exit.js"
import { loadInventorySettings } from "./inventory/operations.js"

export interface RotateFlags {
  readonly config: string | undefined
  readonly secrets: string | undefined
  /** Only these devices (any MAC spelling); none: every inventory device with an address. */
  readonly macs: ReadonlyArray<string>
}

export const rotateCredentials = (flags: RotateFlags, checkpoint?: RotationOptions["checkpoint"]) =>
  Effect.gen(function* () {
    const output = yield* RunOutput
    const settings = yield* loadInventorySettings(flags.config)
    const secrets = yield* loadSecrets(flags.secrets)
    const doc = yield* Effect.flatMap(Inventory, (inventory) => inventory.load(settings.stateFile))
    let targets: ReadonlyArray<InventoryTarget>
    if (flags.macs.length === 0) {
      targets = doc.devices.flatMap((d) => Option.toArray(inventoryTarget(d, settings.devicePort)))
    } else {
      const picked: Array<InventoryTarget> = []
      for (const text of flags.macs) {
        const mac = parseMac(text)
        if (Either.isLeft(mac)) return yield* new InventoryInputInvalid({ what: `--mac ${text}`, problems: [mac.left] })
        const device = findByMac(doc, mac.right)
        if (Option.isNone(device)) return yield* new DeviceNotFound({ query: text, file: doc.path })
        const target = inventoryTarget(device.value, settings.devicePort)
        if (Option.isNone(target))
          return yield* new InventoryInputInvalid({ what: `--mac ${text}`, problems: ["the device has no ip in the inventory"] })
        picked.push(target.value)
      }
      targets = picked
    }
    yield* Effect.flatMap(ProjectLock, (lock) => lock.acquire("credentials rotate"))
    const raw = makeShellyRpc()
    const pins = yield* devicePinsOf(settings.httpsPinFile, true)
    const outcomes = yield* Effect.forEach(
      targets,
      (target) =>
        rotateDevice(
          raw,
          { ...target, certificate: pins?.forAddress(target.mac) },
          {
            fleetPassword: secrets.value.device?.admin_password,
            timeout: Duration.seconds(5),
            checkpoint
          }
        ).pipe(
          Effect.as(`● ${target.mac} @ ${target.host} - password rotated`),
          Effect.catchAll((error) => Effect.succeed(`● ${target.mac} @ ${target.host} - FAILED: ${describeError(error)}`)),
          Effect.tap(output.result)
        ),
      { concurrency: 8 }
    )
    const failed = outcomes.filter((line) => line.includes(" - FAILED: ")).length
    yield* output.result(`Credentials summary: total=${outcomes.length} rotated=${outcomes.length - failed} failed=${failed}`)
    return failed > 0 ? ExitCodes.devicesFailed : ExitCodes.ok
  }).pipe(Effect.scoped)
