// Stage 3 with a Gen1 device among Gen2+ ones (issue 11 §4): the Gen1 line
// names Gen1 and says it is not supported; the others go on.
// Loopback block of this file: 127.114.0.0/16.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { openProject, type Project } from "./stage3Harness.js"

let project: Project | undefined
afterEach(async () => {
  await project?.close()
  project = undefined
})

describe("stage3 with a Gen1 device in the inventory", () => {
  it("reports the Gen1 device as not supported (typed error, clear line) and handles the others", async () => {
    project = await openProject({
      devices: 3,
      baseIp: "127.114.1.1",
      models: ["S2PMG3", "SHSW-1", "Plus1PM"],
      seed: 114,
      faults: ["1=friendly:Eins", "3=friendly:Drei"]
    })
    const run = await project.run()
    const gen1 = run.line("127.114.1.2")
    expect(gen1).toBeDefined()
    expect(gen1).toMatch(/ERR=identity: Gen1 not supported$/)
    expect(run.line("127.114.1.1")).toMatch(/OTA=up_to_date \| Friendly=ok/)
    expect(run.line("127.114.1.3")).toMatch(/OTA=up_to_date \| Friendly=ok/)
    expect(run.out.at(-1)).toMatch(/^Stage 3 summary: total=3 ok=2 failed=1/)
    expect(Object.values(project.state()).find((d) => d.ip === "127.114.1.2")!.stage3).toMatchObject({ ota_status: "error" })
    // The full message with its hint goes to the log file.
    const log = readFileSync(join(project.dir, "stage3.log"), "utf8")
    expect(log).toMatch(/a Gen1 device \(SHSW-1, MAC [0-9A-F]{12}, firmware [^)]+\) — Gen1 is not supported/)
  })
})
