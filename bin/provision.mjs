#!/usr/bin/env node
// Starts the CLI. `npm ci` / `npm test` / `npm start` bundle src/ into dist/
// (scripts/build.mjs): one self-contained file per subcommand, `version.cjs`
// and `all.cjs`, and `select.mjs`, which says which of them a command line
// needs. A bundle starts several times faster and uses far less memory than
// transpiling at run time, and runs with a V8 code cache (bin/codeCache.mjs),
// so a repeated command skips most of its compiling. When the build is
// missing, incomplete, or older than any source file (an edit since the last
// build), the sources run directly through tsx instead, so a stale bundle
// never runs.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const dist = join(root, "dist")
const manifest = join(dist, "build.json")

const newestSource = (dir) => {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(full))
    else if (entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(full).mtimeMs)
  }
  return newest
}

/**
 * The bundle for this command line, or undefined when the build is missing,
 * incomplete or stale; for a bare `--version`, the text the build recorded.
 */
const freshBundle = async () => {
  if (process.env.PROVISION_FROM_SOURCE === "1" || !existsSync(manifest)) return undefined
  // build.json is written last: older than a source file means an edit since the build.
  if (statSync(manifest).mtimeMs < Math.max(newestSource(join(root, "src")), newestSource(join(root, "sim")))) return undefined
  const { bundles, versionText } = JSON.parse(readFileSync(manifest, "utf8"))
  const select = join(dist, "select.mjs")
  if (!existsSync(select) || Object.values(bundles).some((file) => !existsSync(join(dist, file)))) return undefined
  // The build recorded what the root command prints for --version: no bundle to load for it.
  if (typeof versionText === "string" && process.argv.length === 3 && process.argv[2] === "--version") return { versionText }
  const { subcommandsFor } = await import(pathToFileURL(select).href)
  const wanted = subcommandsFor(process.argv.slice(2))
  return join(dist, bundles[wanted.length === 0 ? "version" : wanted.length === 1 ? wanted[0] : "all"])
}

const bundle = await freshBundle()
if (typeof bundle === "object") {
  process.stdout.write(bundle.versionText)
} else if (bundle !== undefined) {
  const { runBundle } = await import("./codeCache.mjs")
  runBundle(bundle)
} else {
  const { register } = await import("tsx/esm/api")
  register()
  await import(pathToFileURL(join(root, "src", "main.ts")).href)
}
