/**
 * `npm run bench:startup` — how long `provision` takes to start, as a user
 * (or cron, or a test) meets it: whole processes through bin/provision.mjs on
 * the bundle in dist/ (built first by the npm script).
 *
 *   version_s     `provision --version`
 *   help_s        `provision --help` (loads every subcommand)
 *   stage3_dry_s  `provision stage3 --dry-run` on a simulated fleet of 7
 *                 devices on loopback, one blackholed (accepts, never answers:
 *                 it costs the fallback timeout, stage3.fallback_timeout_ms)
 *   peak_mb       peak RSS of `provision --version` (/usr/bin/time %M, or
 *                 /proc/<pid>/status VmHWM without it)
 *   node_s        `node -e 0`, the floor on this machine
 *
 * Each figure is the median of BENCH_RUNS (default 7, at least 5) runs; the
 * runs of one round are interleaved so machine load hits them alike. Prints
 *   bench startup version_s= help_s= stage3_dry_s= peak_mb= node_s=
 * and the targets of issue 14 (version_s ≤ 2.5 × node_s, peak_mb ≤ 80,
 * stage3_dry_s ≤ 1.6) with whether they were met.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { startFleet } from "../sim/shelly/index.js"

const RUNS = Math.max(5, Number(process.env.BENCH_RUNS ?? 7))
const cli = resolve("bin/provision.mjs")
const TIME = "/usr/bin/time"
const RUN_TIMEOUT_MS = 30_000

interface Measured {
  readonly wallS: number
  readonly peakMb: number
  readonly code: number | null
  readonly stdout: string
}

/** Peak RSS of a running child from /proc (kernel's high-water mark), polled until it exits. */
const watchProcPeak = (pid: number | undefined) => {
  let peakKb = 0
  const read = () => {
    if (pid === undefined) return
    try {
      const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
      if (match) peakKb = Math.max(peakKb, Number(match[1]))
    } catch {
      // the process has exited between two polls
    }
  }
  const timer = setInterval(read, 5)
  return { stop: () => (clearInterval(timer), read(), peakKb / 1024) }
}

const measure = (argv: ReadonlyArray<string>, cwd: string): Promise<Measured> =>
  new Promise((done, fail) => {
    const useTime = existsSync(TIME)
    const timeFile = join(tmpdir(), `bench-startup-${process.pid}-${Math.random().toString(36).slice(2)}`)
    const [command, ...args] = useTime ? [TIME, "-f", "%M", "-o", timeFile, ...argv] : argv
    const started = process.hrtime.bigint()
    const child = spawn(command!, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } })
    const proc = useTime ? undefined : watchProcPeak(child.pid)
    let stdout = ""
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c))
    child.stderr.resume()
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS)
    child.once("error", fail)
    child.once("close", (code) => {
      const wallS = Number(process.hrtime.bigint() - started) / 1e9
      clearTimeout(timer)
      let peakMb = proc?.stop() ?? 0
      if (useTime) {
        peakMb = Number(readFileSync(timeFile, "utf8").trim().split("\n").pop()) / 1024
        rmSync(timeFile, { force: true })
      }
      done({ wallS, peakMb, code, stdout })
    })
  })

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const main = async () => {
  if (!existsSync(resolve("dist/build.json")))
    throw new Error("no bundle in dist/: run `node scripts/build.mjs` (npm run bench:startup does)")
  // Loopback block of this bench: 127.77.0.0/16.
  const fleet = await startFleet({
    devices: 7,
    baseIp: "127.77.0.1",
    port: 0,
    timeScale: 0.01,
    control: false,
    seed: 14,
    faults: ["7=blackhole"]
  })
  const dir = mkdtempSync(join(tmpdir(), "bench-startup-"))
  try {
    mkdirSync(join(dir, "data"))
    await fleet.writeInventory(join(dir, "data/ip_state.json"), "flat")
    writeFileSync(join(dir, "data/config.yaml"), `stage3:\n  device_port: ${fleet.port}\n  ota:\n    mode: check_only\n`)

    const runs = { node: [] as Array<Measured>, version: [] as Array<Measured>, help: [] as Array<Measured>, stage3: [] as Array<Measured> }
    for (let round = 0; round < RUNS; round++) {
      runs.node.push(await measure([process.execPath, "-e", "0"], dir))
      runs.version.push(await measure([process.execPath, cli, "--version"], dir))
      runs.help.push(await measure([process.execPath, cli, "--help"], dir))
      runs.stage3.push(await measure([process.execPath, cli, "stage3", "--dry-run"], dir))
    }
    const last = runs.stage3.at(-1)!
    const summary = last.stdout.trim().split("\n").pop()
    // Exit 1 is the expected outcome: the blackholed device is a failed device.
    if (summary !== "Stage 3 summary: total=7 ok=6 failed=1")
      throw new Error(`stage3 --dry-run did not run the fleet (exit ${last.code}): ${summary}`)
    if (runs.version.some((r) => r.code !== 0 || r.stdout.trim() === "")) throw new Error("provision --version failed")

    const nodeS = median(runs.node.map((r) => r.wallS))
    const versionS = median(runs.version.map((r) => r.wallS))
    const helpS = median(runs.help.map((r) => r.wallS))
    const stage3S = median(runs.stage3.map((r) => r.wallS))
    const peakMb = median(runs.version.map((r) => r.peakMb))
    const stage3PeakMb = median(runs.stage3.map((r) => r.peakMb))
    console.log(
      `bench startup version_s=${versionS.toFixed(3)} help_s=${helpS.toFixed(3)} stage3_dry_s=${stage3S.toFixed(3)} peak_mb=${peakMb.toFixed(1)} node_s=${nodeS.toFixed(3)}`
    )
    const met = (ok: boolean) => (ok ? "met" : "NOT met")
    console.log(
      `targets: version_s/node_s=${(versionS / nodeS).toFixed(2)} (≤ 2.5 ${met(versionS <= 2.5 * nodeS)}), ` +
        `peak_mb ≤ 80 ${met(peakMb <= 80)}, stage3_dry_s ≤ 1.6 ${met(stage3S <= 1.6)}; ` +
        `stage3 peak_mb=${stage3PeakMb.toFixed(1)}, runs=${RUNS}`
    )
  } finally {
    await fleet.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  console.error(`bench startup: ${error instanceof Error ? error.message : String(error)}`)
  process.exitCode = 1
})
