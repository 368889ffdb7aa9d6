/**
 * `provision sim <kind>`: simulators as child processes (for tests, the demo,
 * benchmarks and manual poking). Each prints one `sim <kind> ready …` line on
 * stdout and runs until SIGTERM/SIGINT.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option, Redacted } from "effect"
import { simBackendCommand } from "../../sim/backend/cli.js"
import { espSimCommand } from "../../sim/esp/command.js"
import { fleetScoped, loadScenario, SimStartError } from "../../sim/shelly/index.js"

const shellyOptions = {
  devices: Options.integer("devices").pipe(
    Options.withDescription("number of simulated devices (default: scenario's or 10)"),
    Options.optional
  ),
  baseIp: Options.text("base-ip").pipe(
    Options.withDescription("production address of device 1 (loopback); the next count up"),
    Options.withDefault("127.0.1.1")
  ),
  port: Options.integer("port").pipe(
    Options.withDescription("HTTP port of every device (next free port when taken; 0 = any)"),
    Options.withDefault(18080)
  ),
  seed: Options.integer("seed").pipe(
    Options.withDescription("seed for MACs and percentage picks (default: scenario's or 1)"),
    Options.optional
  ),
  scenario: Options.file("scenario", { exists: "yes" }).pipe(
    Options.withDescription("YAML/JSON scenario file (seed, devices, models, faults, rules)"),
    Options.optional
  ),
  faults: Options.text("faults").pipe(
    Options.withDescription("fault rule SELECTOR=ITEM[,ITEM], e.g. 10%=blackhole, 3=slow:300, 127.0.1.5=fail:Sys.SetConfig (repeatable)"),
    Options.repeated
  ),
  stateFile: Options.text("state-file").pipe(
    Options.withDescription("write the fleet as ip_state.json here once it is up"),
    Options.optional
  ),
  stateFormat: Options.choice("state-format", ["flat", "wrapped"]).pipe(Options.withDefault("flat" as const)),
  timeScale: Options.float("time-scale").pipe(
    Options.withDescription("multiply every device-side delay (reboot, update, join) by this"),
    Options.withDefault(1)
  ),
  apIp: Options.text("ap-ip").pipe(Options.withDescription("address of the simulated Shelly AP link"), Options.withDefault("127.0.33.1")),
  dhcpStart: Options.text("dhcp-start").pipe(Options.withDefault("127.0.200.1")),
  dhcpEnd: Options.text("dhcp-end").pipe(Options.withDefault("127.0.200.254")),
  wifiSsid: Options.text("wifi-ssid").pipe(Options.withDescription("SSID of the production WiFi"), Options.withDefault("ProdNet")),
  wifiPassword: Options.redacted("wifi-password").pipe(Options.withDescription("password of the production WiFi"), Options.optional),
  adminPassword: Options.redacted("admin-password").pipe(
    Options.withDescription("admin password of `protected` devices"),
    Options.optional
  ),
  controlHost: Options.text("control-host").pipe(Options.withDefault("127.0.0.1")),
  controlPort: Options.integer("control-port").pipe(Options.withDescription("port of the control API (0 = any)"), Options.withDefault(0)),
  mdns: Options.boolean("mdns").pipe(
    Options.withDescription("run the mDNS responder: devices answer queries and announce themselves when they join the production network")
  ),
  mdnsGroup: Options.text("mdns-group").pipe(
    Options.withDescription("mDNS group (announcements need a multicast group), or a loopback address for a unicast-only responder"),
    Options.withDefault("224.0.0.251")
  ),
  mdnsPort: Options.integer("mdns-port").pipe(
    Options.withDescription("mDNS port (5353 on real networks; 0 = any)"),
    Options.withDefault(5353)
  ),
  mdnsIface: Options.text("mdns-iface").pipe(
    Options.withDescription("loopback address of the multicast interface"),
    Options.withDefault("127.0.0.1")
  )
}

const secret = (value: Option.Option<Redacted.Redacted<string>>): string | undefined =>
  Option.getOrUndefined(Option.map(value, Redacted.value))

export const simShellyCommand = Command.make("shelly", shellyOptions, (o) =>
  Effect.scoped(
    Effect.gen(function* () {
      const scenario = Option.isSome(o.scenario) ? yield* loadScenario(o.scenario.value) : undefined
      const fleet = yield* fleetScoped({
        devices: Option.getOrUndefined(o.devices),
        baseIp: o.baseIp,
        port: o.port,
        seed: Option.getOrUndefined(o.seed),
        scenario,
        faults: o.faults,
        timeScale: o.timeScale,
        apIp: o.apIp,
        dhcpPool: { start: o.dhcpStart, end: o.dhcpEnd },
        network: { ssid: o.wifiSsid, password: secret(o.wifiPassword) ?? "prod-wifi-pw" },
        adminPassword: secret(o.adminPassword),
        control: { host: o.controlHost, port: o.controlPort },
        mdns: o.mdns ? { group: o.mdnsGroup, port: o.mdnsPort, iface: o.mdnsIface } : false
      })
      if (Option.isSome(o.stateFile)) {
        const path = o.stateFile.value
        yield* Effect.tryPromise({
          try: () => fleet.writeInventory(path, o.stateFormat),
          catch: (e) => new SimStartError({ reason: `cannot write state file ${path}: ${e instanceof Error ? e.message : String(e)}` })
        })
      }
      yield* Console.log(
        `sim shelly ready port=${fleet.port} devices=${fleet.devices.length} control=${fleet.controlUrl ?? "none"} base_ip=${o.baseIp} ap_ip=${fleet.apIp}` +
          (fleet.mdns === undefined ? "" : ` mdns=${fleet.mdns.group}:${fleet.mdns.port}`)
      )
      // Runs until SIGTERM/SIGINT interrupts the program; the scope then stops the fleet.
      return yield* Effect.never
    })
  )
).pipe(Command.withDescription("Simulated Shelly Gen2/Gen3 fleet: one HTTP device per loopback address, faults, control API"))

/** Simulator subcommands: add one entry per simulator. */
const simSubcommands = [simBackendCommand, espSimCommand, simShellyCommand] as const

export const simCommand = Command.make("sim").pipe(
  Command.withDescription("Run a simulator (real servers on loopback) until SIGTERM/SIGINT"),
  Command.withSubcommands([...simSubcommands])
)
