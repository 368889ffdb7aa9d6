// `provision stage3` as an operator runs it: a child process in a project
// directory (data/config.yaml, data/ip_state.json from the simulator).
// Loopback block of this file: 127.31.0.0/16.
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { hostname, tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"

const cli = resolve("bin/provision.mjs")
let fleet: FleetHandle
let dir: string
const ip = (n: number) => `127.31.0.${n}`

/** Runs the CLI without blocking this process: the simulator lives here and must keep answering. */
const provision = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<{ code: number | null; out: Array<string>; err: string }>((done, fail) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: "", FORCE_COLOR: "", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c))
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c))
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.once("error", fail)
    child.once("close", (code) => {
      clearTimeout(timer)
      done({ code, out: stdout.split("\n").filter((l) => l !== ""), err: stderr })
    })
  })

const writeConfig = (stage3: string) => writeFileSync(join(dir, "data/config.yaml"), `stage3:\n  device_port: ${fleet.port}\n${stage3}`)

beforeAll(async () => {
  fleet = await startFleet({
    devices: 5,
    baseIp: ip(1),
    port: 0,
    timeScale: 0.01,
    control: false,
    seed: 9,
    faults: ["1=friendly:Wohnzimmer", "2=update,friendly:Küche", "3=offline", "4=fail:Sys.SetConfig,friendly:Flur"]
  })
  dir = mkdtempSync(join(tmpdir(), "stage3-e2e-"))
  mkdirSync(join(dir, "data"))
  const stateFile = join(dir, "data/ip_state.json")
  await fleet.writeInventory(stateFile, "flat")
  // Device 5 has no friendly name in the inventory (the simulator gives every device one).
  const state = JSON.parse(readFileSync(stateFile, "utf8"))
  delete state[fleet.devices[4]!.mac].friendly_name
  writeFileSync(stateFile, JSON.stringify(state, null, 2))
})

afterAll(async () => {
  await fleet?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

const app = (n: number) => fleet.devices[n - 1]!.app

describe("provision stage3", () => {
  it("prints the runbook's lines and summary and exits 1 when a device failed", async () => {
    writeConfig("  ota:\n    mode: check_only\n")
    const run = await provision(["stage3", "--dry-run"])
    expect(run.out).toEqual([
      `● ${app(1)} @ ${ip(1)} - OTA=up_to_date | Friendly=pending (Wohnzimmer)`,
      `● ${app(2)} @ ${ip(2)} - OTA=updateable | Friendly=pending (Küche)`,
      `● ${app(3)} @ ${ip(3)} - OTA=offline`,
      `● ${app(4)} @ ${ip(4)} - OTA=up_to_date | Friendly=pending (Flur)`,
      `● ${app(5)} @ ${ip(5)} - OTA=up_to_date | Friendly=no_value`,
      "Stage 3 summary: total=5 ok=4 failed=1"
    ])
    expect(run.code).toBe(1)

    const real = await provision(["stage3"])
    expect(real.out).toEqual([
      `● ${app(1)} @ ${ip(1)} - OTA=up_to_date | Friendly=ok (Wohnzimmer)`,
      `● ${app(2)} @ ${ip(2)} - OTA=updateable | Friendly=ok (Küche)`,
      `● ${app(3)} @ ${ip(3)} - OTA=offline`,
      `● ${app(4)} @ ${ip(4)} - OTA=up_to_date | Friendly=error (Flur) | ERR=friendly: HTTP 500`,
      `● ${app(5)} @ ${ip(5)} - OTA=up_to_date | Friendly=no_value`,
      "Stage 3 summary: total=5 ok=3 failed=2"
    ])
    expect(real.code).toBe(1)
    const state = JSON.parse(readFileSync(join(dir, "data/ip_state.json"), "utf8"))
    expect(state[fleet.devices[0]!.mac].stage3).toMatchObject({ ota_status: "up_to_date", friendly_status: "ok" })
    expect(existsSync(join(dir, "var/log/stage3.log"))).toBe(true)
  })

  it("colours the dot and OTA part with FORCE_COLOR, never with NO_COLOR", async () => {
    writeConfig("")
    const coloured = await provision(["stage3", "--dry-run", "--ip", ip(2), ip(3)], { FORCE_COLOR: "1" })
    expect(coloured.out[0]).toBe(`\u001b[33m●\u001b[39m ${app(2)} @ ${ip(2)} - \u001b[33mOTA=updateable\u001b[39m | Friendly=ok (Küche)`)
    expect(coloured.out[1]).toBe(`\u001b[31m●\u001b[39m ${app(3)} @ ${ip(3)} - \u001b[31mOTA=offline\u001b[39m`)
    const plain = await provision(["stage3", "--dry-run", "--ip", ip(2)], { FORCE_COLOR: "1", NO_COLOR: "1" })
    expect(plain.out[0]).not.toContain("\u001b[")
  })

  it("--json gives one parseable object per line; exit 0 when the chosen devices are fine", async () => {
    writeConfig("")
    const run = await provision(["stage3", "--dry-run", "--json", "--ip", `${ip(1)},${ip(5)}`])
    const objects = run.out.map((l) => JSON.parse(l))
    expect(objects.map((o) => [o.type, o.ip ?? null, o.type === "device" ? o.ok : null])).toEqual([
      ["device", ip(1), true],
      ["device", ip(5), true],
      ["summary", null, null]
    ])
    expect(objects[2]).toEqual({ type: "summary", total: 2, ok: 2, failed: 0, dry_run: true })
    expect(run.code).toBe(0)
  })

  it("a bad --ip is exit 2 with the value named", async () => {
    const run = await provision(["stage3", "--ip", "300.1.1.1"])
    expect(run.code).toBe(2)
    expect(run.err).toContain(`--ip: "300.1.1.1" is not an IPv4 address`)
  })

  it("a malformed config is exit 2 naming file and field; the inventory stays untouched", async () => {
    const before = readFileSync(join(dir, "data/ip_state.json"))
    writeConfig("  ota:\n    mode: sometimes\n")
    const run = await provision(["stage3"])
    expect(run.code).toBe(2)
    expect(run.err).toContain("data/config.yaml")
    expect(run.err).toContain("stage3.ota.mode")
    expect(readFileSync(join(dir, "data/ip_state.json")).equals(before)).toBe(true)
  })

  it("another live process holding the provisioning lock → exit 3; a dead holder's lock is taken over", async () => {
    writeConfig("")
    mkdirSync(join(dir, "var/run"), { recursive: true })
    const lockFile = join(dir, "var/run/provision.lock")
    const holder = spawn("sleep", ["60"], { stdio: "ignore" })
    try {
      const lock = { pid: holder.pid, command: "stage1", since: new Date().toISOString(), host: hostname() }
      writeFileSync(lockFile, JSON.stringify(lock))
      const before = readFileSync(join(dir, "data/ip_state.json"))
      const run = await provision(["stage3", "--ip", ip(1)])
      expect(run.code).toBe(3)
      expect(run.err).toContain(String(holder.pid))
      expect(run.out).toEqual([])
      expect(readFileSync(join(dir, "data/ip_state.json")).equals(before)).toBe(true)
    } finally {
      holder.kill("SIGKILL")
      await new Promise((done) => holder.once("exit", done))
    }
    const afterDeath = await provision(["stage3", "--ip", ip(1)])
    expect(afterDeath.code).toBe(0)
    expect(existsSync(lockFile)).toBe(false)
  })

  it("a disabled stage says so and exits 0", async () => {
    writeConfig("  enabled: false\n")
    const run = await provision(["stage3"])
    expect(run.code).toBe(0)
    expect(run.out).toEqual(["Stage 3 is disabled (stage3.enabled: false in data/config.yaml); nothing to do."])
    // With --json stdout stays JSON Lines; the sentence goes to stderr.
    const json = await provision(["stage3", "--json"])
    expect(json.code).toBe(0)
    expect(json.out.map((line) => JSON.parse(line))).toEqual([
      { type: "disabled", stage: "stage3", setting: "stage3.enabled", config_file: "data/config.yaml" }
    ])
    expect(json.err).toContain("Stage 3 is disabled (stage3.enabled: false in data/config.yaml); nothing to do.")
  })
})
