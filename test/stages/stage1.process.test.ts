// `provision stage1` as an operator runs it (bin/provision.mjs in a child
// process): Ctrl+C (SIGINT) in loop mode at each point of a device's life, and
// a second run refused while the first holds the project lock.
// Loopback block of this file: 127.60.0.0/16.
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { provisionProcesses, shellyPathHarness, stage1Section, until } from "./shellyPathHarness.js"

const harness = shellyPathHarness({ net: "127.60", portBase: 19600 })
const provision = provisionProcesses()

const lockFile = (dir: string) => join(dir, "var/run/provision.lock")

describe("provision stage1 as a process", () => {
  it("Ctrl+C while waiting for the next AP: exit 130, summary printed, WiFi restored, lock released, inventory intact; a concurrent stage2 is refused", async () => {
    const p = await harness.start({ devices: 1, faults: ["1=factory"] }, {
      config: (q) => ({
        stage1: stage1Section(q),
        stage2: { subnet: "127.60.0.0/16", gateway: "127.60.0.254", pool: { start: "127.60.90.1", end: "127.60.90.9" }, device_port: q.fleet.port }
      })
    })
    const first = provision(p.dir, ["stage1", "--loop", "--wifi-sim", p.fleet.controlUrl!])
    await until(() => first.stdout().includes("[stage1: device joined WiFi at"), 30_000, "device joined")
    await until(() => first.stdout().split("[stage1: waiting for Shelly AP]").length === 3, 10_000, "waiting again")
    const holder = JSON.parse(readFileSync(lockFile(p.dir), "utf8")) as { pid: number; command: string }
    expect(holder).toMatchObject({ pid: first.child.pid, command: "stage1" })

    const second = provision(p.dir, ["stage2"])
    expect(await second.exited).toBe(3)
    expect(second.stderr()).toContain("stage1")
    expect(second.stderr()).toContain(String(first.child.pid))

    first.child.kill("SIGINT")
    expect(await first.exited).toBe(130)
    expect(first.stdout().trim().split("\n").at(-1)).toBe("Stage 1 summary: total=1 ok=1 failed=0")
    expect(existsSync(lockFile(p.dir))).toBe(false)
    expect(p.fleet.apLink()).toBeNull()
    expect(Object.values(p.state()).map((d) => d.ip)).toEqual([p.fleet.devices[0]!.ip])
  })

  it("Ctrl+C during a device's reboot-loop watch: the device is finished and recorded, then exit 130", async () => {
    const p = await harness.start(
      { devices: 1, faults: ["1=factory"] },
      { config: (q) => ({ stage1: stage1Section(q, { timeouts: { stability: 60 } }) }) }
    )
    const run = provision(p.dir, ["stage1", "--loop", "--wifi-sim", p.fleet.controlUrl!])
    await until(() => run.stdout().includes("[stage1: device joined WiFi at"), 30_000, "device joined")
    run.child.kill("SIGINT")
    expect(await run.exited).toBe(130)
    const lines = run.stdout().trim().split("\n")
    const ssid = p.fleet.devices[0]!.apSsid
    expect(lines.slice(-3)).toEqual([
      `[stage1: stopping — finishing ${ssid} first (Ctrl+C again aborts it)]`,
      "[stage1: reboot-loop watch cut short by Ctrl+C]",
      "Stage 1 summary: total=1 ok=1 failed=0"
    ])
    expect(Object.values(p.state()).map((d) => d.ip)).toEqual([p.fleet.devices[0]!.ip])
    expect(existsSync(lockFile(p.dir))).toBe(false)
  })

  it("a second Ctrl+C aborts the device in progress: reported as interrupted with what to do, WiFi restored, lock released, nothing recorded, exit 130", async () => {
    // A wrong password: the device never joins, so the run sits in the join wait.
    const p = await harness.start(
      { devices: 1, faults: ["1=factory"] },
      { wifiPassword: "wrong-pw", config: (q) => ({ stage1: stage1Section(q, { timeouts: { join: 60 } }) }) }
    )
    const run = provision(p.dir, ["stage1", "--loop", "--wifi-sim", p.fleet.controlUrl!])
    await until(() => run.stdout().includes("[rpc: rebooting]"), 30_000, "rebooting")
    run.child.kill("SIGINT")
    await until(() => run.stdout().includes("[stage1: stopping — finishing"), 10_000, "finishing line")
    run.child.kill("SIGINT")
    expect(await run.exited).toBe(130)
    expect(run.stdout().trim().split("\n").at(-1)).toBe("Stage 1 summary: total=1 ok=0 failed=1")
    expect(p.fleet.apLink()).toBeNull()
    expect(existsSync(lockFile(p.dir))).toBe(false)
    expect(existsSync(join(p.dir, "data/ip_state.json"))).toBe(false)
    const log = readFileSync(join(p.dir, "var/log/stage1.log"), "utf8")
    expect(log).toContain("Stage 1 summary: total=1 ok=0 failed=1")
    expect(log).not.toContain("wrong-pw")
  })
})
