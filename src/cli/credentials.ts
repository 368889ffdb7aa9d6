/**
 * `provision credentials rotate [--mac MAC…]` and `provision credentials show MAC`:
 * per-device admin passwords (data/device-secrets.yaml). Rotation holds the
 * project lock (no Stage run writes meanwhile). Exit codes: 0 ok, 1 a device
 * failed, 2 bad input, 3 lock held, 4 file error.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Duration, Effect, Either, Layer, Option, Redacted } from "effect"
import { loadSecrets } from "../config/index.js"
import { DeviceCredentials } from "../credentials/DeviceCredentials.js"
import { rotateDevice, type RotationStep } from "../credentials/rotate.js"
import { ShellyRpcWithCredentialsLive } from "../credentials/rpc.js"
import { inventoryTarget, type InventoryTarget } from "../credentials/targets.js"
import { describeError } from "../domain/errors/base.js"
import { CredentialUnknown } from "../domain/errors/credentials.js"
import { DeviceNotFound, InventoryInputInvalid } from "../domain/errors/web.js"
import { parseMac } from "../domain/mac.js"
import { Inventory, ProjectLock } from "../inventory/Inventory.js"
import { InventoryLive, ProjectLockLive } from "../inventory/index.js"
import { loadInventorySettings } from "../app/inventory/operations.js"
import { findByMac } from "../inventory/edit.js"
import { makeShellyRpc } from "../shelly/ShellyRpcLive.js"
import { openDevicePins } from "../stages/devicePins.js"
import { ExitCodes, ExitWith } from "./exit.js"
import { reportErrors } from "./operatorErrors.js"

export const credentialsLayer = Layer.mergeAll(ShellyRpcWithCredentialsLive, InventoryLive, ProjectLockLive)

/**
 * Crash injection for the SIGKILL tests (test/credentials/rotate.process.test.ts):
 * `PROVISION_CRASH_AT=<step>` kills this process with SIGKILL right after that
 * step — no clean-up, no flush, as a power cut or OOM kill would.
 */
const crashAt = (step: RotationStep) =>
  Effect.sync(() => {
    if (process.env["PROVISION_CRASH_AT"] === step) process.kill(process.pid, "SIGKILL")
  })

const configOption = Options.text("config").pipe(
  Options.optional,
  Options.withDescription(
    "Config file (default data/config.yaml); ip_state_file and device_port come from stage3, HTTPS and its pins from stage1.https."
  )
)

const rotate = Command.make(
  "rotate",
  {
    config: configOption,
    secrets: Options.file("secrets").pipe(
      Options.withAlias("f"),
      Options.optional,
      Options.withDescription("secrets.yaml (fleet password; default data/secrets.yaml).")
    ),
    macs: Options.text("mac").pipe(
      Options.repeated,
      Options.withDescription("Only this device (repeatable); default: every device in the inventory with an address.")
    )
  },
  (f) =>
    reportErrors(
      Effect.gen(function* () {
        const settings = yield* loadInventorySettings(Option.getOrUndefined(f.config))
        const secrets = yield* loadSecrets(Option.getOrUndefined(f.secrets))
        const doc = yield* Effect.flatMap(Inventory, (inventory) => inventory.load(settings.stateFile))
        let targets: ReadonlyArray<InventoryTarget>
        if (f.macs.length === 0) {
          targets = doc.devices.flatMap((d) => Option.toArray(inventoryTarget(d, settings.devicePort)))
        } else {
          const picked: Array<InventoryTarget> = []
          for (const text of f.macs) {
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
        yield* Effect.scoped(
          Effect.flatMap(ProjectLock, (lock) => lock.acquire("credentials rotate")).pipe(
            Effect.zipRight(
              Effect.gen(function* () {
                const raw = makeShellyRpc()
                // HTTPS is one setting for every command that talks to devices: stage1.https (README "HTTPS").
                const pins = settings.httpsPinFile === undefined ? undefined : yield* openDevicePins(settings.httpsPinFile)
                const outcomes = yield* Effect.forEach(
                  targets,
                  (target) =>
                    rotateDevice(
                      raw,
                      { ...target, certificate: pins?.forAddress(target.mac) },
                      {
                        fleetPassword: secrets.value.device?.admin_password,
                        timeout: Duration.seconds(5),
                        checkpoint: crashAt
                      }
                    ).pipe(
                      Effect.as(`● ${target.mac} @ ${target.host} - password rotated`),
                      Effect.catchAll((error) => Effect.succeed(`● ${target.mac} @ ${target.host} - FAILED: ${describeError(error)}`)),
                      Effect.tap(Console.log)
                    ),
                  { concurrency: 8 }
                )
                const failed = outcomes.filter((line) => line.includes(" - FAILED: ")).length
                yield* Console.log(`Credentials summary: total=${outcomes.length} rotated=${outcomes.length - failed} failed=${failed}`)
                if (failed > 0) return yield* new ExitWith({ exitCode: ExitCodes.devicesFailed })
              })
            )
          )
        )
      })
    ).pipe(Effect.provide(credentialsLayer))
).pipe(Command.withDescription("Give devices a new random admin password: set, verify, then store it (data/device-secrets.yaml)."))

const show = Command.make(
  "show",
  { mac: Args.text({ name: "MAC" }).pipe(Args.withDescription("The device's MAC in any spelling.")) },
  (f) =>
    reportErrors(
      Effect.gen(function* () {
        const mac = parseMac(f.mac)
        if (Either.isLeft(mac)) return yield* new InventoryInputInvalid({ what: f.mac, problems: [mac.left] })
        const credentials = yield* DeviceCredentials
        const entry = Option.getOrUndefined(yield* credentials.get(mac.right))
        if (entry?.password === undefined && entry?.pending === undefined) {
          return yield* new CredentialUnknown({ mac: mac.right, file: credentials.file })
        }
        yield* Console.error(
          `warning: this is the admin password of ${mac.right}; whoever sees it controls the device. Clear the screen after use.`
        )
        if (entry.password !== undefined) yield* Console.log(Redacted.value(entry.password))
        if (entry.pending !== undefined) {
          yield* Console.error(
            "warning: a password change of this device did not finish; the device has one of these two (the next `provision credentials rotate` settles it)"
          )
          yield* Console.log(`pending: ${Redacted.value(entry.pending)}`)
        }
      })
    ).pipe(Effect.provide(credentialsLayer))
).pipe(Command.withDescription("Print a device's stored admin password (with a warning)."))

export const credentialsCommand = Command.make("credentials").pipe(
  Command.withDescription("Per-device admin passwords (stage1.auth: per_device): rotate, show."),
  Command.withSubcommands([rotate, show])
)
