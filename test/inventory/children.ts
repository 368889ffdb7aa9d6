// Runs the helper scripts of this folder as child processes. Each script is
// bundled once with esbuild (tsx's own compiler) into a temp .mjs: a plain node
// process then starts in ~0.2 s instead of ~3 s through the tsx loader, which
// keeps the kill-loop tests short. The PID we signal is the process doing the work.
import { buildSync } from "esbuild"
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const bundles = new Map<string, string>()
let bundleDir: string | undefined

const bundled = (script: string): string => {
  const cached = bundles.get(script)
  if (cached !== undefined) return cached
  bundleDir ??= mkdtempSync(join(tmpdir(), "inv-children-"))
  const outfile = join(bundleDir, script.replace(/\.ts$/, ".mjs"))
  buildSync({
    entryPoints: [fileURLToPath(new URL(script, import.meta.url))],
    bundle: true,
    platform: "node",
    format: "esm",
    outfile,
    logLevel: "error",
    // Bundled CommonJS dependencies call require(); give ESM output one.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" }
  })
  bundles.set(script, outfile)
  return outfile
}

/** Removes the bundles (call from afterAll). */
export const cleanBundles = (): void => {
  if (bundleDir !== undefined) rmSync(bundleDir, { recursive: true, force: true })
  bundleDir = undefined
  bundles.clear()
}

export const spawnScript = (script: string, args: ReadonlyArray<string>, cwd?: string): ChildProcess =>
  spawn(process.execPath, [bundled(script), ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] })

/** Resolves with the first stdout line matching `pattern` (rejects after `ms` or on exit). */
export const waitForLine = (child: ChildProcess, pattern: RegExp, ms = 15_000): Promise<string> =>
  new Promise((resolve, reject) => {
    let buffer = ""
    let stderr = ""
    const timer = setTimeout(() => done(new Error(`no line ${pattern} within ${ms} ms; stderr: ${stderr}`)), ms)
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString()
      const line = buffer.split("\n").find((l) => pattern.test(l))
      if (line !== undefined) done(undefined, line)
    }
    const onErr = (chunk: Buffer) => {
      stderr += chunk.toString()
    }
    const onExit = () => done(new Error(`child exited before ${pattern}; stdout: ${buffer} stderr: ${stderr}`))
    const done = (error?: Error, line?: string) => {
      clearTimeout(timer)
      child.stdout?.off("data", onData)
      child.stderr?.off("data", onErr)
      child.off("exit", onExit)
      if (error) reject(error)
      else resolve(line!)
    }
    child.stdout?.on("data", onData)
    child.stderr?.on("data", onErr)
    child.on("exit", onExit)
  })

/** Signals the child by its PID and waits until it is gone. */
export const killAndWait = (child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill(signal)
  })
