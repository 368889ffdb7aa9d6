// Runs a CommonJS bundle with a V8 code cache beside it.
//
// Most of a start-up of `provision` is V8 compiling the bundle: the top level
// when it loads, then every function the first time it runs. Node 20 keeps no
// compile cache of its own (module.enableCompileCache came in Node 22) and
// offers cached data only to vm.Script, which is why the bundles are CommonJS:
// this file compiles one through vm.Script with the bytes V8 produced on an
// earlier run, and V8 skips the compiling it already did. Measured on a Pi-class
// budget, that is a large part of each cron run (see README, Start-up).
//
// The cache (`<bundle>.v8cache`; with node flags `<bundle>.<hash of the flags>.v8cache`)
// is written when a run ends and:
//  - there was none, or V8 rejected it (another Node, other V8 flags, a new
//    build: V8 checks the source and its own version itself), or
//  - the run went down a code path the cache has not seen: the CLI names such
//    paths (`noteCodePath` in src/runtime/codeCache.ts, e.g. "postgres"), and
//    `<bundle>.v8cache.json` lists those the cache holds. V8 writes every
//    function compiled so far, so a rewrite keeps the old paths and adds the new.
// Writes go to a temporary file renamed into place (stations starting together
// may all write; the last whole file wins). Any failure to read or write the
// cache (read-only install, full disk) only means no cache: the run goes on.
// PROVISION_CODE_CACHE=0 turns it off; =debug says on stderr what happened.
import { createHash } from "node:crypto"
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import Module, { createRequire } from "node:module"
import { dirname } from "node:path"
import vm from "node:vm"

/** Where the CLI lists the code paths this run took (src/runtime/codeCache.ts writes, this file reads). */
const PATHS_KEY = Symbol.for("provision.codePaths")

const readOr = (file, fallback, parse) => {
  try {
    return parse(readFileSync(file))
  } catch {
    return fallback
  }
}

/** `bytes` is called inside the try: making a cache can fail too, and a run must never end on it. */
const writeAtomically = (file, bytes) => {
  const temporary = `${file}.${process.pid}.tmp`
  try {
    writeFileSync(temporary, bytes())
    renameSync(temporary, file)
    return true
  } catch {
    rmSync(temporary, { force: true })
    return false
  }
}

/**
 * V8 rejects a cache made under other V8 flags (heap sizes included), so runs
 * with node flags (`node --max-old-space-size=… bin/provision.mjs`, NODE_OPTIONS)
 * keep a cache of their own instead of rewriting the plain one each time.
 */
const flavour = () => {
  const flags = [...process.execArgv, process.env.NODE_OPTIONS ?? ""].join(" ").trim()
  return flags === "" ? "" : `.${createHash("sha256").update(flags).digest("hex").slice(0, 8)}`
}

export const runBundle = (bundle) => {
  const mode = process.env.PROVISION_CODE_CACHE
  const enabled = mode !== "0"
  const cacheFile = `${bundle}${flavour()}.v8cache`
  const pathsFile = `${cacheFile}.json`
  const cachedData = enabled ? readOr(cacheFile, undefined, (bytes) => bytes) : undefined
  const script = new vm.Script(Module.wrap(readFileSync(bundle, "utf8")), { filename: bundle, cachedData })
  const status = cachedData === undefined ? "none" : script.cachedDataRejected ? "rejected" : "used"
  const cachedPaths = status === "used" ? readOr(pathsFile, [], (bytes) => JSON.parse(bytes.toString("utf8"))) : []
  const taken = new Set()
  globalThis[PATHS_KEY] = taken
  if (enabled)
    process.once("exit", () => {
      const newPaths = [...taken].filter((path) => !cachedPaths.includes(path))
      if (status === "used" && newPaths.length === 0) {
        if (mode === "debug") process.stderr.write(`code cache: used ${cacheFile}\n`)
        return
      }
      const wrote = writeAtomically(cacheFile, () => script.createCachedData())
      // The list follows the cache it describes; a list without its cache only costs a rewrite.
      if (wrote) writeAtomically(pathsFile, () => `${JSON.stringify([...new Set([...cachedPaths, ...taken])].sort())}\n`)
      if (mode === "debug")
        process.stderr.write(
          `code cache: ${status}${newPaths.length ? ` (new paths: ${newPaths.join(", ")})` : ""}; ${wrote ? "wrote" : "could not write"} ${cacheFile}\n`
        )
    })
  const module = new Module(bundle)
  module.filename = bundle
  script.runInThisContext().call(module.exports, module.exports, createRequire(bundle), module, bundle, dirname(bundle))
}
