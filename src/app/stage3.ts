/**
 * Stage 3 as a whole run (flags → config → Stage 3 over the inventory → lines,
 * summary, one safe write of ip_state.json), called by `provision stage3`, the
 * web UI's run button and the demo. Exit codes: 0 all devices ok, 1 a device
 * hard-failed, 2 bad flags/config, 3 lock held, 4 state file error.
 */
import { Duration, Effect, Either, Layer, Option } from "effect"
import { loadSecrets } from "../config/index.js"
import { parseIpv4 } from "../domain/ipv4.js"
import { Inventory } from "../inventory/Inventory.js"
import { InventoryLive, ProjectLockLive } from "../inventory/index.js"
import { makeStage3Reporter } from "../report/stage3Reporter.js"
import { ShellyRpcWithCredentialsLive } from "../credentials/rpc.js"
import { applyStage3Results, runStage3, runTimestamp, selectByIp, type Stage3Settings, summarize } from "../stages/stage3.js"
import { openStage3Log } from "../report/stage3Log.js"
import { keepHeapWithin } from "../runtime/heapBudget.js"
import { RunOutput } from "../runtime/RunOutput.js"
import { runRollout } from "./rollout.js"
import { firmwareSettings } from "./stage3Firmware.js"
import { openDevicePins } from "../stages/devicePins.js"
import type { Stage3DeviceOutcome } from "../stages/stage3.js"
import { retryFailedOnly, rolloutFlagProblem, rolloutPlanOf } from "./stage3Rollout.js"
import { ExitCodes } from "./exit.js"
import { inventoryAt, runStage } from "./stageRun.js"

export interface Stage3Flags {
  readonly dryRun: boolean
  readonly ips: ReadonlyArray<string>
  readonly online: boolean
  readonly quiet: boolean
  readonly json: boolean
  readonly concurrency: Option.Option<number>
  readonly config: Option.Option<string>
  readonly waitUpdate: boolean
  /** Firmware control and rollouts (src/app/rollout.ts, src/stages/stage3/ota.ts). */
  readonly channel?: "stable" | "beta" | undefined
  readonly allowDowngrade?: boolean | undefined
  readonly rollout?: string | undefined
  readonly haltAfter?: number | undefined
  readonly rolloutGroup?: string | undefined
  readonly resume?: boolean | undefined
  readonly retryFailed?: boolean | undefined
}

export const defaultStage3Flags: Stage3Flags = {
  dryRun: false,
  ips: [],
  online: false,
  quiet: false,
  json: false,
  concurrency: Option.none(),
  config: Option.none(),
  waitUpdate: false
}

/** `--ip a b,c` → ["a","b","c"]; every entry must be an IPv4 address. */
export const parseIpFlags = (values: ReadonlyArray<string>): Either.Either<ReadonlyArray<string>, string> => {
  const ips = values
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "")
  // `--ip ""` (an unset shell variable) must not mean "every device".
  if (values.length > 0 && ips.length === 0) {
    return Either.left(`--ip: no address given (an empty --ip would select the whole fleet; leave --ip out for that)`)
  }
  const bad = ips.map(parseIpv4).find(Either.isLeft)
  return bad === undefined ? Either.right(ips) : Either.left(`--ip: ${bad.left}`)
}

/**
 * The whole run; returns the exit code (0 or 1). Operator errors (config,
 * lock, state file) fail the effect and are mapped to exit codes by main.ts.
 * Lines go to the RunOutput the caller provides (terminal, JSON, demo, web).
 */
export const stage3Program = (flags: Stage3Flags) =>
  Effect.gen(function* () {
    const output = yield* RunOutput
    const ips = parseIpFlags(flags.ips)
    if (Either.isLeft(ips)) {
      yield* output.diagnostic(`error: ${ips.left}`)
      return ExitCodes.invalidInput
    }
    if (Option.isSome(flags.concurrency) && flags.concurrency.value < 1) {
      yield* output.diagnostic(`error: --concurrency must be 1 or more (got ${flags.concurrency.value})`)
      return ExitCodes.invalidInput
    }
    const badRollout = rolloutFlagProblem(flags, ips.right.length > 0)
    if (badRollout !== undefined) {
      yield* output.diagnostic(`error: ${badRollout}`)
      return ExitCodes.invalidInput
    }
    return yield* runStage({
      title: "Stage 3",
      key: "stage3",
      configFile: Option.getOrUndefined(flags.config),
      dryRun: flags.dryRun,
      json: flags.json,
      section: (app) => app.stage3,
      prepare: (loaded, config) =>
        Effect.gen(function* () {
          const secrets = yield* loadSecrets()
          for (const warning of secrets.warnings) yield* output.diagnostic(`warning: ${warning}`)
          // HTTPS and its pins are one setting for all stages: stage1.https (README "HTTPS").
          const https = loaded.value.stage1.https
          const pins = https.enabled ? yield* openDevicePins(https.pin_file, { write: !flags.dryRun }) : undefined
          return { loaded, config, secrets, pins }
        }),
      load: ({ config }) => inventoryAt(config.ip_state_file),
      start: ({ loaded, config, secrets, pins }, document) =>
        Effect.gen(function* () {
          const picked = ips.right.length === 0 ? { selected: document.devices, unknown: [] } : selectByIp(document.devices, ips.right)
          const chosen = flags.retryFailed === true ? retryFailedOnly(picked, output.unsafe.diagnostic) : picked
          for (const ip of chosen.unknown) yield* output.diagnostic(`warning: no device with ip ${ip} in ${config.ip_state_file}`)
          if (document.devices.length === 0) yield* output.diagnostic(`warning: no devices in ${config.ip_state_file}`)

          const rollout = rolloutPlanOf(flags, config)
          // In a rollout a wave ends only when each device is verified or failed, so updates are always read back.
          const waitUpdate = flags.waitUpdate || config.update_wait.enabled || rollout !== undefined
          const settings: Stage3Settings = {
            devicePort: config.device_port,
            password: secrets.value.device?.admin_password,
            https: pins,
            dryRun: flags.dryRun,
            concurrency: Option.getOrElse(flags.concurrency, () => config.concurrency),
            probeTimeout: Duration.millis(config.probe_timeout_ms),
            identityTimeout: Duration.millis(config.fallback_timeout_ms),
            friendlyTimeout: Duration.seconds(Math.min(config.ota.timeout, 5)),
            ota: { enabled: config.ota.enabled, mode: config.ota.mode, timeout: Duration.seconds(config.ota.timeout) },
            friendly: {
              enabled: config.friendly.enabled,
              fieldName: config.friendly.field_name,
              backfill: config.friendly.backfill
            },
            waitUpdate: waitUpdate
              ? { timeout: Duration.seconds(config.update_wait.timeout), interval: Duration.seconds(config.update_wait.interval) }
              : undefined,
            ...(yield* firmwareSettings(config, flags))
          }
          const log = yield* openStage3Log(config.logging.base_path, loaded.value.logging)
          const startedAt = yield* runTimestamp
          yield* log.line(
            `stage3 start ${startedAt} devices=${chosen.selected.length} dry_run=${flags.dryRun} mode=${config.ota.mode}` +
              ` concurrency=${settings.concurrency} file=${config.ip_state_file}`
          )
          const reporter = makeStage3Reporter(
            {
              json: flags.json,
              quiet: flags.quiet,
              online: flags.online,
              dryRun: flags.dryRun,
              color: output.color,
              total: chosen.selected.length
            },
            output.unsafe.result,
            output.progress
          )
          const heap = yield* keepHeapWithin({ budgetMb: config.heap_budget_mb })
          return { config, document, chosen, rollout, settings, log, startedAt, reporter, heap }
        }),
      run: ({ config, document, chosen, rollout, settings, log, startedAt, reporter }) => {
        const onResult = (result: Stage3DeviceOutcome) =>
          Effect.zipRight(
            Effect.sync(() => reporter.device(result)),
            log.device(result)
          ).pipe(Effect.zipRight(certificateProblem(result)))
        // A refused certificate's fix (its hint) on stderr too, not only in the log: the line says only "certificate changed".
        const certificateProblem = (result: Stage3DeviceOutcome) =>
          Effect.forEach(
            settings.https === undefined
              ? []
              : result.details.filter((d) => d.includes("[certificate_changed]") || d.includes("[cert_pins_invalid]")),
            (detail) => output.diagnostic(`error: ${result.ip}: ${detail}`),
            { discard: true }
          )
        return rollout === undefined
          ? runStage3(chosen.selected, settings, onResult)
          : runRollout({
              devices: rollout === "resume" ? document.devices : chosen.selected,
              settings,
              plan: rollout,
              onResult,
              stateFile: config.rollout.state_file,
              ipStateFile: config.ip_state_file,
              startedAt,
              target: config.ota.target,
              channel: settings.channel ?? "stable",
              out: output.unsafe.result,
              err: output.unsafe.diagnostic,
              json: flags.json
            }).pipe(Effect.map((done) => done.results))
      },
      write: ({ config, rollout, log, startedAt }, results) =>
        Effect.gen(function* () {
          // A rollout writes ip_state.json after each wave itself.
          if (rollout !== undefined) return
          const inventory = yield* Inventory
          yield* inventory
            .update(config.ip_state_file, (current) => applyStage3Results(current, results, startedAt))
            .pipe(Effect.tapError((e) => log.line(`state write failed: ${e.message}`)))
          yield* log.line(`state written to ${config.ip_state_file}`)
        }),
      summary: ({ reporter, heap, log }, results) =>
        Effect.gen(function* () {
          const summary = summarize(results)
          reporter.summary(summary)
          const { collections } = heap()
          yield* log.line(
            `stage3 end total=${summary.total} ok=${summary.ok} failed=${summary.failed}` +
              (collections > 0 ? ` heap_collections=${collections}` : "")
          )
        }),
      failed: (r: Stage3DeviceOutcome) => r.failed,
      // Ctrl+C ends a Stage 3 run without a write (a rollout has written its finished waves).
      finishOnInterrupt: false
    })
  })

/** The Live services Stage 3 runs on (FileSystem/Path come from main's NodeContext). */
export const stage3Layer = Layer.mergeAll(ShellyRpcWithCredentialsLive, InventoryLive, ProjectLockLive)
