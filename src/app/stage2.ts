/**
 * Stage 2 as a whole run: adopted devices → planned/next free static address
 * + name, one line per device, `Stage 2 summary: …`, one safe write of
 * ip_state.json; called by `provision stage2`, the demo and tests. Exit codes
 * as Stage 3 (0 ok, 1 a device failed, 2 config, 3 lock held, 4 state file).
 */
import { FileSystem } from "@effect/platform"
import { Duration, Effect, Either, Layer, Option } from "effect"
import { loadSecrets } from "../config/index.js"
import { requireStage2Network } from "../config/stage2.js"
import { ConfigInvalid } from "../domain/errors/config.js"
import { parseMac } from "../domain/mac.js"
import type { Mac } from "../domain/mac.js"
import { InventoryLive, ProjectLockLive } from "../inventory/index.js"
import { Inventory } from "../inventory/Inventory.js"
import { MdnsLive } from "../shelly/mdnsLive.js"
import { ShellyRpcWithCredentialsLive } from "../credentials/rpc.js"
import { applyStage2Results, needsPlacement, runStage2, stage2Line, stage2Summary, stage2Timestamp } from "../stages/stage2.js"
import type { PlanEntry, Stage2DeviceResult, Stage2Settings } from "../stages/stage2.js"
import { parsePlan } from "../stages/stage2/plan.js"
import { RunOutput } from "../runtime/RunOutput.js"
import { openDevicePins } from "../stages/devicePins.js"
import { ExitCodes } from "./exit.js"
import { inventoryAt, runStage } from "./stageRun.js"

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
    return yield* runStage({
      title: "Stage 2",
      key: "stage2",
      configFile: Option.getOrUndefined(flags.config),
      dryRun: flags.dryRun,
      json: flags.json,
      section: (app) => app.stage2,
      prepare: (loaded, config) =>
        Effect.gen(function* () {
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
          const mdns = loaded.value.stage1.discovery.mdns
          // HTTPS and its pins are one setting for all stages: stage1.https (README "HTTPS").
          const https = loaded.value.stage1.https
          const settings: Stage2Settings = {
            network: network.right,
            devicePort: config.device_port,
            password: secrets.value.device?.admin_password,
            https: https.enabled ? yield* openDevicePins(https.pin_file, { write: !flags.dryRun }) : undefined,
            dryRun: flags.dryRun,
            namingPattern: config.naming_pattern,
            plan,
            timeouts: { rpc: Duration.seconds(config.timeouts.rpc), verify: Duration.seconds(config.timeouts.verify) },
            pollInterval: Duration.millis(500),
            probeTimeout: Duration.millis(300),
            // The production network's mDNS is configured once, under stage1.discovery.
            mdns: mdns.enabled ? { group: mdns.group, port: mdns.port, iface: mdns.interface } : false
          }
          return { config, settings }
        }),
      load: ({ config }) => inventoryAt(config.ip_state_file),
      start: ({ config, settings }, document) =>
        Effect.gen(function* () {
          const chosen = document.devices.filter((d) => needsPlacement(d) && (macs.length === 0 || macs.includes(d.mac)))
          for (const mac of macs)
            if (!document.devices.some((d) => d.mac === mac))
              yield* output.diagnostic(`warning: no device ${mac} in ${config.ip_state_file}`)
          return { config, settings, document, chosen }
        }),
      run: ({ settings, document, chosen }, { record }) =>
        runStage2(chosen, document.devices, settings, (r) =>
          record(r).pipe(Effect.zipRight(output.result(flags.json ? JSON.stringify({ type: "device", ...r }) : stage2Line(r))))
        ).pipe(Effect.as(undefined)),
      // One write for the whole run (also what Ctrl+C ends with).
      write: ({ config }, results) =>
        Effect.gen(function* () {
          const at = yield* stage2Timestamp
          const inventory = yield* Inventory
          yield* inventory.update(config.ip_state_file, (current) => applyStage2Results(current, results, at))
        }),
      summary: (_, results) => {
        const failed = results.filter((r) => r.status === "failed").length
        return output.result(
          flags.json
            ? JSON.stringify({ type: "summary", total: results.length, ok: results.length - failed, failed })
            : stage2Summary(results)
        )
      },
      failed: (r: Stage2DeviceResult) => r.status === "failed",
      finishOnInterrupt: true
    })
  })

/** The Live services Stage 2 runs on (FileSystem/Path come from main's NodeContext). */
export const stage2Layer = Layer.mergeAll(ShellyRpcWithCredentialsLive, InventoryLive, ProjectLockLive, MdnsLive)
