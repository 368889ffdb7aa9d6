// Pinned versions from the firmware cache, the beta channel, staged rollouts
// that halt, --resume and --retry-failed: stage3Program in-process on the
// real Live layers, devices updating from `serve --rollout-only`'s firmware
// route over loopback. Loopback block of this file: 127.17.0.0/16.
import { NodeContext } from "@effect/platform-node"
import { Effect, Exit, Scope } from "effect"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { makeFirmwareImage } from "../../sim/shelly/index.js"
import { startFirmwareServer } from "../../src/web/server.js"
import { addFirmware } from "../../src/firmware/cache.js"
import { methodsCalled, openProject, type Project } from "./stage3Harness.js"

let project: Project | undefined
let scope: Scope.CloseableScope | undefined
afterEach(async () => {
  if (scope) await Effect.runPromise(Scope.close(scope, Exit.void))
  scope = undefined
  await project?.close()
  project = undefined
})

/** A fleet of S2PMG3 on 1.6.2, 1.7.5 (and 1.5.0) in the cache, and the firmware server running. */
const setup = async (devices: number, base: string, faults: ReadonlyArray<string> = []) => {
  const p = await openProject({ devices, baseIp: base, models: ["S2PMG3"], faults: [...faults] })
  project = p
  const firmwareDir = join(p.dir, "firmware")
  for (const version of ["1.7.5", "1.5.0"]) {
    const file = join(p.dir, `S2PMG3-${version}.zip`)
    writeFileSync(file, makeFirmwareImage({ app: "S2PMG3", model: "S3SW-002P16EU", version }))
    await Effect.runPromise(
      addFirmware({ file, model: "S2PMG3", version, dir: firmwareDir, now: "t" }).pipe(Effect.provide(NodeContext.layer))
    )
  }
  p.writeConfig(`ota:\n  firmware_dir: ${firmwareDir}`)
  scope = await Effect.runPromise(Scope.make())
  const served = await Effect.runPromise(
    startFirmwareServer({ host: "127.0.0.1", port: 0, configFile: p.configFile }).pipe(
      Scope.extend(scope),
      Effect.provide(NodeContext.layer)
    )
  )
  const config = (extra = "", target = "S2PMG3: 1.7.5") =>
    p.writeConfig(
      [
        "ota:",
        "  mode: check_and_update",
        `  firmware_dir: ${firmwareDir}`,
        `  firmware_url: ${served.url.replace(/\/$/, "")}`,
        "  target:",
        `    ${target}`,
        "update_wait:",
        "  timeout: 5",
        "  interval: 0.05",
        "rollout:",
        `  state_file: ${join(p.dir, "rollout.json")}`,
        extra
      ].join("\n")
    )
  config()
  return { p, served, config, rolloutFile: join(p.dir, "rollout.json") }
}

/** Device numbers (1-based) in MAC order: the order waves take them in. */
const byMac = (p: Project) => [...p.fleet.devices].sort((a, b) => (a.mac < b.mac ? -1 : 1)).map((d) => d.index)

describe("pinned versions", () => {
  it("updates to exactly the pinned version from the LAN cache and reads it back", async () => {
    const { p } = await setup(2, "127.17.1.1", ["2=update:1.8.0"])
    const run = await p.run({})
    expect(run.code).toBe(0)
    expect(run.line("127.17.1.1")).toContain("OTA=updated")
    expect(p.fleet.device(1)!.fw).toBe("1.7.5")
    // Pinned wins over what the vendor offers (1.8.0), and no CheckForUpdate is needed.
    expect(p.fleet.device(2)!.fw).toBe("1.7.5")
    const log = p.fleet.state(1)!.rpcLog
    const update = log.find((e) => e.method === "Shelly.Update")!
    expect(update.params).toEqual({ url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/firmware\/[0-9a-f]{64}\.zip$/) })
    expect(log.some((e) => e.method === "Shelly.CheckForUpdate")).toBe(false)
    expect(p.state()[p.fleet.device(1)!.mac]).toMatchObject({ fw: "1.7.5", stage3: { ota_status: "updated" } })
    // A second run finds the device on the pinned version: nothing to do.
    const again = await p.run({})
    expect(again.line("127.17.1.1")).toContain("OTA=up_to_date")
    expect(p.fleet.state(1)!.reboots).toBe(1)
  })

  it("refuses a downgrade unless allowed, and names a version missing from the cache", async () => {
    const { p, config } = await setup(1, "127.17.2.1")
    config("", "S2PMG3: 1.5.0")
    const refused = await p.run({})
    expect(refused.code).toBe(1)
    expect(refused.line("127.17.2.1")).toContain("ERR=OTA: 1.5.0 would downgrade 1.6.2")
    expect(p.fleet.state(1)!.rpcLog.some((e) => e.method === "Shelly.Update")).toBe(false)
    const allowed = await p.run({ allowDowngrade: true })
    expect(allowed.line("127.17.2.1")).toContain("OTA=updated")
    expect(p.fleet.device(1)!.fw).toBe("1.5.0")
    config("", "S2PMG3: 1.9.9")
    const missing = await p.run({})
    expect(missing.line("127.17.2.1")).toContain("ERR=OTA: 1.9.9 not cached")
  })

  it("a device that comes back on the old version is a failure that says so", async () => {
    const { p } = await setup(1, "127.17.3.1", ["1=ota_old_version"])
    const run = await p.run({})
    expect(run.code).toBe(1)
    expect(run.line("127.17.3.1")).toContain("ERR=OTA: still on 1.6.2")
  })
})

describe("channel", () => {
  it("--channel beta sends stage=beta and waits for the beta build", async () => {
    const p = await openProject({ devices: 1, baseIp: "127.17.4.1", models: ["S2PMG3"], faults: ["1=update:1.7.5,beta:1.8.0-beta1"] })
    project = p
    p.writeConfig("ota:\n  mode: check_and_update\nupdate_wait:\n  timeout: 5\n  interval: 0.05")
    const run = await p.run({ channel: "beta", waitUpdate: true })
    expect(run.line("127.17.4.1")).toContain("OTA=updated")
    expect(p.fleet.device(1)!.fw).toBe("1.8.0-beta1")
    expect(p.fleet.state(1)!.rpcLog.find((e) => e.method === "Shelly.Update")!.params).toEqual({ stage: "beta" })
  })
})

describe("staged rollout", () => {
  it("halts after a wave with too many failures, leaves later waves untouched, --resume finishes without updating twice", async () => {
    const p0 = await openProject({ devices: 6, baseIp: "127.17.5.1", models: ["S2PMG3"] })
    const order = byMac(p0)
    await p0.close()
    project = undefined
    // Same seed and addresses again, with the fault on the second device of wave 1.
    const { p, rolloutFile } = await setup(6, "127.17.5.1", [`${order[1]}=ota_no_return`])
    const run = await p.run({ rollout: "50%,100%", haltAfter: 0 })
    expect(run.code).toBe(1)
    expect(run.out).toContain("[rollout] wave 1/2: 3 devices")
    expect(
      run.out.some((l) =>
        l.startsWith("[rollout] HALTED: 1 failed in wave 1/2, more than --halt-after 0; 3 devices in later waves untouched")
      )
    ).toBe(true)
    const failedIp = p.fleet.device(order[1]!)!.ip
    expect(run.out.some((l) => l.includes(`@ ${failedIp}: OTA: not back on 1.7.5`))).toBe(true)
    for (const n of order.slice(3)) {
      expect(p.fleet.device(n)!.fw).toBe("1.6.2")
      expect(methodsCalled(p.fleet, n)).toEqual([])
    }
    for (const n of [order[0]!, order[2]!]) expect(p.fleet.device(n)!.fw).toBe("1.7.5")
    const saved = JSON.parse(readFileSync(rolloutFile, "utf8"))
    expect(saved).toMatchObject({ status: "halted", waves: [{ status: "halted", failed: 1, ok: 2 }, { status: "pending" }] })
    expect(p.state()[p.fleet.device(order[0]!)!.mac]).toMatchObject({ stage3: { rollout: { wave: 1, result: "ok" } } })

    const resumed = await p.run({ resume: true })
    expect(resumed.out.some((l) => l.includes("resuming (halted)"))).toBe(true)
    expect(resumed.out).toContain("[rollout] wave 2/2: 3 devices")
    for (const n of order.slice(3)) expect(p.fleet.device(n)!.fw).toBe("1.7.5")
    // Wave 1 was not touched again: one reboot each, the failed one still gone.
    for (const n of [order[0]!, order[2]!]) expect(p.fleet.state(n)!.reboots).toBe(1)
    expect(JSON.parse(readFileSync(rolloutFile, "utf8"))).toMatchObject({ status: "done" })
    expect(resumed.code).toBe(0)
    const done = await p.run({ resume: true })
    expect(done.err.join("\n")).toContain("already done")
  })

  it("--retry-failed reruns only the devices whose last result was a failure", async () => {
    const { p } = await setup(3, "127.17.6.1", ["2=ota_old_version"])
    const first = await p.run({})
    expect(first.code).toBe(1)
    await p.fleet.clearFaults(2)
    const retry = await p.run({ retryFailed: true })
    expect(retry.err.join("\n")).toContain("retry-failed: 1 of 3 devices")
    expect(retry.out.filter((l) => l.startsWith("●"))).toHaveLength(1)
    expect(retry.line("127.17.6.2")).toContain("OTA=updated")
    expect(p.fleet.state(1)!.reboots).toBe(1)
  })

  it("a dry run plans and checks the waves but writes no state", async () => {
    const { p, rolloutFile } = await setup(4, "127.17.7.1")
    const run = await p.run({ rollout: "25%,100%", dryRun: true })
    expect(run.out.some((l) => l.includes("2 waves (25%,100%) over 4 devices"))).toBe(true)
    expect(run.out.filter((l) => l.includes("OTA=updateable"))).toHaveLength(4)
    expect(existsSync(rolloutFile)).toBe(false)
    for (const d of p.fleet.devices) expect(d.fw).toBe("1.6.2")
  })

  it("rejects bad rollout flags before touching anything", async () => {
    const { p } = await setup(1, "127.17.8.1")
    expect((await p.run({ rollout: "50%,20%" })).err.join("\n")).toContain("waves must grow")
    expect((await p.run({ resume: true, rollout: "50%,100%" })).code).toBe(2)
    expect((await p.run({ haltAfter: -1 })).code).toBe(2)
    expect(methodsCalled(p.fleet, 1)).toEqual([])
  })
})
