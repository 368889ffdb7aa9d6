/**
 * Demo section part: a pinned-version rollout in two waves on the devices
 * Stage 2 placed. The firmware files go into the cache (`provision firmware
 * add`), `provision serve --rollout-only` hands them out on loopback, one
 * device of the first wave comes back on its old firmware, so the rollout
 * halts with the reason and leaves wave 2 untouched; the installer swaps that
 * device, `--resume` finishes wave 2, and `--retry-failed` redoes the one
 * that failed. Everything runs the real programs on the section's project.
 */
import { FileSystem, Path } from "@effect/platform"
import { Clock, Effect, Option } from "effect"
import { findModel, makeFirmwareImage } from "../../../sim/shelly/index.js"
import type { FleetHandle } from "../../../sim/shelly/index.js"
import { addFirmware } from "../../firmware/cache.js"
import * as RunOutput from "../../runtime/RunOutput.js"
import { WebServer } from "../../app/WebServer.js"
import { defaultStage3Flags, stage3Program } from "../../app/stage3.js"

export const PINNED_VERSION = "1.8.0"

export const demoRollout = (options: {
  readonly fleet: FleetHandle
  readonly project: string
  readonly configFile: string
  /** config.yaml as the section wrote it; the rollout's keys are added to its stage3 section. */
  readonly baseConfig: string
  readonly ips: ReadonlyArray<string>
  /** Loopback address for `serve --rollout-only`. */
  readonly firmwareHost: string
  readonly print: (line: string) => void
}) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const print = (line: string) => Effect.sync(() => options.print(line))
    const { fleet, project, configFile } = options
    const firmwareDir = path.join(project, "var", "firmware")
    const devices = options.ips.map((ip) => fleet.device(ip)!).filter((d) => d !== undefined)
    const apps = [...new Set(devices.map((d) => d.app))].sort()

    yield* print(`\n# firmware ${PINNED_VERSION} for ${apps.join(", ")} into the local cache (files as downloaded from the vendor)`)
    for (const app of apps) {
      const file = path.join(project, `${app}-${PINNED_VERSION}.zip`)
      yield* fs.writeFile(file, makeFirmwareImage({ app, model: findModel(app)!.model, version: PINNED_VERSION }))
      yield* print(`$ provision firmware add ${file} --model ${app} --fw-version ${PINNED_VERSION}`)
      const now = new Date(yield* Clock.currentTimeMillis).toISOString()
      const { entry } = yield* addFirmware({ file, model: app, version: PINNED_VERSION, dir: firmwareDir, now })
      yield* print(
        `added: ${entry.model} ${entry.version} sha256=${entry.sha256.slice(0, 16)}… → var/firmware/${entry.file.slice(0, 16)}…zip`
      )
    }
    const served = yield* Effect.flatMap(WebServer, (web) =>
      web.startFirmwareServer({ host: options.firmwareHost, port: 0, dir: firmwareDir })
    )
    yield* print(
      `$ provision serve --rollout-only --host ${options.firmwareHost}   → ${served.url}firmware/ (only the cached files, no UI)`
    )

    const rolloutConfig = [
      options.baseConfig.trimEnd(),
      "  rollout: { halt_after: 0, state_file: " + path.join(project, "var", "rollout", "state.json") + " }",
      ""
    ]
      .join("\n")
      .replace(
        /  ota: \{[^}]*\}/,
        `  ota: { enabled: true, mode: check_and_update, timeout: 5, firmware_dir: ${firmwareDir}, firmware_url: ${served.url.replace(/\/$/, "")},` +
          ` target: { ${apps.map((a) => `${a}: ${PINNED_VERSION}`).join(", ")} } }`
      )
      .replace(/  update_wait: \{[^}]*\}/, "  update_wait: { timeout: 3, interval: 0.1 }")
    yield* fs.writeFileString(configFile, rolloutConfig)
    yield* print(`config: stage3.ota.target pins ${apps.map((a) => `${a}→${PINNED_VERSION}`).join(", ")}; firmware_url ${served.url}`)

    // The device that goes wrong: the first of wave 1 (waves take devices in MAC order).
    const bad = [...devices].sort((a, b) => (a.mac < b.mac ? -1 : 1))[0]!
    yield* Effect.promise(() => fleet.addFaults(bad.mac, ["ota_old_version"]))
    yield* print(`(simulator: ${bad.app} ${bad.mac} will come back on its old firmware after the update)`)

    const run = (args: string, flags: Partial<typeof defaultStage3Flags>) =>
      Effect.gen(function* () {
        yield* print(`\n$ provision stage3 ${args} --config ${configFile}`)
        const code = yield* stage3Program({ ...defaultStage3Flags, config: Option.some(configFile), ...flags }).pipe(
          Effect.provide(RunOutput.capture(options.print))
        )
        yield* print(`(exit code ${code})`)
        return code
      })
    yield* run(`--rollout 50%,100% --halt-after 0 --ip ${options.ips.join(",")}`, { rollout: "50%,100%", haltAfter: 0, ips: options.ips })
    yield* Effect.promise(() => fleet.clearFaults(bad.mac))
    yield* print(`\n(installer: ${bad.mac} replaced by a good unit at the same address; wave 2 is still on its old firmware)`)
    yield* run("--resume", { resume: true })
    yield* run("--retry-failed", { retryFailed: true })
    yield* print(`\nfirmware now: ${devices.map((d) => `${d.app}=${fleet.device(d.mac)!.fw}`).join(", ")}`)
  })
