/**
 * The whole run of `provision credentials rotate` (the command:
 * src/cli/credentials.ts): the devices picked (every inventory device with an
 * address, or `--mac` ones), the project lock held for the run (no Stage run
 * writes meanwhile), each device rotated (src/credentials/rotate.ts; over TLS
 * with its pin when stage1.https is on), one line per device and a summary.
 * Returns the exit code: 0 ok, 1 a device failed; operator errors (config,
 * secrets, inventory, lock, pin file) fail the effect.
 */
import { Duration, Effect } from "effect"
import { loadSecrets } from "../config/index.js"
import { rotateDevice, type RotationOptions } from "../credentials/rotate.js"
import { allInventoryTargets, inventoryTargetsByMac } from "../credentials/targets.js"
import { describeError } from "../domain/errors/base.js"
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
    const targets =
      flags.macs.length === 0
        ? allInventoryTargets(doc, settings.devicePort)
        : yield* inventoryTargetsByMac(doc, flags.macs, settings.devicePort)
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
