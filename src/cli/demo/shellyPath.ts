/**
 * Demo section: the whole Shelly path on the simulator. An installer powers
 * factory-new devices on one after another while `provision stage1 --loop`
 * adopts them through the simulated WiFi layer (one of them, an I4, falls into
 * the runbook's reboot loop), presses Ctrl+C after the last one, then runs
 * Stage 2 (pool addresses + names), Stage 3 and lists the inventory.
 * The real programs run on a scratch project; the fleet lives in the
 * section's scope, so nothing is left running.
 */
import { NodeContext } from "@effect/platform-node"
import { FileSystem, Path } from "@effect/platform"
import { Data, Duration, Effect, Exit, Fiber, Layer, Option, Queue } from "effect"
import { fleetScoped } from "../../../sim/shelly/index.js"
import type { FleetHandle } from "../../../sim/shelly/index.js"
import { formatTable } from "../../app/inventory/rows.js"
import { loadInventorySettings, loadRows } from "../../app/inventory/operations.js"
import type { DemoSection } from "./section.js"
import { stage1Layer, stage1Program } from "../../app/stage1.js"
import { stage2Program } from "../../app/stage2.js"
import { defaultStage3Flags, stage3Program } from "../../app/stage3.js"
import * as RunOutput from "../../runtime/RunOutput.js"
import { LOOPBACK_SEGMENT } from "../../shelly/mdns.js"
import { demoRollout } from "./rolloutPath.js"

/** Loopback addresses of the section (the demo's own block; tests pass another). */
export interface ShellyPathAddresses {
  /** Production address of device 1 (factory devices bind none until they join). */
  readonly baseIp: string
  /** The simulated "192.168.33.1" of the device AP. */
  readonly apIp: string
  readonly controlHost: string
  /** A fixed port: an all-factory fleet binds nothing at start, so port 0 would stay unresolved. */
  readonly port: number
  /** First three octets of the simulated DHCP pool (`.1`–`.30`) = the /27 Stage 1 scans. */
  readonly dhcpSubnet24: string
  /**
   * Port of the section's mDNS (group 127.255.255.255, the loopback segment): the simulated
   * devices announce themselves there when they join, and Stage 1/2 listen.
   */
  readonly mdnsPort: number
  /** Stage 2's subnet, gateway and pool. */
  readonly stage2: { readonly subnet: string; readonly gateway: string; readonly poolStart: string; readonly poolEnd: string }
}

export interface ShellyPathOptions {
  readonly addresses: ShellyPathAddresses
  /** Where every line goes (stdout in the demo; tests capture). */
  readonly print: (line: string) => void
  /** Upper bound for the Stage 1 loop (a stuck loop fails the section instead of hanging the demo). */
  readonly stage1Limit: Duration.DurationInput
}

export const demoAddresses: ShellyPathAddresses = {
  baseIp: "127.0.40.1",
  // The Stage 3 section's fleet never opens an AP link, and the sections run one after another.
  apIp: "127.0.33.1",
  controlHost: "127.0.49.1",
  port: 18440,
  dhcpSubnet24: "127.0.41",
  mdnsPort: 18453,
  stage2: { subnet: "127.0.40.0/21", gateway: "127.0.40.254", poolStart: "127.0.42.10", poolEnd: "127.0.42.60" }
}

/** The I4 that reboots on its own once configured (runbook "Device reboots every ~90 s"). */
const loopingDevice = 3
const deviceCount = 5
/** Device-side delays 50× faster than real: a 90 s reboot loop takes 1.8 s. */
const timeScale = 0.02
/**
 * Watch each joined device this long (wall clock). The loop restarts it 1.8 s
 * after boot and the watch polls every 0.5 s, so 3 s always sees it.
 */
const stabilityS = 3

class DemoStuck extends Data.TaggedError("DemoStuck")<{ readonly message: string }> {}

const configYaml = (project: string, fleet: FleetHandle, a: ShellyPathAddresses) =>
  [
    "stage1:",
    `  ap_ip: ${a.apIp}`,
    "  loop_mode: true",
    `  production_subnets: [${a.dhcpSubnet24}.0/27]`,
    // The fleet's responder announces each device as it joins; the subnet scan stays as the fallback.
    `  discovery: { mdns: { enabled: true, group: ${LOOPBACK_SEGMENT}, port: ${a.mdnsPort}, interface: 127.0.0.1, timeout: 0.5 } }`,
    `  device_port: ${fleet.port}`,
    `  timeouts: { rpc: 2, join: 10, stability: ${stabilityS} }`,
    `  log_path: ${project}/var/log/stage1.log`,
    `  ip_state_file: ${project}/data/ip_state.json`,
    "stage2:",
    `  ip_state_file: ${project}/data/ip_state.json`,
    `  plan_file: ${project}/data/plan.csv`,
    `  device_port: ${fleet.port}`,
    `  subnet: ${a.stage2.subnet}`,
    `  gateway: ${a.stage2.gateway}`,
    `  pool: { start: ${a.stage2.poolStart}, end: ${a.stage2.poolEnd} }`,
    '  naming_pattern: "{app}-{mac6}"',
    "  timeouts: { rpc: 2, verify: 10 }",
    "stage3:",
    `  ip_state_file: ${project}/data/ip_state.json`,
    `  device_port: ${fleet.port}`,
    "  ota: { enabled: true, mode: check_and_update, timeout: 5 }",
    "  friendly: { enabled: true, field_name: friendly_name, backfill: false }",
    "  update_wait: { timeout: 10, interval: 0.2 }",
    "  logging:",
    `    base_path: ${project}/var/log/stage3.log`,
    ""
  ].join("\n")

/**
 * Stage 1 in loop mode while the "installer" powers the devices on: each
 * `waiting for Shelly AP` line powers the next one on; after the last device
 * the installer presses Ctrl+C (the program's fiber is interrupted, which is
 * what Ctrl+C does to the CLI: WiFi restored, lock released, summary printed).
 */
const stage1Loop = (fleet: FleetHandle, configFile: string, secretsFile: string, options: ShellyPathOptions) =>
  Effect.gen(function* () {
    const lines = yield* Queue.unbounded<string>()
    const ctrlC = "  ^C   (installer: all devices done)"
    const poweringOn: Array<Promise<unknown>> = []
    let waiting = 0
    const out = (line: string) => {
      Queue.unsafeOffer(lines, `  ${line}`)
      if (line !== "[stage1: waiting for Shelly AP]") return
      waiting += 1
      if (waiting > deviceCount) return void Queue.unsafeOffer(lines, ctrlC)
      // Powered on here, before the program's first scan, so the loop finds it without a poll round.
      const device = fleet.device(waiting)!
      Queue.unsafeOffer(lines, `  (installer powers on device ${waiting}: ${device.app}, AP ${device.apSsid})`)
      poweringOn.push(fleet.setFaults(waiting, waiting === loopingDevice ? ["reboot_loop"] : []))
    }
    const program = stage1Program({
      secrets: Option.some(secretsFile),
      config: Option.some(configFile),
      dryRun: false,
      log: Option.none(),
      loop: Option.some(true),
      wifiSim: Option.some(fleet.controlUrl!)
    }).pipe(Effect.provide(Layer.mergeAll(stage1Layer, NodeContext.layer, RunOutput.layer({ out, err: out }))))
    const fiber = yield* Effect.fork(program)
    const print = (line: string) => Effect.sync(() => options.print(line))
    let interrupted = false
    for (;;) {
      const next = yield* Effect.raceFirst(
        Queue.take(lines).pipe(Effect.map(Option.some)),
        Fiber.await(fiber).pipe(Effect.as(Option.none<string>()))
      )
      if (Option.isNone(next)) break
      yield* print(next.value)
      if (next.value !== ctrlC) continue
      interrupted = true
      yield* Fiber.interrupt(fiber)
      break
    }
    const exit = yield* Fiber.await(fiber)
    yield* Effect.promise(() => Promise.all(poweringOn))
    yield* Effect.flatMap(Queue.takeAll(lines), (rest) => Effect.forEach(rest, print, { discard: true }))
    if (Exit.isSuccess(exit)) yield* print(`(exit code ${exit.value})`)
    else if (interrupted && Exit.isInterrupted(exit)) yield* print("(exit code 130: stopped with Ctrl+C)")
    else return yield* Effect.failCause(exit.cause)
  }).pipe(
    Effect.timeoutFail({
      duration: options.stage1Limit,
      onTimeout: () =>
        new DemoStuck({
          message: `demo: Stage 1 did not adopt ${deviceCount} devices within ${Duration.format(Duration.decode(options.stage1Limit))}`
        })
    })
  )

export const runShellyPath = (dir: string, options: ShellyPathOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const a = options.addresses
      const print = (line: string) => Effect.sync(() => options.print(line))
      const project = path.join(dir, "shelly")
      // A fresh project each run: Stage 2 places only what this run's Stage 1 adopted.
      yield* fs.remove(project, { recursive: true }).pipe(Effect.ignore)
      yield* fs.makeDirectory(path.join(project, "data"), { recursive: true })
      const fleet = yield* fleetScoped({
        devices: deviceCount,
        baseIp: a.baseIp,
        port: a.port,
        apIp: a.apIp,
        dhcpPool: { start: `${a.dhcpSubnet24}.1`, end: `${a.dhcpSubnet24}.30` },
        control: { host: a.controlHost, port: 0 },
        seed: 11,
        timeScale,
        models: ["S2PMG3", "S1PMG3", "I4G3", "Mini1PMG3", "PlugSG3"],
        // Factory-new and still in the box (powered off) except the first; device 2 has an update waiting.
        faults: [`1-${deviceCount}=factory`, `2-${deviceCount}=offline`, "2=update"],
        mdns: { group: LOOPBACK_SEGMENT, port: a.mdnsPort, iface: "127.0.0.1" }
      })
      const configFile = path.join(project, "data", "config.yaml")
      const secretsFile = path.join(project, "data", "secrets.yaml")
      yield* fs.writeFileString(configFile, configYaml(project, fleet, a))
      // The simulator's production WiFi; a demo value, not a real secret.
      yield* fs.writeFileString(secretsFile, `wifi:\n  sta: { ssid: ${fleet.network.ssid}, password: prod-wifi-pw }\n`)
      yield* print(
        `simulator: ${deviceCount} factory-new devices (AP mode, ${(1 / timeScale).toFixed(0)}× time scale), AP address ${fleet.apIp}, ` +
          `DHCP ${a.dhcpSubnet24}.0/27, port ${fleet.port}, mDNS ${LOOPBACK_SEGMENT}:${a.mdnsPort} on lo\n  device ${loopingDevice} (${fleet.device(loopingDevice)!.app}) will reboot on its own once configured; device 2 has a firmware update waiting`
      )
      yield* print(`config:  ${configFile}\nsecrets: ${secretsFile}`)

      yield* print(`\n$ provision stage1 --loop -f ${secretsFile} --config ${configFile} --wifi-sim ${fleet.controlUrl}`)
      yield* stage1Loop(fleet, configFile, secretsFile, options)

      const printed = RunOutput.capture(options.print)
      yield* print(`\n$ provision stage2 --config ${configFile}`)
      const placed = yield* stage2Program({ dryRun: false, macs: [], json: false, config: Option.some(configFile) }).pipe(
        Effect.provide(printed)
      )
      yield* print(`(exit code ${placed})`)

      // Stage 3 on the devices Stage 2 placed: the looping one flaps on and off the network.
      const settings = yield* loadInventorySettings(configFile)
      const placedIps = (yield* loadRows(settings)).rows.filter((row) => row.statuses["stage2.status"] === "ok").map((row) => row.ip)
      yield* print(`\n$ provision stage3 --wait-update --config ${configFile} --ip ${placedIps.join(",")}`)
      const stage3 = yield* stage3Program({
        ...defaultStage3Flags,
        config: Option.some(configFile),
        waitUpdate: true,
        ips: placedIps
      }).pipe(Effect.provide(printed))
      yield* print(`(exit code ${stage3})`)

      // Firmware control: a pinned version rolled out in two waves (src/cli/demo/rolloutPath.ts).
      yield* demoRollout({
        fleet,
        project,
        configFile,
        baseConfig: configYaml(project, fleet, a),
        ips: placedIps,
        firmwareHost: a.controlHost,
        print: options.print
      })

      yield* print(`\n$ provision inventory list --config ${configFile}`)
      const { rows } = yield* loadRows(settings)
      for (const line of formatTable(rows)) yield* print(line)
      const looping = rows.filter((row) => row.statuses["stage1.status"] === "failed").map((row) => row.key)
      yield* print(
        `${rows.length} devices in ${settings.stateFile}` +
          (looping.length > 0 ? `; Stage 1 failed for ${looping.join(", ")}: short reset, then \`provision stage1\` again` : "")
      )
    })
  )

export const shellyPathSection: DemoSection = {
  title: "Shelly path: 5 factory-new devices → Stage 1 loop → Stage 2 → Stage 3 → pinned-firmware rollout → inventory",
  run: ({ dir }) =>
    runShellyPath(dir, {
      addresses: demoAddresses,
      print: (line) => void process.stdout.write(`${line}\n`),
      stage1Limit: "60 seconds"
    })
}
