// Stage 3 over a fleet with hostile devices among well-behaved ones (issue 13):
// every hostile device gets its own line with an ERR= that says what it did,
// the others are processed as always, the summary and the inventory write
// happen, and device text reaches lines and the log file with its terminal
// controls escaped. Loopback block of this file: 127.13.2.0/24.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type HostileBehaviour, type HostileDevice, startHostileDevice } from "../support/hostileDevice.js"
import { openProject, type Project } from "./stage3Harness.js"

const EVIL = "\u001b]0;pwned\u0007\u001b[2J"

/** A device whose identity is fine (with escapes in its strings) and whose later answers are hostile. */
const lateHostile =
  (mac: string, later: HostileBehaviour) =>
  (path: string): HostileBehaviour =>
    path.startsWith("/rpc/Shelly.GetDeviceInfo")
      ? {
          json: {
            name: `Name${EVIL}`,
            id: `shellyplus1-${EVIL}`,
            mac,
            model: `SNSW-${EVIL}`,
            gen: 2,
            fw_id: "20240101-000000/1.2.3-g0000000",
            ver: "1.2.3",
            app: `Evil${EVIL}App`,
            auth_en: false
          }
        }
      : later

const cases: ReadonlyArray<{
  readonly n: number
  readonly mac: string
  readonly behaviour: HostileBehaviour | ((path: string) => HostileBehaviour)
  readonly err: RegExp
}> = [
  { n: 11, mac: "AABBCC000011", behaviour: "endless_chunked", err: /ERR=identity: response too large/ },
  { n: 12, mac: "AABBCC000012", behaviour: "huge_body", err: /ERR=identity: response too large/ },
  { n: 13, mac: "AABBCC000013", behaviour: "big_header", err: /ERR=identity: headers too large/ },
  { n: 14, mac: "AABBCC000014", behaviour: "header_flood", err: /ERR=identity: headers too large/ },
  { n: 15, mac: "AABBCC000015", behaviour: "garbage", err: /ERR=identity: bad HTTP from device/ },
  { n: 16, mac: "AABBCC000016", behaviour: "deep_json", err: /ERR=identity: invalid response/ },
  { n: 17, mac: "AABBCC000017", behaviour: lateHostile("AA:BB:CC:00:00:17", "endless_chunked"), err: /OTA=check_failed/ }
]

let project: Project
const hostile: Array<HostileDevice> = []
const ip = (n: number) => `127.13.2.${n}`

beforeAll(async () => {
  project = await openProject({ devices: 2, baseIp: "127.13.2.1", faults: ["1=friendly:Wohnzimmer,name:Wohnzimmer"], seed: 13 })
  for (const c of cases) hostile.push(await startHostileDevice(ip(c.n), project.fleet.port, c.behaviour))
  project.editState((devices) => {
    for (const c of cases) devices[c.mac] = { ip: ip(c.n), model: "SNSW-001X16EU", friendly_name: `Device ${c.n}` }
  })
  project.writeConfig("ota:\n  timeout: 10\nfallback_timeout_ms: 10000")
})

afterAll(async () => {
  for (const d of hostile) await d.close()
  await project?.close()
})

describe("Stage 3 with hostile devices", () => {
  it("gives each hostile device its own ERR= line; the run, its summary and the inventory write go on", async () => {
    const run = await project.run()
    expect(run.code).toBe(1)
    for (const c of cases) expect(run.line(ip(c.n)), `device ${c.n}`).toMatch(c.err)
    // The well-behaved devices are unaffected.
    expect(run.line(ip(1))).toMatch(/OTA=(up_to_date|updateable) \| Friendly=ok \(Wohnzimmer\)$/)
    expect(run.out.at(-1)).toBe(`Stage 3 summary: total=${cases.length + 2} ok=2 failed=${cases.length}`)
    const state = project.state()
    expect((state["AABBCC000011"]!.stage3 as Record<string, unknown>).ota_status).toBe("error")
    expect(state["AABBCC000017"]!.stage3).toBeDefined()
  })

  it("device text reaches the lines and the log file with its controls escaped", async () => {
    const run = await project.run({ dryRun: true })
    const line = run.line(ip(17))!
    expect(line).toContain("Evil\\u001b]0;pwned\\u0007\\u001b[2JApp @ 127.13.2.17")
    for (const l of [...run.out, ...run.err]) expect(l).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/)
    const log = readFileSync(join(project.dir, "stage3.log"), "utf8")
    expect(log).toContain("\\u001b]0;pwned")
    expect(log.replace(/\n/g, "")).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/)
  })

  it("--json keeps the device's text exact", async () => {
    const run = await project.run({ dryRun: true, json: true })
    const device = run.out.map((l) => JSON.parse(l) as Record<string, unknown>).find((o) => o.ip === ip(17))!
    expect(JSON.stringify(device)).toContain("Evil")
    expect(Object.values(device)).toContain(`Evil${EVIL}App`)
    // The line is cut to 79 characters; the whole ERR text is in the JSON.
    expect(JSON.stringify(device)).toContain("OTA: response too large")
  })
})
