// Stage 1 as a child process: Ctrl+C (SIGINT) in loop mode, and a second run
// refused while the first holds the project lock. Loopback block: 127.55.0.0/16.
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { startFleet } from "../../sim/shelly/index.js"
import type { FleetHandle } from "../../sim/shelly/index.js"

const root = join(import.meta.dirname, "../..")
const tsx = join(root, "node_modules/.bin/tsx")
const entry = join(root, "test/stages/stage1.entry.ts")

let fleet: FleetHandle | undefined
let dir: string | undefined
const children: Array<ChildProcess> = []
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.pid !== undefined) child.kill("SIGKILL")
  await fleet?.stop()
  fleet = undefined
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = undefined
})

interface Run {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exited: Promise<number | null>
}

const start = (args: ReadonlyArray<string>): Run => {
  const child = spawn(tsx, [entry, ...args], { cwd: dir!, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } })
  children.push(child)
  let out = ""
  let err = ""
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()))
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { child, stdout: () => out, stderr: () => err, exited }
}

const until = async (check: () => boolean, ms: number) => {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time")
    await new Promise((r) => setTimeout(r, 50))
  }
}

const project = async () => {
  dir = mkdtempSync(join(tmpdir(), "stage1-proc-"))
  mkdirSync(join(dir, "data"))
  fleet = await startFleet({
    devices: 1,
    baseIp: "127.55.1.1",
    port: 18900,
    apIp: "127.55.33.1",
    dhcpPool: { start: "127.55.200.1", end: "127.55.200.30" },
    control: { host: "127.55.0.1", port: 0 },
    faults: ["1=factory"],
    timeScale: 0.01
  })
  writeFileSync(
    join(dir, "data/config.yaml"),
    `stage1:\n  ap_ip: ${fleet.apIp}\n  production_subnets: [127.55.200.0/27]\n  timeouts: { rpc: 1, join: 5 }\nstage2:\n  subnet: 127.55.0.0/16\n  gateway: 127.55.0.254\n  pool: { start: 127.55.100.1, end: 127.55.100.9 }\nstage3:\n  device_port: ${fleet.port}\n`
  )
  writeFileSync(join(dir, "data/secrets.yaml"), "wifi:\n  sta: { ssid: ProdNet, password: prod-wifi-pw }\n")
  return fleet
}

describe("provision stage1 as a process", () => {
  it("Ctrl+C while looping: summary printed, WiFi restored, lock released, inventory intact; a concurrent stage2 is refused", async () => {
    const f = await project()
    const first = start(["stage1", "--loop", "--wifi-sim", f.controlUrl!])
    await until(() => first.stdout().includes("[stage1: device joined WiFi at"), 30_000)
    await until(() => first.stdout().split("[stage1: waiting for Shelly AP]").length === 3, 10_000)
    expect(existsSync(join(dir!, "var/run/provision.lock"))).toBe(true)

    const second = start(["stage2"])
    expect(await second.exited).not.toBe(0)
    // LockHeld names the holder's command (its PID is tsx's child, not first.child.pid).
    expect(second.stderr()).toMatch(/lock/i)
    expect(second.stderr()).toContain("stage1")

    first.child.kill("SIGINT")
    await first.exited
    expect(first.stdout()).toContain("Stage 1 summary: total=1 ok=1 failed=0")
    expect(existsSync(join(dir!, "var/run/provision.lock"))).toBe(false)
    expect(f.apLink()).toBeNull()
    const state = JSON.parse(readFileSync(join(dir!, "data/ip_state.json"), "utf8")) as Record<string, { ip: string }>
    expect(Object.values(state).map((d) => d.ip)).toEqual([f.devices[0]!.ip])
  })
})
