// Bad flag values and missing files at the command line (issue 13): one clear
// line naming the flag, exit 2, no stack trace. The CLI as a child process.
import { execFile } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { stringify } from "yaml"

const BIN = resolve("bin/provision.mjs")
let dir: string
let empty: string

const provision = (cwd: string, args: ReadonlyArray<string>) =>
  new Promise<{ code: number; out: string }>((done) => {
    execFile("node", [BIN, ...args], { cwd, timeout: 60_000, env: { ...process.env, NO_COLOR: "1" } }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === "number" ? error.code : 70) : 0, out: `${stdout}${stderr}` })
    })
  })

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "flags13-"))
  empty = mkdtempSync(join(tmpdir(), "flags13-empty-"))
  mkdirSync(join(dir, "data"))
  mkdirSync(join(dir, "fw"))
  writeFileSync(join(dir, "fw/app.bin"), new Uint8Array(64))
  writeFileSync(join(dir, "data/config.yaml"), "stage3:\n  probe_timeout_ms: 200\n")
  writeFileSync(join(dir, "data/ip_state.json"), "{}\n")
  const factory = (url: string) =>
    stringify({
      provisioning_service_url: url,
      stations: [{ station_id: "s1", ports: ["/dev/ttyUSB_flags13_missing"], board_type: "esp32" }],
      board_configs: { esp32: { platform: "esp32", firmware_path: "../fw/app.bin" } }
    })
  writeFileSync(join(dir, "data/factory-config.yaml"), factory("http://127.0.0.1:3002"))
  writeFileSync(join(dir, "data/bad-url.yaml"), factory("localhost:3002"))
  writeFileSync(join(dir, "data/zero-fw.yaml"), factory("http://127.0.0.1:3002").replace("../fw/app.bin", "/dev/zero"))
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
  rmSync(empty, { recursive: true, force: true })
})

const expectFlagLine = async (args: ReadonlyArray<string>, flag: string) => {
  const run = await provision(dir, args)
  expect(run.code, args.join(" ")).toBe(2)
  expect(run.out, args.join(" ")).toContain(`--${flag}: expected a whole number from`)
  expect(run.out, args.join(" ")).not.toMatch(/\n\s+at .*:\d+:\d+/)
}

describe("flag values", () => {
  it("flash --batch-size 0/-1, --baud 0/-5, --swap-timeout -1 name the flag", async () => {
    await expectFlagLine(["flash", "--batch-size", "0"], "batch-size")
    await expectFlagLine(["flash", "--batch-size=-1"], "batch-size")
    await expectFlagLine(["flash", "--baud", "0"], "baud")
    await expectFlagLine(["flash", "--baud=-5"], "baud")
    await expectFlagLine(["flash", "--swap-timeout=-1"], "swap-timeout")
  }, 120_000)

  it("serve --port 70000/-1 and stage3 --concurrency abc name the flag", async () => {
    await expectFlagLine(["serve", "--port", "70000"], "port")
    await expectFlagLine(["serve", "--port=-1"], "port")
    await expectFlagLine(["stage3", "--concurrency", "abc"], "concurrency")
  }, 120_000)

  it('stage3 --ip "" is an error, not the whole fleet', async () => {
    const run = await provision(dir, ["stage3", "--dry-run", "--ip", ""])
    expect(run.code).toBe(2)
    expect(run.out).toContain("--ip: no address given")
    expect(run.out).not.toContain("Stage 3 summary")
  }, 60_000)
})

describe("factory config problems", () => {
  it("flash without a factory config does not say 'copy X to X'", async () => {
    const run = await provision(empty, ["flash"])
    expect(run.code).toBe(2)
    expect(run.out).toContain("data/factory-config.yaml not found")
    expect(run.out).not.toContain("copy data/factory-config.yaml to data/factory-config.yaml")
    expect(run.out).toContain("project root")
  }, 60_000)

  it("an invalid provisioning_service_url is a config error", async () => {
    const run = await provision(dir, ["flash", "--config", "data/bad-url.yaml"])
    expect(run.code).toBe(2)
    expect(run.out).toContain("provisioning_service_url: expected an http:// or https:// URL")
  }, 60_000)

  it("/dev/zero as firmware_path is refused at once", async () => {
    const run = await provision(dir, ["flash", "--config", "data/zero-fw.yaml"])
    expect(run.code).toBe(2)
    expect(run.out).toContain("not a regular file")
    expect(run.out).toContain("character device")
  }, 60_000)
})
