/**
 * Stage 1 as a whole run (runbook stage1-runbook.md): config + secrets →
 * factory-new devices from their AP onto the production WiFi → the runbook's
 * lines, a summary; called by `provision stage1`, the demo and tests. Exit
 * codes: 0 every device ok, 1 a device failed or stayed unverified (its
 * reboot-loop watch did not finish), 2 bad config, 3 lock held, 130 Ctrl+C
 * (after WiFi restore, lock release and the summary).
 */
import { CommandExecutor, FileSystem, HttpClient, Path } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Deferred, Duration, Effect, Either, Exit, Layer, Option } from "effect"
import { loadSecrets, missingSecret, ssidMatcher } from "../config/index.js"
import { printable } from "../domain/printable.js"
import { ConfigInvalid } from "../domain/errors/config.js"
import type { Ipv4 } from "../domain/ipv4.js"
import { InventoryLive, ProjectLockLive } from "../inventory/index.js"
import { expandTargets } from "../shelly/discovery.js"
import type { DiscoveryOptions } from "../shelly/discovery.js"
import { MdnsLive } from "../shelly/mdnsLive.js"
import { ShellyRpcWithCredentialsLive } from "../credentials/rpc.js"
import { perDeviceAuth } from "../credentials/stage1Auth.js"
import { runStage1, summaryLine } from "../stages/stage1.js"
import type { Stage1DeviceResult, Stage1Settings } from "../stages/stage1.js"
import { RunOutput } from "../runtime/RunOutput.js"
import { NmcliWifiLive } from "../wifi/NmcliWifi.js"
import { SimulatedWifiLive } from "../wifi/SimulatedWifi.js"
import type { Wifi } from "../wifi/Wifi.js"
import { runStage } from "./stageRun.js"

export interface Stage1Flags {
  readonly secrets: Option.Option<string>
  readonly config: Option.Option<string>
  readonly dryRun: boolean
  readonly log: Option.Option<string>
  /** none: config `loop_mode`. */
  readonly loop: Option.Option<boolean>
  /** Simulator control URL: use the simulated WiFi layer (tests, demo). */
  readonly wifiSim: Option.Option<string>
}

/** The runbook prints Python's booleans. */
const pyBool = (b: boolean) => (b ? "True" : "False")

/** The whole run; lines go to the RunOutput the caller provides (device text escaped there, issue 13). */
export const stage1Program = (flags: Stage1Flags) =>
  Effect.gen(function* () {
    const output = yield* RunOutput
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    return yield* runStage({
      title: "Stage 1",
      key: "stage1",
      configFile: Option.getOrUndefined(flags.config),
      dryRun: flags.dryRun,
      section: (app) => app.stage1,
      prepare: (loaded, config) =>
        Effect.gen(function* () {
          const secrets = yield* loadSecrets(Option.getOrUndefined(flags.secrets))
          for (const warning of secrets.warnings) yield* output.diagnostic(`warning: ${warning}`)
          const sta = secrets.value.wifi.sta
          if (sta === undefined) return yield* missingSecret(secrets.file, "wifi.sta", "Stage 1")
          if (config.production_subnets.length === 0 && !flags.dryRun) {
            return yield* new ConfigInvalid({
              file: loaded.file,
              problems: ["stage1.production_subnets: required to find devices after their reboot (e.g. [192.168.1.0/24])"]
            })
          }
          const productionIps = expandTargets(config.production_subnets.map((c) => c.text))
          if (Either.isLeft(productionIps)) {
            return yield* new ConfigInvalid({ file: loaded.file, problems: [`stage1.production_subnets: ${productionIps.left}`] })
          }
          const isFactoryAp = Either.getOrThrow(ssidMatcher(config.ap_ssid_pattern))
          yield* output.result(`[config: loaded file=${secrets.file ?? "data/secrets.yaml"} dry_run=${pyBool(flags.dryRun)}]`)

          const logPath = Option.getOrElse(flags.log, () => config.log_path)
          const say = (line: string) =>
            output
              .result(line)
              .pipe(
                Effect.zipRight(
                  fs.writeFileString(logPath, `${new Date().toISOString()} ${printable(line)}\n`, { flag: "a" }).pipe(Effect.ignore)
                )
              )
          return { config, secrets, sta, productionIps, isFactoryAp, logPath, say }
        }),
      // Stage 1 reads and writes the inventory per device (runStage1).
      load: () => Effect.void,
      start: ({ config, secrets, sta, productionIps, isFactoryAp, logPath, say }) =>
        Effect.gen(function* () {
          yield* fs.makeDirectory(path.dirname(logPath), { recursive: true }).pipe(Effect.ignore)

          const mqttSecrets = secrets.value.mqtt
          const mdns = config.discovery.mdns
          // Declared as DiscoveryOptions: findByMac receives Stage1Settings.discovery whole, mdns included.
          const discovery: DiscoveryOptions = {
            mdns: mdns.enabled
              ? { group: mdns.group, port: mdns.port, iface: mdns.interface, timeout: Duration.seconds(mdns.timeout) }
              : false
          }
          const settings: Stage1Settings = {
            apIp: config.ap_ip,
            devicePort: config.device_port,
            apSsidPattern: config.ap_ssid_pattern,
            isFactoryAp,
            sta: { ssid: sta.ssid, password: sta.password },
            sta1: secrets.value.wifi.sta1 && { ssid: secrets.value.wifi.sta1.ssid, password: secrets.value.wifi.sta1.password },
            disable: config.disable,
            mqtt:
              config.mqtt.enable && config.mqtt.server !== undefined
                ? {
                    server: config.mqtt.server,
                    clientId: config.mqtt.client_id,
                    topicPrefix: config.mqtt.topic_prefix,
                    user: mqttSecrets?.user,
                    password: mqttSecrets?.password
                  }
                : undefined,
            adminPassword: secrets.value.device?.admin_password,
            setDeviceAuth: config.auth === "per_device" ? yield* perDeviceAuth : undefined,
            dryRun: flags.dryRun,
            loop: Option.getOrElse(flags.loop, () => config.loop_mode),
            timeouts: {
              apWait: Duration.seconds(config.timeouts.ap_wait),
              rpc: Duration.seconds(config.timeouts.rpc),
              join: Duration.seconds(config.timeouts.join)
            },
            stabilityWindow: Duration.seconds(config.timeouts.stability),
            pollInterval: Duration.millis(500),
            productionIps: productionIps.right as ReadonlyArray<Ipv4>,
            discovery,
            adopt: config.adopt,
            ipStateFile: config.ip_state_file,
            tls: config.https.enabled ? { pinFile: config.https.pin_file } : undefined,
            say
          }

          const wifiLayer: Layer.Layer<
            Wifi,
            never,
            CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path | HttpClient.HttpClient
          > = Option.match(flags.wifiSim, {
            onNone: () => NmcliWifiLive({ iface: config.wifi_interface, connectTimeout: Duration.seconds(config.timeouts.connect) }),
            onSome: (controlUrl) =>
              SimulatedWifiLive({ controlUrl, iface: config.wifi_interface, initial: { ssid: sta.ssid, profile: sta.ssid } })
          })
          const stop = yield* Deferred.make<void>()
          const abort = yield* Deferred.make<void>()
          if (!flags.dryRun) yield* abortOnSecondSignal(abort)
          return { settings, wifiLayer, stop, abort, say }
        }),
      // Ctrl+C: the device in progress has finished (or was aborted) and the WiFi is
      // restored; the skeleton says what was done before the lock is released and the process exits 130.
      run: ({ settings, wifiLayer, stop, abort }, { finished }) =>
        runStage1(settings, finished, stop, abort).pipe(Effect.provide(wifiLayer), Effect.as(undefined)),
      summary: ({ say }, results) => say(summaryLine({ results })),
      // Unverified (reboot-loop watch not finished) is not "every device ok" either.
      failed: (r: Stage1DeviceResult) => r.status === "failed" || r.status === "unverified",
      finishOnInterrupt: true
    })
  })

/**
 * The first Ctrl+C (SIGINT/SIGTERM) interrupts the run (NodeRuntime.runMain
 * does that) and lets the device in progress finish; this listener turns a
 * second one into `abort`. While it is installed Node does not kill the
 * process on that second signal, so the WiFi restore and lock release still run.
 */
const abortOnSecondSignal = (abort: Deferred.Deferred<void>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      let seen = 0
      const onSignal = () => {
        seen += 1
        if (seen >= 2) Deferred.unsafeDone(abort, Exit.void)
      }
      process.on("SIGINT", onSignal)
      process.on("SIGTERM", onSignal)
      return onSignal
    }),
    (onSignal) =>
      Effect.sync(() => {
        process.off("SIGINT", onSignal)
        process.off("SIGTERM", onSignal)
      })
  )

/** The Live services Stage 1 runs on (FileSystem/Path/CommandExecutor come from main's NodeContext). */
export const stage1Layer = Layer.mergeAll(ShellyRpcWithCredentialsLive, InventoryLive, ProjectLockLive, NodeHttpClient.layer, MdnsLive)
