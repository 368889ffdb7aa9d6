// Runs `provision inventory …` as a child process in a project directory.
// The entry (inventoryEntry.ts) is bundled once with esbuild so each run
// starts in well under a second instead of several through the tsx loader.
import { buildSync } from "esbuild"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

let bundle: string | undefined

export const bundled = (): string => {
  if (bundle !== undefined) return bundle
  const outfile = join(mkdtempSync(join(tmpdir(), "inv-cli-")), "inventory.mjs")
  buildSync({
    entryPoints: [fileURLToPath(new URL("inventoryEntry.ts", import.meta.url))],
    bundle: true,
    platform: "node",
    format: "esm",
    outfile,
    logLevel: "error",
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" }
  })
  bundle = outfile
  return outfile
}

export const cleanInventoryBundle = (): void => {
  if (bundle !== undefined) rmSync(join(bundle, ".."), { recursive: true, force: true })
  bundle = undefined
}

/** Starts the entry with `args` (e.g. `serve …`) in `cwd`; the caller stops it. */
export const spawnEntry = (cwd: string, args: ReadonlyArray<string>): ChildProcess => {
  const { FORCE_COLOR: _force, ...env } = process.env
  return spawn(process.execPath, [bundled(), ...args], { cwd, env: { ...env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] })
}

/** Starts `serve` and resolves with its URL once it listens (rejects on exit or after 30 s). */
export const startServe = (cwd: string, args: ReadonlyArray<string>): Promise<{ child: ChildProcess; url: string }> =>
  new Promise((resolve, reject) => {
    const child = spawnEntry(cwd, ["serve", ...args])
    let out = ""
    let err = ""
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`serve did not start within 30 s: ${out} ${err}`))
    }, 30_000)
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c))
    child.stdout!.setEncoding("utf8").on("data", (c: string) => {
      out += c
      const match = /provision web UI: (http:\/\/\S+)/.exec(out)
      if (match) {
        clearTimeout(timer)
        resolve({ child, url: match[1]! })
      }
    })
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`serve exited with ${code}: ${out} ${err}`))
    })
  })

/** Stops a child and waits for it to be gone. */
export const stopChild = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGTERM")
  })

export interface CliResult {
  readonly code: number | null
  readonly out: string
  readonly err: string
}

/** Never blocks this process: simulators living here must keep answering. */
export const inventoryCli = (cwd: string, args: ReadonlyArray<string>): Promise<CliResult> =>
  new Promise((done, fail) => {
    const { FORCE_COLOR: _force, ...env } = process.env
    const child = spawn(process.execPath, [bundled(), "inventory", ...args], {
      cwd,
      env: { ...env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    let err = ""
    child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c))
    child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c))
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    child.once("error", fail)
    child.once("close", (code) => {
      clearTimeout(timer)
      done({ code, out, err })
    })
  })
