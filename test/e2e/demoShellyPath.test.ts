// The demo's Shelly path section end to end on its own loopback block
// (127.61.0.0/16): Stage 1 loop through the simulated WiFi → Stage 2 → Stage 3
// → inventory table, with the reboot-loop device reported with the runbook's fix.
import { NodeContext } from "@effect/platform-node"
import { Effect } from "effect"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, expect, it } from "vitest"
import { runShellyPath } from "../../src/cli/demo/shellyPath.js"
import { stage3Layer } from "../../src/app/stage3.js"
import { WebServerLive } from "../../src/web/server.js"

let dir: string | undefined
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
})

interface StateRecord {
  readonly ip: string
  readonly stage1?: { readonly status: string }
  readonly stage2?: { readonly status: string }
}

it("adopts the devices one after another, reports the reboot loop with the runbook's fix, places and lists the rest", async () => {
  dir = mkdtempSync(join(tmpdir(), "demo-shelly-"))
  const lines: Array<string> = []
  await Effect.runPromise(
    runShellyPath(dir, {
      addresses: {
        baseIp: "127.61.1.1",
        apIp: "127.61.33.1",
        controlHost: "127.61.0.1",
        port: 18610,
        dhcpSubnet24: "127.61.200",
        mdnsPort: 18619,
        stage2: { subnet: "127.61.0.0/16", gateway: "127.61.0.254", poolStart: "127.61.100.1", poolEnd: "127.61.100.20" }
      },
      print: (line) => void lines.push(...line.split("\n")),
      stage1Limit: "50 seconds"
    }).pipe(Effect.provide(stage3Layer), Effect.provide(WebServerLive), Effect.provide(NodeContext.layer))
  )
  const text = lines.join("\n")
  // Powered on one after another, each adopted before the next one is switched on.
  const powered = lines.filter((l) => l.includes("(installer powers on device"))
  expect(powered, text).toHaveLength(5)
  expect(
    lines.filter((l) => l.includes("[stage1: device joined WiFi at 127.61.200.")),
    text
  ).toHaveLength(5)
  const failed = lines.filter((l) => l.includes("[stage1: failed "))
  expect(failed, text).toHaveLength(1)
  expect(failed[0]).toContain("ShellyI4G3-")
  expect(failed[0]).toContain("reboot loop")
  expect(failed[0]).toContain("10 s reset")
  expect(text).toContain("Stage 1 summary: total=5 ok=4 failed=1")
  expect(text).toMatch(/Stage 2 summary: total=\d ok=\d failed=0/)
  expect(text).toMatch(/Stage 3 summary: total=\d ok=\d failed=0/)
  const loopingMac = /ShellyI4G3-([0-9A-F]{12})/.exec(failed[0]!)![1]!

  // The pinned-version rollout: wave 1 halts on the device that came back on its old firmware,
  // --resume finishes wave 2, --retry-failed redoes the failed one; all end on the pinned version.
  expect(text).toMatch(/\[rollout\] HALTED: 1 failed in wave 1\/2, more than --halt-after 0; \d+ devices in later waves untouched/)
  expect(text).toContain("ERR=OTA: still on 1.6.2")
  expect(text).toMatch(/resuming \(halted\)[\s\S]*\[rollout\] wave 2\/2 done: ok=\d+ failed=0/)
  expect(text).toContain("retry-failed: 1 of")
  const firmware = lines.find((l) => l.startsWith("firmware now: "))!
  expect(firmware, text).toBeDefined()
  expect(
    firmware.split(", ").every((part) => part.endsWith("=1.8.0")),
    firmware
  ).toBe(true)

  const records = JSON.parse(readFileSync(join(dir, "shelly/data/ip_state.json"), "utf8")) as Record<string, StateRecord>
  const good = Object.entries(records).filter(([mac]) => mac !== loopingMac)
  expect(good).toHaveLength(4)
  for (const [, record] of good) {
    expect(record.stage1?.status).toBe("ok")
    expect(record.stage2?.status).toBe("ok")
    expect(record.ip).toMatch(/^127\.61\.100\.\d+$/)
  }
  // The looping device is either not recorded or recorded as failed, never as adopted.
  if (records[loopingMac] !== undefined) expect(records[loopingMac]!.stage1?.status).toBe("failed")

  // The inventory table: a header and one row per recorded device, at its address.
  const header = lines.findIndex((l) => l.startsWith("MAC") && l.includes("STATUS"))
  expect(header, text).toBeGreaterThan(0)
  const rows = lines.slice(header + 1, header + 1 + Object.keys(records).length)
  for (const [mac, record] of Object.entries(records))
    expect(
      rows.some((r) => r.startsWith(mac) && r.includes(record.ip)),
      text
    ).toBe(true)
})
