// `provision flash --retry-failed REPORT.json` end to end on emulated boards:
// the second batch runs only the port whose board failed in the first.
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { readdirSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { emulatedLine } from "../../src/cli/demo/factoryLine.js"
import { tempDir } from "./support.js"

const BIN = resolve("bin/provision.mjs")

const provision = (cwd: string, args: ReadonlyArray<string>) =>
  Effect.async<{ code: number; stdout: string; stderr: string }>((resume) => {
    const child = execFile(
      "node",
      [BIN, ...args],
      { cwd, timeout: 90_000, env: { ...process.env, NO_COLOR: "1" } },
      (error, stdout, stderr) => {
        resume(Effect.succeed({ code: error ? (typeof error.code === "number" ? error.code : 70) : 0, stdout, stderr }))
      }
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("provision flash --retry-failed", () => {
  it.scopedLive(
    "reruns only the ports whose boards failed in that report; a report without failures runs nothing",
    () =>
      Effect.gen(function* () {
        const root = tempDir("fp-retry-failed-")
        const line = yield* emulatedLine({
          dir: root,
          stations: [
            { id: "station_1", boardType: "esp32", boards: [{ chip: "esp32", mac: "24:0a:c4:41:00:01" }] },
            {
              id: "station_2",
              boardType: "esp8266",
              boards: [
                { chip: "esp8266", mac: "18:fe:34:41:00:01" },
                { chip: "esp8266", mac: "18:fe:34:41:00:02", faults: ["selftest_fail:mem"] }
              ]
            }
          ]
        })
        const args = ["flash", "--config", line.configFile, "--secrets", line.secretsFile, "--before", "no_reset"]
        const first = yield* provision(root, args)
        expect(first.code).toBe(1)
        expect(first.stdout).toMatch(/Batch summary: total=3 passed=2 failed=1 /)
        const report = join(root, "var/reports", readdirSync(join(root, "var/reports")).find((f) => f.startsWith("batch_report_"))!)
        const packetsBefore = line.boards.map((b) => b.emulator.stats.packets)
        const failedPort = line.boards[2]!.hostPath

        const retry = yield* provision(root, [...args, "--retry-failed", report])
        const boardLines = retry.stdout.split("\n").filter((l) => / - (PASS|FAIL) /.test(l))
        expect(boardLines).toHaveLength(1)
        // The board that failed its self-test now runs its app (the operator re-seats it
        // in BOOT mode on a real line), so the retry names the port, not the board.
        expect(boardLines[0]).toContain(`@ station_2 ${failedPort} - `)
        expect(retry.stdout).toMatch(/Batch summary: total=1 passed=0 failed=1 /)
        // Only that port was opened: the other boards saw no byte.
        for (const [i, b] of line.boards.entries()) if (b.hostPath !== failedPort) expect(b.emulator.stats.packets).toBe(packetsBefore[i])

        const clean = join(root, "clean-report.json")
        writeFileSync(clean, JSON.stringify({ failures: [] }))
        const nothing = yield* provision(root, [...args, "--retry-failed", clean])
        expect(nothing.code).toBe(0)
        expect(nothing.stdout).toContain("Nothing to retry: no board failed in")

        writeFileSync(clean, '{"boards": 3}')
        const bad = yield* provision(root, [...args, "--retry-failed", clean])
        expect(bad.code).toBe(2)
        expect(bad.stderr).toContain("--retry-failed: not a batch report")
      }).pipe(Effect.provide(NodeContext.layer)),
    240_000
  )
})
