// `provision stage1` as an operator runs it (bin/provision.mjs in a child
// process): Ctrl+C (SIGINT) in loop mode at each point of a device's life and
// during the end-of-run reboot-loop watch, and a second run refused while the
// first holds the project lock.
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
    const p = await harness.start(
      { devices: 1, faults: ["1=factory"] },
      {
        config: (q) => ({
          stage1: stage1Section(q),
          stage2: {
            subnet: "127.60.0.0/16",
            gateway: "127.60.0.254",
            pool: { start: "127.60.90.1", end: "127.60.90.9" },
            device_port: q.fleet.port
          }
        })
      }
    )
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

  it("loop with a reboot-looping 2nd device: the 3rd is provisioned without waiting, the 2nd is reported and marked; Ctrl+C twice ends the final watch: exit 130, the rest unverified", async () => {
    // Time scale 0.01; the loop restarts the device 6 s (600 device-s) after each boot, long
    // after the 3rd device has joined. A 30 s window keeps devices 1 and 3 on watch at the end.
    const p = await harness.start(
      { devices: 3, faults: ["1-3=factory"], delays: { rebootLoopMs: 600_000 } },
      { config: (q) => ({ stage1: stage1Section(q, { timeouts: { stability: 30 } }) }) }
    )
    const run = provision(p.dir, ["stage1", "--loop", "--wifi-sim", p.fleet.controlUrl!])
    const count = (text: string) => run.stdout().split(text).length - 1
    // The 2nd device handled (by signal strength, so found from what Stage 1 did) starts looping.
    const configured = () =>
      p.fleet.devices
        .flatMap((d) =>
          p.fleet
            .state(d.index)!
            .rpcLog.filter((e) => e.method === "WiFi.SetConfig")
            .map((e) => ({ d, at: e.at }))
            .slice(0, 1)
        )
        .sort((a, b) => a.at.localeCompare(b.at))
    await until(() => configured().length >= 2, 30_000, "second device configured")
    const second = configured()[1]!.d
    const looping = { mac: second.mac, ssid: second.apSsid }
    expect(await p.fleet.addFaults(looping.mac, ["reboot_loop"])).toMatchObject({ _tag: "Right" })
    await until(() => run.stdout().includes("reboot loop"), 30_000, "reboot loop reported")
    expect(count("[stage1: device joined WiFi at")).toBe(3)
    run.child.kill("SIGINT")
    await until(() => run.stdout().includes("for reboot loops, up to"), 10_000, "final watch line")
    run.child.kill("SIGINT")
    expect(await run.exited).toBe(130)

    const lines = run.stdout().trim().split("\n")
    const joined = lines.flatMap((l, i) => (l.startsWith("[stage1: device joined WiFi at") ? [i] : []))
    const loopLine = lines.findIndex((l) => l.startsWith(`[stage1: failed ${looping.ssid}: `))
    expect(joined).toHaveLength(3)
    // Not blocked by the 2nd device's window: the 3rd joined before the 2nd was found looping.
    expect(joined[2]!).toBeLessThan(loopLine)
    expect(lines[loopLine]).toContain("reboot loop")
    expect(lines[loopLine]).toContain("10 s reset (short press), not the factory reset")
    expect(lines.slice(-3)).toEqual([
      expect.stringMatching(/^\[stage1: watching 2 device\(s\) for reboot loops, up to \d+s left — Ctrl\+C to skip\]$/),
      "[stage1: reboot-loop watch cut short by Ctrl+C — 2 device(s) unverified]",
      "Stage 1 summary: total=3 ok=0 failed=1 unverified=2"
    ])
    // Every device keeps its entry; the looping one marked failed with the reason, the others unverified.
    const entries = Object.entries(p.state())
    expect(entries).toHaveLength(3)
    const stage1 = (mac: string) =>
      entries.find(([key]) => key.replace(/[^0-9A-Fa-f]/g, "").toUpperCase() === mac)![1].stage1 as Record<string, unknown>
    expect(stage1(looping.mac)).toMatchObject({ status: "failed", error: { code: "reboot_loop" } })
    for (const other of p.fleet.devices.filter((d) => d.mac !== looping.mac)) {
      expect(stage1(other.mac)).toMatchObject({ status: "unverified", error: { code: "reboot_watch_skipped" } })
    }
    expect(existsSync(lockFile(p.dir))).toBe(false)
    expect(p.fleet.apLink()).toBeNull()
  })

  it("a second Ctrl+C aborts the device in progress: reported as interrupted with what to do, WiFi restored, lock released, nothing recorded, exit 130", async () => {
    // A wrong password: the station never joins, so the run sits in the join wait (polling WiFi.GetStatus over the AP).
    const p = await harness.start(
      { devices: 1, faults: ["1=factory"] },
      { wifiPassword: "wrong-pw", config: (q) => ({ stage1: stage1Section(q, { timeouts: { join: 60 } }) }) }
    )
    const run = provision(p.dir, ["stage1", "--loop", "--wifi-sim", p.fleet.controlUrl!])
    await until(() => (p.fleet.state(1)?.rpcLog ?? []).some((c) => c.method === "WiFi.GetStatus"), 30_000, "join wait")
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
