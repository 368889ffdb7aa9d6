#!/usr/bin/env node
// Starts the CLI. `npm ci` / `npm test` / `npm start` bundle src/ into
// dist/provision.mjs (scripts/build.mjs; dependencies stay external), which
// starts several times faster and uses far less memory than transpiling at
// run time. When the bundle is missing or older than any source file (an edit
// since the last build), the sources run directly through tsx instead, so a
// stale bundle never runs.
import { existsSync, readdirSync, statSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const bundle = join(root, "dist", "provision.mjs")

const newestSource = (dir) => {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(full))
    else if (entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(full).mtimeMs)
  }
  return newest
}

const bundleIsFresh = () =>
  process.env.PROVISION_FROM_SOURCE !== "1" &&
  existsSync(bundle) &&
  statSync(bundle).mtimeMs >= Math.max(newestSource(join(root, "src")), newestSource(join(root, "sim")))

if (bundleIsFresh()) {
  await import(pathToFileURL(bundle).href)
} else {
  const { register } = await import("tsx/esm/api")
  register()
  await import(pathToFileURL(join(root, "src", "main.ts")).href)
}
