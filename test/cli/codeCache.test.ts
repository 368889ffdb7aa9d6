/**
 * bin/codeCache.mjs: a CommonJS bundle run through vm.Script with a V8 code
 * cache beside it. Real processes, real files: a small bundle in a temporary
 * folder, run the way bin/provision.mjs runs the built ones.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { buildSync } from "esbuild"
import { describe, expect, it } from "vitest"
import { tempDir } from "../factory/support.js"

const loader = pathToFileURL(resolve("bin/codeCache.mjs")).href

/** A bundle with enough functions for V8 to cache, that says where it runs and keeps its exit code. */
const bundleSource = `
const path = require("node:path")
const work = Array.from({ length: 200 }, (_, i) => new Function("x", "return x * " + i + " + " + i))
const sum = work.reduce((n, f, i) => n + f(i), 0)
if (process.env.TAKE_PATH) globalThis[Symbol.for("provision.codePaths")].add(process.env.TAKE_PATH)
console.log(JSON.stringify({ sum, file: __filename, dir: path.basename(__dirname), isMain: typeof module.exports }))
process.exitCode = 3
`

/** Runs `bundle` the way bin/provision.mjs does: a plain `node runner.mjs` (no node flags, so the plain cache file). */
const run = (bundle: string, env: Record<string, string> = {}) => {
  const runner = join(dirname(bundle), "runner.mjs")
  writeFileSync(runner, `import(${JSON.stringify(loader)}).then((m) => m.runBundle(process.argv[2]))\n`)
  const result = spawnSync(process.execPath, [runner, bundle], {
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, NODE_OPTIONS: "", PROVISION_CODE_CACHE: "debug", ...env }
  })
  return { code: result.status, out: result.stdout, err: result.stderr }
}

const setup = () => {
  const dir = tempDir("fp-codecache-")
  const bundle = join(dir, "tool.cjs")
  writeFileSync(bundle, bundleSource)
  return { dir, bundle, cache: `${bundle}.v8cache`, paths: `${bundle}.v8cache.json` }
}

describe("code cache loader", () => {
  it("runs the bundle as CommonJS with its own file name and exit code, writes a cache, then uses it", () => {
    const { dir, bundle, cache } = setup()
    const first = run(bundle)
    expect(first.code).toBe(3)
    expect(JSON.parse(first.out)).toEqual({ sum: expect.any(Number), file: bundle, dir: dir.split("/").at(-1), isMain: "object" })
    expect(first.err).toContain(`code cache: none; wrote ${cache}`)
    expect(statSync(cache).size).toBeGreaterThan(0)

    const written = statSync(cache).mtimeMs
    const second = run(bundle)
    expect(second.code).toBe(3)
    expect(second.out).toBe(first.out)
    expect(second.err).toContain(`code cache: used ${cache}`)
    // A cache that served is not written again.
    expect(statSync(cache).mtimeMs).toBe(written)
  })

  it("rewrites the cache once when a run takes a code path the cache has not seen", () => {
    const { bundle, cache, paths } = setup()
    run(bundle)
    expect(JSON.parse(readFileSync(paths, "utf8"))).toEqual([])
    const withPath = run(bundle, { TAKE_PATH: "postgres" })
    expect(withPath.err).toContain("code cache: used (new paths: postgres); wrote")
    expect(JSON.parse(readFileSync(paths, "utf8"))).toEqual(["postgres"])
    const again = run(bundle, { TAKE_PATH: "postgres" })
    expect(again.err).toContain(`code cache: used ${cache}`)
  })

  it("treats a damaged cache as none: V8 rejects it, the run is unchanged and a good cache replaces it", () => {
    const { bundle, cache } = setup()
    const clean = run(bundle, { PROVISION_CODE_CACHE: "0" })
    writeFileSync(cache, Buffer.from("not a V8 code cache at all, just bytes ".repeat(40)))
    const damaged = run(bundle)
    expect(damaged.code).toBe(3)
    expect(damaged.out).toBe(clean.out)
    expect(damaged.err).toContain("code cache: rejected; wrote")
    expect(run(bundle).err).toContain(`code cache: used ${cache}`)
  })

  it("runs without a cache where it cannot write one, and writes nothing when turned off", () => {
    const { bundle, cache } = setup()
    // A folder where the cache file would go: nothing to read, nothing can be renamed onto it (even for root).
    mkdirSync(cache)
    const blocked = run(bundle)
    expect(blocked.code).toBe(3)
    expect(JSON.parse(blocked.out).file).toBe(bundle)
    expect(blocked.err).toContain(`code cache: none; could not write ${cache}`)
    expect(statSync(cache).isDirectory()).toBe(true)

    const other = setup()
    const off = run(other.bundle, { PROVISION_CODE_CACHE: "0" })
    expect(off.code).toBe(3)
    expect(off.err).toBe("")
    expect(existsSync(other.cache)).toBe(false)
  })

  it("keeps serving a command that switches a V8 flag on at run time (the heap budget's gc)", () => {
    const { dir } = setup()
    // The real heap budget (src/runtime/heapBudget.ts), bundled as bin/provision.mjs's bundles are.
    const bundle = join(dir, "budget.cjs")
    buildSync({
      stdin: {
        contents: `import { Effect } from "effect"
import { keepHeapWithin } from ${JSON.stringify(resolve("src/runtime/heapBudget.ts"))}
Effect.runPromise(Effect.scoped(Effect.gen(function* () {
  const stats = yield* keepHeapWithin({ budgetMb: 1, interval: "5 millis" })
  yield* Effect.sleep("60 millis")
  console.log(JSON.stringify({ collected: stats().collections > 0 }))
})))`,
        resolveDir: resolve("."),
        loader: "ts"
      },
      bundle: true,
      platform: "node",
      format: "cjs",
      outfile: bundle,
      logLevel: "silent"
    })
    const first = run(bundle)
    expect(JSON.parse(first.out)).toEqual({ collected: true })
    expect(first.err).toContain(`code cache: none; wrote ${bundle}.v8cache`)
    // V8 stamps its flags into the cache: had --expose-gc stayed on, this run would find it rejected.
    const second = run(bundle)
    expect(JSON.parse(second.out)).toEqual({ collected: true })
    expect(second.err).toContain(`code cache: used ${bundle}.v8cache`)
  })

  it("runs with node flags keep a cache of their own instead of rewriting the plain one each time", () => {
    const { bundle, cache } = setup()
    run(bundle)
    const plain = statSync(cache).mtimeMs
    const flagged = run(bundle, { NODE_OPTIONS: "--max-old-space-size=200" })
    expect(flagged.err).toMatch(/code cache: none; wrote .*tool\.cjs\.[0-9a-f]{8}\.v8cache/)
    expect(run(bundle, { NODE_OPTIONS: "--max-old-space-size=200" }).err).toMatch(/code cache: used .*tool\.cjs\.[0-9a-f]{8}\.v8cache/)
    expect(run(bundle).err).toContain(`code cache: used ${cache}`)
    expect(statSync(cache).mtimeMs).toBe(plain)
  })
})
