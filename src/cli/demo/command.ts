/**
 * `provision demo` (`npm start`): a guided tour on a simulated fleet on
 * loopback. Each part is a `DemoSection`; a later feature adds its own with
 * one entry in `demoSections`. Everything runs in this process and every
 * simulator lives in a scope, so nothing is left running afterwards.
 */
import { Command, Options } from "@effect/cli"
import { FileSystem, Path } from "@effect/platform"
import { Console, Effect, Option } from "effect"
import { fleetScoped } from "../../../sim/shelly/index.js"
import { factoryDemo } from "./factoryLine.js"
import { shellyPathSection } from "./shellyPath.js"
import { WebServer } from "../../app/WebServer.js"
import { defaultStage3Flags, stage3Layer, stage3Program } from "../../app/stage3.js"
import { TerminalRunOutput } from "../../report/runOutputLive.js"
import type { DemoSection } from "./section.js"
import { sharedStoreSection } from "./sharedStore.js"

export type { DemoContext, DemoSection } from "./section.js"

const heading = (text: string) => Console.log(`\n=== ${text} ${"=".repeat(Math.max(3, 70 - text.length))}`)

/** The demo fleet: same seed, so a restarted fleet has the same devices at the same addresses. */
const demoFleetOptions = {
  devices: 40,
  baseIp: "127.0.1.1",
  port: 18080,
  seed: 7,
  // Device-side delays (update download, reboot) 50× faster than real.
  timeScale: 0.02,
  faults: [
    "4=offline",
    "23=offline",
    "31=offline",
    "9=blackhole",
    "14=wrong_mac",
    "6=fail:Sys.SetConfig",
    "18=fail:Shelly.CheckForUpdate",
    "27=http500_on_spaces",
    "2=update",
    "11=update",
    "20=update",
    "29=update",
    "36=update",
    "3=name:Werkbank",
    "1-3=friendly:Wohnzimmer",
    "5-12=friendly:Küche Licht",
    "13-20=friendly:Flur",
    "21-26=friendly:Garten Pumpe",
    "27-30=friendly:Büro"
  ]
}

/** Stage 3 on 40 simulated devices with a mix of faults: a dry run, then a real run. */
const stage3Section: DemoSection = {
  title: "Stage 3: OTA check/update and friendly names on 40 simulated devices",
  run: ({ dir }) =>
    Effect.scoped(
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const project = path.join(dir, "stage3")
        yield* fs.makeDirectory(path.join(project, "data"), { recursive: true })
        const fleet = yield* fleetScoped(demoFleetOptions)
        const stateFile = path.join(project, "data", "ip_state.json")
        const configFile = path.join(project, "data", "config.yaml")
        yield* Effect.promise(() => fleet.writeInventory(stateFile, "wrapped"))
        // Devices 33-40 have no friendly name in the inventory yet (→ Friendly=no_value).
        const inventory = JSON.parse(yield* fs.readFileString(stateFile)) as { devices: Record<string, { friendly_name?: string }> }
        for (const device of fleet.devices.slice(32)) delete inventory.devices[device.mac]?.friendly_name
        yield* fs.writeFileString(stateFile, JSON.stringify(inventory, null, 2) + "\n")
        yield* fs.writeFileString(
          configFile,
          [
            "stage3:",
            "  enabled: true",
            `  ip_state_file: ${stateFile}`,
            `  device_port: ${fleet.port}`,
            "  ota:",
            "    enabled: true",
            "    mode: check_and_update",
            "    timeout: 5",
            "  friendly:",
            "    enabled: true",
            "    field_name: friendly_name",
            "    backfill: false",
            "  update_wait:",
            "    timeout: 10",
            "    interval: 0.2",
            "  logging:",
            `    base_path: ${path.join(project, "stage3.log")}`,
            ""
          ].join("\n")
        )
        yield* Console.log(
          `simulator: ${fleet.devices.length} devices on ${fleet.devices[0]!.ip} … ${fleet.devices.at(-1)!.ip} port ${fleet.port}` +
            ` \n  faults: offline 4, 23, 31; blackhole 9; wrong MAC 14; Sys.SetConfig fails 6; CheckForUpdate fails 18;\n  updates pending on 2, 11, 20, 29, 36; no friendly name for 33-40`
        )
        yield* Console.log(`inventory: ${stateFile}\nconfig:    ${configFile}`)

        const flags = { ...defaultStage3Flags, config: Option.some(configFile) }
        yield* Console.log(`\n$ provision stage3 --dry-run --config ${configFile}`)
        const dry = yield* stage3Program({ ...flags, dryRun: true })
        yield* Console.log(`(exit code ${dry})`)
        yield* Console.log(`\n$ provision stage3 --wait-update --config ${configFile}`)
        const real = yield* stage3Program({ ...flags, waitUpdate: true })
        yield* Console.log(`(exit code ${real})`)
        yield* Console.log(`\n$ provision stage3 --online --config ${configFile}   # again: names synced, updates done`)
        const again = yield* stage3Program({ ...flags, online: true })
        yield* Console.log(`(exit code ${again})`)
        const sample = (yield* fs.readFileString(stateFile)).split("\n").slice(0, 22).join("\n")
        yield* Console.log(`\nip_state.json after the runs (first lines):\n${sample}\n…`)
      }).pipe(Effect.provide(TerminalRunOutput))
    )
}

/** The demo's parts, in order. Add a section with one line. */
const factorySection: DemoSection = {
  title: "Factory line: 2 stations × 4 emulated ESP32/ESP8266 boards, plus a mixed AVR + STM32 + Pico station",
  run: ({ dir }) => Effect.asVoid(factoryDemo(`${dir}/factory`))
}

/**
 * The web UI over the demo's fleet and inventory. On a terminal it keeps
 * serving until Ctrl+C (unless `--no-serve`); elsewhere (CI, pipes) it checks
 * that the UI answers, prints the URL and stops, so `npm start` always ends.
 */
const webSection: DemoSection = {
  title: "Web UI over the demo fleet",
  run: ({ dir, serve }) =>
    Effect.scoped(
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const configFile = path.join(dir, "stage3", "data", "config.yaml")
        const fleet = yield* fleetScoped(demoFleetOptions)
        const config = yield* fs.readFileString(configFile)
        yield* fs.writeFileString(configFile, config.replace(/device_port: \d+/, `device_port: ${fleet.port}`))
        const url = yield* Effect.flatMap(WebServer, (web) => web.startWebUi({ host: "127.0.0.1", port: 0, configFile }))
        const page = yield* Effect.tryPromise(() => fetch(url).then((response) => response.status)).pipe(Effect.orElseSucceed(() => 0))
        yield* Console.log(`web UI: ${url} (inventory of ${fleet.devices.length} devices; GET / answered HTTP ${page})`)
        if (serve && process.stdout.isTTY === true && process.env.CI === undefined) {
          yield* Console.log("serving until Ctrl+C …")
          return yield* Effect.never
        }
        yield* Console.log("not on a terminal (or --no-serve): web UI stopped. Run `npx provision demo` in a terminal to keep it.")
      })
    )
}

export const demoSections: ReadonlyArray<DemoSection> = [shellyPathSection, stage3Section, factorySection, sharedStoreSection, webSection]

export const demoCommand = Command.make(
  "demo",
  {
    noServe: Options.boolean("no-serve").pipe(Options.withDescription("Skip parts that keep a server running (web UI)."))
  },
  ({ noServe }) =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const dir = "var/demo"
      yield* fs.remove(dir, { recursive: true }).pipe(Effect.ignore)
      yield* fs.makeDirectory(dir, { recursive: true })
      for (const section of demoSections) {
        yield* heading(section.title)
        yield* section.run({ dir, serve: !noServe })
      }
      yield* Console.log("\ndemo finished; simulators stopped.")
    }).pipe(Effect.provide(stage3Layer))
).pipe(Command.withDescription("Run the demo on simulated devices (loopback only; leaves nothing running)."))
