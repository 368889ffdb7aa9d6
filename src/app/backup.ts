/**
 * The whole runs of `provision backup` and `provision restore` (the commands:
 * src/cli/backup.ts). Backups: var/backups/<MAC>/<timestamp>.json
 * (src/backup/). A restore checks the MAC at the address before any write,
 * prints the differences, applies them (src/backup/apply.ts) and reads the
 * device back to verify. Both return the exit code: 0 ok, 1 a device failed
 * (or differs after the restore); operator errors fail the effect.
 */
import { Duration, Effect, Either, Layer, Option } from "effect"
import { applyPlan } from "../backup/apply.js"
import { latestBackup, readBackup, writeBackup } from "../backup/files.js"
import { describePlan, planRestore } from "../backup/plan.js"
import { readDevice } from "../backup/read.js"
import { ShellyRpcWithCredentialsLive } from "../credentials/rpc.js"
import { allInventoryTargets, inventoryTarget, inventoryTargetsByMac } from "../credentials/targets.js"
import { describeError } from "../domain/errors/base.js"
import { BackupInvalid, DeviceNotInInventory, RestoreTargetMismatch } from "../domain/errors/credentials.js"
import { InventoryInputInvalid } from "../domain/errors/web.js"
import { parseIpv4 } from "../domain/ipv4.js"
import { type Mac, parseMac } from "../domain/mac.js"
import { Inventory, ProjectLock } from "../inventory/Inventory.js"
import { InventoryLive, ProjectLockLive } from "../inventory/index.js"
import { findByMac } from "../inventory/edit.js"
import * as Methods from "../shelly/methods.js"
import type { DeviceTarget } from "../shelly/ShellyRpc.js"
import { RunOutput } from "../runtime/RunOutput.js"
import { devicePinsOf } from "../stages/devicePins.js"
import { ExitCodes } from "./exit.js"
import { loadInventorySettings } from "./inventory/operations.js"

export const backupLayer = Layer.mergeAll(ShellyRpcWithCredentialsLive, InventoryLive, ProjectLockLive)

const RPC_TIMEOUT = Duration.seconds(5)

const macOrFail = (text: string, what: string) =>
  Either.match(parseMac(text), {
    onLeft: (reason) => Effect.fail(new InventoryInputInvalid({ what, problems: [reason] })),
    onRight: (mac) => Effect.succeed(mac)
  })

export interface BackupFlags {
  readonly config: Option.Option<string>
  readonly ips: ReadonlyArray<string>
  readonly macs: ReadonlyArray<string>
}

export const backupProgram = (flags: BackupFlags) =>
  Effect.gen(function* () {
    const output = yield* RunOutput
    const settings = yield* loadInventorySettings(Option.getOrUndefined(flags.config))
    const doc = yield* Effect.flatMap(Inventory, (inventory) => inventory.load(settings.stateFile))
    /** Where to read, and the MAC the inventory gives the device there (none for `--ip`). */
    const targets: Array<{ readonly target: DeviceTarget; readonly expected?: Mac }> = []
    for (const ip of flags.ips) {
      if (Either.isLeft(parseIpv4(ip))) return yield* new InventoryInputInvalid({ what: `--ip ${ip}`, problems: ["not an IPv4 address"] })
      targets.push({ target: { host: ip, port: settings.devicePort } })
    }
    const inventoryTargets =
      flags.ips.length === 0 && flags.macs.length === 0
        ? allInventoryTargets(doc, settings.devicePort)
        : yield* inventoryTargetsByMac(doc, flags.macs, settings.devicePort)
    for (const t of inventoryTargets) targets.push({ target: { host: t.host, port: t.port }, expected: t.mac })
    const pins = yield* devicePinsOf(settings.httpsPinFile, true)
    const lines = yield* Effect.forEach(
      targets,
      ({ target: plain, expected }) => {
        const certificate = pins?.forAddress(expected)
        const target: DeviceTarget = certificate === undefined ? plain : { ...plain, tls: certificate.tls }
        return readDevice(target, { timeout: RPC_TIMEOUT }).pipe(
          Effect.flatMap((backup) =>
            Effect.flatMap(macOrFail(backup.mac, `the MAC reported by ${target.host}`), (mac) =>
              // Over HTTPS the file is written only once the certificate is the device's (its pin, or pinned now).
              (certificate === undefined ? Effect.void : certificate.confirm(mac, target.host)).pipe(
                Effect.zipRight(writeBackup(backup, mac)),
                Effect.map(
                  (file) =>
                    `● ${mac} @ ${target.host} - backup ${file} (${backup.scripts.length} scripts, ${backup.webhooks.length} webhooks, ${backup.schedules.length} schedules)`
                )
              )
            )
          ),
          Effect.catchAll((error) => Effect.succeed(`● ${target.host} - FAILED: ${describeError(error)}`)),
          Effect.tap(output.result)
        )
      },
      { concurrency: 8 }
    )
    const failed = lines.filter((l) => l.includes(" - FAILED: ")).length
    yield* output.result(`Backup summary: total=${lines.length} ok=${lines.length - failed} failed=${failed}`)
    return failed > 0 ? ExitCodes.devicesFailed : ExitCodes.ok
  })

export interface RestoreFlags {
  readonly config: Option.Option<string>
  readonly mac: string
  readonly file: Option.Option<string>
  readonly toMac: Option.Option<string>
  readonly ip: Option.Option<string>
  readonly dryRun: boolean
}

export const restoreProgram = (flags: RestoreFlags) =>
  Effect.gen(function* () {
    const output = yield* RunOutput
    const settings = yield* loadInventorySettings(Option.getOrUndefined(flags.config))
    const mac = yield* macOrFail(flags.mac, flags.mac)
    const destination: Mac = Option.isSome(flags.toMac) ? yield* macOrFail(flags.toMac.value, `--to-mac ${flags.toMac.value}`) : mac
    const file = Option.isSome(flags.file) ? flags.file.value : yield* latestBackup(mac)
    const backup = yield* readBackup(file)
    if (Either.getOrUndefined(parseMac(backup.mac)) !== mac) {
      return yield* new BackupInvalid({ file, reason: `it is a backup of ${backup.mac}, not of ${mac}` })
    }
    let target: DeviceTarget
    if (Option.isSome(flags.ip)) {
      if (Either.isLeft(parseIpv4(flags.ip.value)))
        return yield* new InventoryInputInvalid({ what: `--ip ${flags.ip.value}`, problems: ["not an IPv4 address"] })
      target = { host: flags.ip.value, port: settings.devicePort }
    } else {
      const doc = yield* Effect.flatMap(Inventory, (inventory) => inventory.load(settings.stateFile))
      const found = Option.flatMap(findByMac(doc, destination), (d) => inventoryTarget(d, settings.devicePort))
      if (Option.isNone(found)) return yield* new DeviceNotInInventory({ mac: destination })
      target = { host: found.value.host, port: found.value.port }
    }
    // Over HTTPS: held to the destination's pin from the first connection (none yet: any certificate, pinned below).
    const certificate = (yield* devicePinsOf(settings.httpsPinFile, !flags.dryRun))?.forAddress(destination)
    if (certificate !== undefined) target = { ...target, tls: certificate.tls }
    // The MAC check comes before anything else is sent: a moved or swapped device is never written to.
    const info = yield* Methods.getDeviceInfo(target, { timeout: RPC_TIMEOUT })
    const reported = Either.getOrUndefined(parseMac(info.mac))
    if (reported !== destination) return yield* new RestoreTargetMismatch({ expected: destination, found: info.mac, ip: target.host })
    if (certificate !== undefined) target = { ...target, tls: yield* certificate.confirm(destination, target.host) }

    if (!flags.dryRun) yield* Effect.flatMap(ProjectLock, (lock) => lock.acquire("restore"))
    const current = yield* readDevice(target, { timeout: RPC_TIMEOUT })
    const plan = planRestore(backup, current)
    yield* output.result(`Restore ${mac} from ${file} (taken ${backup.taken_at}) onto ${destination} @ ${target.host}`)
    for (const line of describePlan(plan)) yield* output.result(line)
    for (const line of plan.skipped) yield* output.result(`  = ${line}`)
    yield* output.result(`${plan.changes.length === 0 ? "no" : describePlan(plan).length} difference(s)`)
    if (flags.dryRun) {
      yield* output.result("dry run: nothing written")
      return ExitCodes.ok
    }
    if (plan.changes.length === 0) return ExitCodes.ok
    yield* applyPlan(target, plan, { timeout: RPC_TIMEOUT }, output.result)
    const after = planRestore(backup, yield* readDevice(target, { timeout: RPC_TIMEOUT }))
    if (after.changes.length > 0) {
      yield* output.result("[restore: the device still differs from the backup:]")
      for (const line of describePlan(after)) yield* output.result(line)
      return ExitCodes.devicesFailed
    }
    yield* output.result("[restore: verified — the device matches the backup]")
    return ExitCodes.ok
  }).pipe(Effect.scoped)
