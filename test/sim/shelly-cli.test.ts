// `provision sim shelly` as a child process: ready line, devices, control API,
// state file, clean exit on SIGTERM. Addresses 127.12.x.x.
import type { ChildProcess } from "node:child_process"
import { spawn } from "node:child_process"
import { mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { failureOf, request } from "./shelly-support.js"

const root = resolve(import.meta.dirname, "../..")
let child: ChildProcess | undefined

afterEach(() => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  child = undefined
})

interface Run {
  readonly ready: Promise<Record<string, string>>
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>
}

const run = (args: ReadonlyArray<string>, cwd: string): Run => {
  const proc = spawn(process.execPath, [join(root, "bin/provision.mjs"), "sim", "shelly", ...args], {
    cwd,
    stdio: ["ignore", "pipe", "pipe"]
  })
  child = proc
  let stdout = ""
  let stderr = ""
  proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString()))
  const ready = new Promise<Record<string, string>>((resolveReady, reject) => {
    proc.stdout!.on("data", (c: Buffer) => {
      stdout += c.toString()
      const line = stdout.split("\n").find((l) => l.startsWith("sim shelly ready "))
      if (line)
        resolveReady(
          Object.fromEntries(
            line
              .slice("sim shelly ready ".length)
              .split(" ")
              .map((kv) => kv.split("=") as [string, string])
          )
        )
    })
    proc.on("exit", () => reject(new Error(`exited before ready: ${stderr}`)))
  })
  // Awaited only by tests that expect a ready line.
  ready.catch(() => undefined)
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolveExit) =>
    proc.on("exit", (code, signal) => resolveExit({ code, signal, stdout, stderr }))
  )
  return { ready, exit }
}

describe("provision sim shelly", () => {
  it("starts a fleet from flags and a scenario, serves the control API, writes the state file and exits cleanly on SIGTERM", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sim-cli-"))
    await writeFile(
      join(dir, "scenario.yaml"),
      "seed: 5\ndevices: 6\nmodels: [I4G3, S2PMG3]\nfaults: ['2=blackhole']\nrules:\n  - select: 6\n    items: [factory]\n"
    )
    const { exit, ready } = run(
      [
        "--base-ip",
        "127.12.1.1",
        "--port",
        "18160",
        "--scenario",
        "scenario.yaml",
        "--faults",
        "3=update",
        "--faults",
        "4=fail:Sys.SetConfig",
        "--state-file",
        "data/ip_state.json",
        "--state-format",
        "wrapped",
        "--time-scale",
        "0.01",
        "--ap-ip",
        "127.12.33.1",
        "--wifi-ssid",
        "Shop"
      ],
      dir
    )
    const fields = await ready
    expect(fields).toMatchObject({ devices: "6", base_ip: "127.12.1.1", ap_ip: "127.12.33.1" })
    const port = Number(fields.port)
    expect(port).toBeGreaterThanOrEqual(18160)
    const control = fields.control!
    expect(control).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)

    const info = (await request(`http://127.12.1.1:${port}/rpc/Shelly.GetDeviceInfo`)).json as { app: string; id: string }
    expect(info.app).toBe("I4G3")
    expect(await failureOf(`http://127.12.1.2:${port}/shelly`)).toBe("timeout")
    expect((await request(`http://127.12.1.3:${port}/rpc/Shelly.CheckForUpdate`)).json).toMatchObject({ stable: { version: "1.7.5" } })
    expect(
      (await request(`http://127.12.1.4:${port}/rpc/Sys.SetConfig?config=${encodeURIComponent('{"device":{"name":"x"}}')}`)).status
    ).toBe(500)

    const state = JSON.parse(await readFile(join(dir, "data/ip_state.json"), "utf8")) as {
      version: number
      devices: Record<string, { ip: string; app: string }>
    }
    expect(state.version).toBe(1)
    expect(Object.values(state.devices).map((d) => d.ip)).toEqual(["127.12.1.1", "127.12.1.2", "127.12.1.3", "127.12.1.4", "127.12.1.5"])

    const devices = (await request(`${control}/devices`)).json as Array<{ mac: string; ip: string | null; mode: string }>
    expect(devices).toHaveLength(6)
    expect(devices[5]).toMatchObject({ ip: null, mode: "ap" })
    const put = await request(`${control}/devices/${devices[0]!.mac}/faults`, {
      method: "PUT",
      body: JSON.stringify({ items: ["offline"] })
    })
    expect(put.json).toMatchObject({ mode: "offline", faults: ["offline"] })
    expect(await failureOf(`http://127.12.1.1:${port}/shelly`)).toBe("refused")
    expect((await request(`${control}/devices/${devices[0]!.mac}/faults`, { method: "DELETE" })).json).toMatchObject({ mode: "sta" })
    expect((await request(`${control}/devices/1/faults`, { method: "PUT", body: JSON.stringify({ items: ["explode"] }) })).status).toBe(400)
    expect((await request(`${control}/devices/42`)).status).toBe(404)

    const scan = (await request(`${control}/wifi/scan`)).json as { aps: Array<{ ssid: string }> }
    expect(scan.aps.map((a) => a.ssid)).toEqual(["Shop", `Shelly2PMG3-${devices[5]!.mac}`])
    const connect = await request(`${control}/wifi/connect`, { method: "POST", body: JSON.stringify({ ssid: scan.aps[1]!.ssid }) })
    expect(connect.json).toEqual({ ssid: scan.aps[1]!.ssid, ip: "127.12.33.1", port, mac: devices[5]!.mac })
    expect(((await request(`http://127.12.33.1:${port}/shelly`)).json as { mac: string }).mac).toBe(devices[5]!.mac)
    expect((await request(`${control}/wifi/link`)).json).toEqual({ ssid: scan.aps[1]!.ssid, mac: devices[5]!.mac })
    expect((await request(`${control}/wifi/connect`, { method: "POST", body: JSON.stringify({ ssid: "Nope" }) })).status).toBe(409)
    const detail = (await request(`${control}/devices/${devices[5]!.mac}`)).json as { config: { wifi: { ap: { enable: boolean } } } }
    expect(detail.config.wifi.ap.enable).toBe(true)

    const inventory = await request(`${control}/inventory`, {
      method: "POST",
      body: JSON.stringify({ path: join(dir, "again.json"), format: "flat" })
    })
    expect(inventory.status).toBe(200)
    const again = JSON.parse(await readFile(join(dir, "again.json"), "utf8")) as Record<string, unknown>
    expect(Object.keys(again)).toEqual(Object.keys(state.devices))

    child!.kill("SIGTERM")
    const ended = await exit
    expect(ended.code).toBe(0)
    expect(ended.stdout.trim().split("\n")).toHaveLength(1)
    expect(await failureOf(`http://127.12.1.3:${port}/shelly`)).toBe("refused")
    expect(await failureOf(`http://127.12.33.1:${port}/shelly`)).toBe("refused")
    expect(await failureOf(`${control}/health`)).toBe("refused")
  })

  it("rejects a bad fault rule with a clear message and exit code 2, listening nowhere", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sim-cli-"))
    const { exit } = run(["--devices", "2", "--base-ip", "127.12.2.1", "--port", "18170", "--faults", "2=explode"], dir)
    const ended = await exit
    expect(ended.code).toBe(2)
    expect(ended.stderr).toMatch(/"explode" is not a known fault or trait/)
    expect(ended.stdout).not.toMatch(/ready/)
    expect(await failureOf(`http://127.12.2.1:18170/shelly`)).toBe("refused")
  })
})
