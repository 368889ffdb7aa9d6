/**
 * `provision stage2`: adopted devices → planned/next free static address +
 * name, one line per device, `Stage 2 summary: …`, one safe write of
 * ip_state.json. Exit codes as Stage 3 (0 ok, 1 a device failed, 2 config,
 * 3 lock held, 4 state file).
 */
import { Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Duration, Effect, Either, Layer, Option, Ref } from "effect"
import { loadAppConfig, loadSecrets } from "../config/index.js"
import { requireStage2Network } from "../config/stage2.js"
import { RunOutput } from "../runtime/RunOutput.js"
import { runOutputFor } from "../report/runOutputLive.js"
import { describeError } from "../domain/errors/base.js"
import { ConfigInvalid } from "../domain/errors/config.js"
import { parseMac } from "../domain/mac.js"
import type { Mac } from "../domain/mac.js"
import { InventoryLive, ProjectLockLive } from "../inventory/index.js"
import { Inventory, ProjectLock } from "../inventory/Inventory.js"
import { MdnsLive } from "../shelly/mdnsLive.js"
import { ShellyRpcWithCredentialsLive } from "../credentials/rpc.js"
import { applyStage2Results, needsPlacement, runStage2, stage2Line, stage2Summary, stage2Timestamp } from "../stages/stage2.js"
import type { PlanEntry, Stage2DeviceResult, Stage2Settings } from "../stages/stage2.js"
import { parsePlan } from "../stages/stage2/plan.js"
import { ExitCodes, ExitWith } from "./exit.js"

export interface Stage2Flags {
  readonly dryRun: boolean
  readonly macs: ReadonlyArray<string>
  readonly json: boolean
  readonly config: Option.Option<string>
}

/** The whole run; lines go to the RunOutput the caller provides (device text escaped there, issue 13). */
export const stage2Program = (flags: Stage2Flags) =>
  Effect.gen(function* () {
    const output = yield* RunOutput
    const macs: Array<Mac> = []
    for (const text of flags.macs.flatMap((m) => m.split(",")).filter((m) => m.trim() !== "")) {
      const mac = parseMac(text)
      if (Either.isLeft(mac)) {
        yield* output.diagnostic(`error: --mac ${text}: ${mac.left}`)
        return ExitCodes.invalidInput
      }
      macs.push(mac.right)
    }
    const loaded = yield* loadAppConfig(Option.getOrUndefined(flags.config))
    for (const warning of loaded.warnings) yield* output.diagnostic(`warning: ${warning}`)
    const config = loaded.value.stage2
    if (!config.enabled) {
      yield* output.result(`Stage 2 is disabled (stage2.enabled: false in ${loaded.file}); nothing to do.`)
      return ExitCodes.ok
    }
    const network = requireStage2Network(config, loaded.file)
    if (Either.isLeft(network)) return yield* network.left
    const secrets = yield* loadSecrets()

    const fs = yield* FileSystem.FileSystem
    let plan: ReadonlyMap<Mac, PlanEntry> = new Map()
    if (yield* fs.exists(config.plan_file).pipe(Effect.orElseSucceed(() => false))) {
      const text = yield* fs
        .readFileString(config.plan_file)
        .pipe(Effect.mapError((e) => new ConfigInvalid({ file: config.plan_file, problems: [`cannot read: ${e.message}`] })))
      const parsed = parsePlan(config.plan_file, text)
      if (Either.isLeft(parsed)) return yield* new ConfigInvalid({ file: config.plan_file, problems: [...parsed.left] })
      plan = parsed.right
    }

    if (!flags.dryRun) yield* Effect.flatMap(ProjectLock, (lock) => lock.acquire("stage2"))
    const inventory = yield* Inventory
    const document = yield* inventory.load(config.ip_state_file)
    const chosen = document.devices.filter((d) => needsPlacement(d) && (macs.length === 0 || macs.includes(d.mac)))
    for (const mac of macs)
      if (!document.devices.some((d) => d.mac === mac)) yield* output.diagnostic(`warning: no device ${mac} in ${config.ip_state_file}`)

    const mdns = loaded.value.stage1.discovery.mdns
    const settings: Stage2Settings = {
      network: network.right,
      devicePort: config.device_port,
      password: secrets.value.device?.admin_password,
      dryRun: flags.dryRun,
      namingPattern: config.naming_pattern,
      plan,
      timeouts: { rpc: Duration.seconds(config.timeouts.rpc), verify: Duration.seconds(config.timeouts.verify) },
      pollInterval: Duration.millis(500),
      probeTimeout: Duration.millis(300),
      // The production network's mDNS is configured once, under stage1.discovery.
      mdns: mdns.enabled ? { group: mdns.group, port: mdns.port, iface: mdns.interface } : false
    }
    const finished = yield* Ref.make<ReadonlyArray<Stage2DeviceResult>>([])
    /** One write for the whole run, and the summary; also what Ctrl+C ends with. */
    const recordAndSummarise = Effect.gen(function* () {
      const results = yield* Ref.get(finished)
      if (!flags.dryRun && results.length > 0) {
        const at = yield* stage2Timestamp
        yield* inventory.update(config.ip_state_file, (current) => applyStage2Results(current, results, at))
      }
      const failed = results.filter((r) => r.status === "failed").length
      yield* output.result(
        flags.json
          ? JSON.stringify({ type: "summary", total: results.length, ok: results.length - failed, failed })
          : stage2Summary(results)
      )
      return failed > 0 ? ExitCodes.devicesFailed : ExitCodes.ok
    })
    yield* runStage2(chosen, document.devices, settings, (r) =>
      Ref.update(finished, (done) => [...done, r]).pipe(
        Effect.zipRight(output.result(flags.json ? JSON.stringify({ type: "device", ...r }) : stage2Line(r)))
      )
    ).pipe(
      Effect.onInterrupt(() => recordAndSummarise.pipe(Effect.catchAll((error) => output.diagnostic(`error: ${describeError(error)}`))))
    )
    return yield* recordAndSummarise
  }).pipe(Effect.scoped)

export const stage2Layer = Layer.mergeAll(ShellyRpcWithCredentialsLive, InventoryLive, ProjectLockLive, MdnsLive)

const flags = {
  dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Show the planned address and name per device; change nothing.")),
  mac: Options.text("mac").pipe(Options.repeated, Options.withDescription("Only these devices (repeatable or comma-separated).")),
  json: Options.boolean("json").pipe(Options.withDescription("JSON Lines: one object per device and a summary.")),
  config: Options.file("config").pipe(Options.optional, Options.withDescription("Config file (default data/config.yaml)."))
}

export const stage2Command = Command.make("stage2", flags, (f) =>
  Effect.gen(function* () {
    const code = yield* stage2Program({ dryRun: f.dryRun, macs: f.mac, json: f.json, config: f.config }).pipe(
      Effect.provide(runOutputFor(f.json))
    )
    if (code !== ExitCodes.ok) return yield* new ExitWith({ exitCode: code })
  }).pipe(Effect.provide(stage2Layer))
).pipe(Command.withDescription("Stage 2: static addresses (plan file or pool) and names for adopted devices."))
