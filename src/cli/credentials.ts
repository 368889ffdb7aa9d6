/**
 * `provision credentials rotate [--mac MAC…]` and `provision credentials show MAC`:
 * per-device admin passwords (data/device-secrets.yaml). The rotation's run is
 * src/app/credentials.ts (it holds the project lock: no Stage run writes
 * meanwhile). Exit codes: 0 ok, 1 a device failed, 2 bad input, 3 lock held,
 * 4 file error.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Either, Layer, Option, Redacted } from "effect"
import { rotateCredentials } from "../app/credentials.js"
import { TerminalRunOutput } from "../report/runOutputLive.js"
import { DeviceCredentials } from "../credentials/DeviceCredentials.js"
import type { RotationStep } from "../credentials/rotate.js"
import { ShellyRpcWithCredentialsLive } from "../credentials/rpc.js"
import { CredentialUnknown } from "../domain/errors/credentials.js"
import { InventoryInputInvalid } from "../domain/errors/web.js"
import { parseMac } from "../domain/mac.js"
import { InventoryLive, ProjectLockLive } from "../inventory/index.js"
import { reportErrors, reportRun } from "./operatorErrors.js"

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
    reportRun(
      rotateCredentials({ config: Option.getOrUndefined(f.config), secrets: Option.getOrUndefined(f.secrets), macs: f.macs }, crashAt)
    ).pipe(Effect.provide([credentialsLayer, TerminalRunOutput]))
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
