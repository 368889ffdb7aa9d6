// Set-up shared by the Stage 1 / Stage 2 tests: a temp project directory
// (data/, var/run/), a simulated fleet on the test file's own loopback /16,
// data/config.yaml + data/secrets.yaml, clean-up after each test, and the real
// CLI (`bin/provision.mjs`) as a child process.
//
// Within a file's /16 (`net`), test n uses: devices at net.n.1…, the factory
// AP address net.(100+n).1, the DHCP pool of the production WiFi
// net.(200+n).1-30, the simulator's control API on net.0.1.
import { NodeContext } from "@effect/platform-node"
import { Effect, Option } from "effect"
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterEach } from "vitest"
import YAML from "yaml"
import { startFleet } from "../../sim/shelly/index.js"
import type { FleetHandle } from "../../sim/shelly/index.js"
import type { FleetOptions } from "../../sim/shelly/fleet.js"
import { stage1Layer, stage1Program } from "../../src/app/stage1.js"
import * as RunOutput from "../../src/runtime/RunOutput.js"

export interface BlockAddresses {
  readonly baseIp: string
  readonly apIp: string
  readonly dhcp: { readonly start: string; readonly end: string }
  /** The DHCP pool as a CIDR (for `stage1.production_subnets`). */
  readonly dhcpCidr: string
  readonly control: string
}

export const blockAddresses = (net: string, block: number): BlockAddresses => ({
  baseIp: `${net}.${block}.1`,
  apIp: `${net}.${100 + block}.1`,
  dhcp: { start: `${net}.${200 + block}.1`, end: `${net}.${200 + block}.30` },
  dhcpCidr: `${net}.${200 + block}.0/27`,
  control: `${net}.0.1`
})

export interface ShellyProject {
  readonly dir: string
  readonly fleet: FleetHandle
  readonly block: number
  readonly addresses: BlockAddresses
  /** `data/ip_state.json` parsed. */
  readonly state: () => Record<string, Record<string, unknown>>
}

export interface ProjectFiles {
  /** data/config.yaml as an object (written as YAML); none: no config file. */
  readonly config?: (project: Omit<ShellyProject, "state">) => Record<string, unknown>
  /** data/secrets.yaml; default: the production WiFi `ProdNet` with `prod-wifi-pw`. */
  readonly wifiPassword?: string
  /** Write the fleet's inventory (flat format) to data/ip_state.json first. */
  readonly inventory?: boolean
}

/** The `stage1:` section a test project needs to reach its block's simulated devices. */
export const stage1Section = (p: Omit<ShellyProject, "state">, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  ap_ip: p.fleet.apIp,
  device_port: p.fleet.port,
  production_subnets: [p.addresses.dhcpCidr],
  // mDNS would go to the multicast group, off loopback; tests find devices by the subnet scan.
  discovery: { mdns: { enabled: false } },
  ...extra,
  timeouts: { ap_wait: 5, rpc: 2, join: 10, stability: 0, ...(extra["timeouts"] as object | undefined) }
})

/**
 * One project per test. `net` is the file's loopback /16 (e.g. "127.60");
 * `portBase` its device port range (an all-factory fleet binds nothing at
 * start, so port 0 would stay unresolved: each test gets portBase + 3·n).
 * `chdir`: run the test inside the project, as the CLI's relative paths expect.
 */
export const shellyPathHarness = (options: { readonly net: string; readonly portBase: number; readonly chdir?: boolean }) => {
  const originalCwd = process.cwd()
  let current: ShellyProject | undefined
  let block = 0
  afterEach(async () => {
    if (options.chdir) process.chdir(originalCwd)
    await current?.fleet.stop()
    if (current) rmSync(current.dir, { recursive: true, force: true })
    current = undefined
  })

  const start = async (fleet: Omit<FleetOptions, "baseIp" | "port">, files: ProjectFiles = {}): Promise<ShellyProject> => {
    block += 1
    const dir = mkdtempSync(join(tmpdir(), "shelly-path-"))
    mkdirSync(join(dir, "data"))
    mkdirSync(join(dir, "var/run"), { recursive: true })
    const addresses = blockAddresses(options.net, block)
    const handle = await startFleet({
      baseIp: addresses.baseIp,
      port: options.portBase + block * 3,
      apIp: addresses.apIp,
      dhcpPool: addresses.dhcp,
      control: { host: addresses.control, port: 0 },
      timeScale: 0.01,
      seed: block,
      ...fleet
    })
    const base = { dir, fleet: handle, block, addresses }
    current = {
      ...base,
      state: () => JSON.parse(readFileSync(join(dir, "data/ip_state.json"), "utf8")) as Record<string, Record<string, unknown>>
    }
    if (files.inventory) await handle.writeInventory(join(dir, "data/ip_state.json"), "flat")
    if (files.config) writeFileSync(join(dir, "data/config.yaml"), YAML.stringify(files.config(base)))
    writeFileSync(
      join(dir, "data/secrets.yaml"),
      YAML.stringify({ wifi: { sta: { ssid: "ProdNet", password: files.wifiPassword ?? "prod-wifi-pw" } } })
    )
    if (options.chdir) process.chdir(dir)
    return current
  }
  return { start }
}

export interface CliRun {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** Exit code (null: ended by a signal). */
  readonly exited: Promise<number | null>
}

const cli = resolve(import.meta.dirname, "../../bin/provision.mjs")

/**
 * `provision …` as an operator runs it, in `cwd`; never blocks this process (the
 * simulator lives here). Every child is SIGKILLed after its test if still running.
 */
export const provisionProcesses = () => {
  const children: Array<ChildProcess> = []
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  })
  return (cwd: string, args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}): CliRun => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", ...env }
    })
    children.push(child)
    let out = ""
    let err = ""
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d))
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d))
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
    return { child, stdout: () => out, stderr: () => err, exited }
  }
}

/** Polls until `check` holds; fails the test after `ms`. */
export const until = async (check: () => boolean, ms: number, what = "condition"): Promise<void> => {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A Stage 2 section on `127.<octet>.0.0/16` with its pool at `.90.1–.90.9`, for the harness's fleet port. */
export const stage2PoolSection = (octet: number, devicePort: number): Record<string, unknown> => ({
  subnet: `127.${octet}.0.0/16`,
  gateway: `127.${octet}.0.254`,
  pool: { start: `127.${octet}.90.1`, end: `127.${octet}.90.9` },
  device_port: devicePort,
  timeouts: { rpc: 1, verify: 3 }
})

/** Runs Stage 1 once in-process on the fleet's simulated WiFi (data/ of the current directory); its exit. */
export const runStage1Once = (controlUrl: string, output: { readonly out: (l: string) => void; readonly err: (l: string) => void }) =>
  Effect.runPromiseExit(
    stage1Program({
      secrets: Option.none(),
      config: Option.none(),
      dryRun: false,
      log: Option.none(),
      loop: Option.some(false),
      wifiSim: Option.some(controlUrl)
    }).pipe(Effect.provide(RunOutput.layer(output)), Effect.provide(stage1Layer), Effect.provide(NodeContext.layer))
  )
