/**
 * `provision stage1` in-process finding a freshly joined device by mDNS when
 * its DHCP address lies outside `stage1.production_subnets` (the subnet scan
 * cannot see it). Real multicast on lo to the fleet's responder.
 * Loopback block of this file: 127.63.0.0/16 (127.63.1xx.x and 127.63.2xx.x).
 */
import { NodeContext } from "@effect/platform-node"
import { Effect, Exit, Option } from "effect"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"
import { stage1Layer, stage1Program } from "../../src/app/stage1.js"
import { LOOPBACK_SEGMENT } from "../../src/shelly/mdns.js"
import * as RunOutput from "../../src/runtime/RunOutput.js"

const originalCwd = process.cwd()
let fleet: FleetHandle | undefined
let dir: string | undefined
afterEach(async () => {
  process.chdir(originalCwd)
  await fleet?.stop()
  fleet = undefined
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = undefined
})

let block = 0
const run = async (mdnsEnabled: boolean) => {
  block += 1
  dir = mkdtempSync(join(tmpdir(), "stage1-mdns-"))
  mkdirSync(join(dir, "data"))
  mkdirSync(join(dir, "var/run"), { recursive: true })
  fleet = await startFleet({
    devices: 1,
    baseIp: `127.63.${100 + block}.1`,
    // Factory devices bind nothing at start, so port 0 would stay unresolved; the fleet moves on when taken.
    port: 18630 + block * 7,
    apIp: `127.63.${110 + block}.1`,
    dhcpPool: { start: `127.63.${220 + block}.1`, end: `127.63.${220 + block}.30` },
    control: { host: "127.63.0.1", port: 0 },
    faults: ["1=factory"],
    timeScale: 0.01,
    seed: 40 + block,
    mdns: { group: LOOPBACK_SEGMENT, port: 0 }
  })
  writeFileSync(
    join(dir, "data/config.yaml"),
    [
      "stage1:",
      `  ap_ip: ${fleet.apIp}`,
      // Nothing of the DHCP pool is in here: only mDNS can find the device.
      `  production_subnets: [127.63.${240 + block}.0/29]`,
      "  timeouts: { ap_wait: 2, rpc: 1, join: 3, stability: 0 }",
      `  device_port: ${fleet.port}`,
      `  discovery: { mdns: { enabled: ${mdnsEnabled}, group: ${LOOPBACK_SEGMENT}, port: ${fleet.mdns!.port} } }`,
      ""
    ].join("\n")
  )
  writeFileSync(join(dir, "data/secrets.yaml"), "wifi:\n  sta: { ssid: ProdNet, password: prod-wifi-pw }\n")
  process.chdir(dir)
  const out: Array<string> = []
  const flags = {
    secrets: Option.none(),
    config: Option.none(),
    dryRun: false,
    log: Option.none(),
    loop: Option.some(false),
    wifiSim: Option.some(fleet.controlUrl!)
  }
  const exit = await Effect.runPromiseExit(
    stage1Program(flags).pipe(
      Effect.provide(RunOutput.layer({ out: (l) => out.push(l), err: () => {} })),
      Effect.provide(stage1Layer),
      Effect.provide(NodeContext.layer)
    )
  )
  return { exit, out, fleet }
}

describe("provision stage1 with mDNS discovery", () => {
  it("finds the joined device outside production_subnets and records it", async () => {
    const { exit, out, fleet } = await run(true)
    expect({ exit, out: out.filter((l) => l.includes("failed")) }).toEqual({
      exit: Exit.succeed(0),
      out: ["Stage 1 summary: total=1 ok=1 failed=0"]
    })
    const ip = fleet.devices[0]!.ip
    expect(ip).toMatch(/^127\.63\.22\d\.\d+$/)
    expect(out).toContain(`[stage1: device joined WiFi at ${ip}]`)
    const state = JSON.parse(readFileSync("data/ip_state.json", "utf8")) as Record<string, { ip: string }>
    expect(state[fleet.devices[0]!.mac]?.ip).toBe(ip)
  })

  it("with stage1.discovery.mdns.enabled: false the same device is found at the address it reported over the AP (live WiFi: WiFi.GetStatus sta_ip)", async () => {
    const { exit, out, fleet } = await run(false)
    expect(exit).toEqual(Exit.succeed(0))
    expect(out.at(-1)).toBe("Stage 1 summary: total=1 ok=1 failed=0")
    expect(out).toContain(`[stage1: device joined WiFi at ${fleet.devices[0]!.ip}]`)
    // Neither a browse nor the (empty) subnet scan found it.
    expect(fleet.mdns!.answered()).toBe(0)
  })
})
