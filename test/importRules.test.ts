// The import rules of DESIGN.md (and README "Where things live"), checked on
// the sources: layers point one way, cli/ and web/ stay apart, product code
// reaches the simulators only from the `sim` and `demo` subcommands, sim/
// never reaches into the product's upper layers, and no module imports
// itself through others (type-only imports count: they couple modules too).
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, normalize } from "node:path"
import { describe, expect, it } from "vitest"

const root = join(import.meta.dirname, "..")

/** Rank of each top-level folder of src/: a module may import its own rank or lower. */
const RANK: Readonly<Record<string, number>> = {
  domain: 0,
  config: 1,
  runtime: 1,
  shelly: 2,
  wifi: 2,
  serial: 2,
  flash: 2,
  inventory: 2,
  store: 2,
  credentials: 2,
  firmware: 2,
  backup: 3,
  stages: 3,
  factory: 3,
  report: 3,
  app: 4,
  cli: 5,
  web: 5,
  "main.ts": 6
}

/** Folders of src/ that sim/ may use: the domain and the protocol codecs the simulators share. */
const SIM_MAY_USE: ReadonlySet<string> = new Set(["domain", "shelly", "serial", "flash"])

const sourceFiles = (dir: string): Array<string> =>
  readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith(".ts") ? [path] : []
  })

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\b[^"'`;]*?\bfrom\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)|(?:^|\n)\s*import\s*["']([^"']+)["']/g

/**
 * Relative imports of a file, resolved to project paths (src/…, sim/…);
 * `dynamic: false` leaves out `import()`, which runs once every module has
 * loaded (a family's flasher from flash/families.ts) and so cannot close a cycle.
 */
const importsOf = (file: string, text: string, options: { readonly dynamic: boolean } = { dynamic: true }): Array<string> =>
  [...text.matchAll(IMPORT)]
    .filter((match) => options.dynamic || match[2] === undefined)
    .map((match) => match[1] ?? match[2] ?? match[3]!)
    .filter((spec) => spec.startsWith("."))
    .map((spec) => normalize(join(dirname(file), spec)).replace(/\.js$/, ".ts"))

const files = [...sourceFiles("src"), ...sourceFiles("sim")]
const texts = new Map(files.map((file) => [file, readFileSync(join(root, file), "utf8")]))
const graph = new Map(files.map((file) => [file, importsOf(file, texts.get(file)!)]))
const staticGraph = new Map(files.map((file) => [file, importsOf(file, texts.get(file)!, { dynamic: false })]))

const topOf = (file: string): string => file.split("/")[1]!

/** Why `from` may not import `to`, or undefined when it may. */
const violation = (from: string, to: string): string | undefined => {
  if (from.startsWith("src/")) {
    if (to.startsWith("sim/")) {
      const mayUseSim = /^src\/cli\/sim[^/]*\.ts$/.test(from) || from.startsWith("src/cli/demo/")
      return mayUseSim ? undefined : "only the sim and demo subcommands (src/cli/sim*, src/cli/demo/) may import sim/"
    }
    if (!to.startsWith("src/")) return undefined
    const [a, b] = [topOf(from), topOf(to)]
    if (a === b) return undefined
    if (a === "web" && b === "cli") return "web/ never imports cli/"
    if (a === "cli" && b === "web") return "cli/ never imports web/ (the entry points provide the web server: app/WebServer.ts)"
    const [ra, rb] = [RANK[a], RANK[b]]
    if (ra === undefined || rb === undefined) return `src/${ra === undefined ? a : b} has no layer in test/importRules.test.ts`
    return rb > ra ? `${a}/ (layer ${ra}) may not import ${b}/ (layer ${rb}): the arrows point down` : undefined
  }
  if (from.startsWith("sim/") && to.startsWith("src/") && !SIM_MAY_USE.has(topOf(to))) {
    return `sim/ may use src/${[...SIM_MAY_USE].join(", src/")} only`
  }
  return undefined
}

/** Strongly connected groups of more than one module (Tarjan). */
const cyclesOf = (edges: ReadonlyMap<string, ReadonlyArray<string>>): Array<Array<string>> => {
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: Array<string> = []
  const onStack = new Set<string>()
  const found: Array<Array<string>> = []
  let next = 0
  const visit = (v: string) => {
    index.set(v, next)
    low.set(v, next++)
    stack.push(v)
    onStack.add(v)
    for (const w of edges.get(v) ?? []) {
      if (!edges.has(w)) continue
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) === index.get(v)) {
      const group: Array<string> = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        group.push(w)
      } while (w !== v)
      if (group.length > 1 || (edges.get(v) ?? []).includes(v)) found.push(group.sort())
    }
  }
  for (const v of edges.keys()) if (!index.has(v)) visit(v)
  return found
}

describe("import rules (DESIGN.md)", () => {
  it("finds the sources and their imports", () => {
    expect(files.length).toBeGreaterThan(100)
    expect(graph.get("src/main.ts")).toContain("src/cli/run.ts")
  })

  it("every import follows the layer arrows", () => {
    const broken = [...graph].flatMap(([from, tos]) =>
      tos.flatMap((to) => {
        const why = violation(from, to)
        return why === undefined ? [] : [`${from} → ${to}: ${why}`]
      })
    )
    expect(broken).toEqual([])
  })

  it("no import cycles in src/ and sim/", () => {
    expect(cyclesOf(staticGraph).map((group) => group.join(" ↔ "))).toEqual([])
  })

  it("the checks catch what they are for", () => {
    expect(violation("src/web/runs.ts", "src/cli/stage3.ts")).toMatch(/web\/ never imports cli/)
    expect(violation("src/cli/serve.ts", "src/web/server.ts")).toMatch(/cli\/ never imports web/)
    expect(violation("src/main.ts", "src/web/server.ts")).toBeUndefined()
    expect(violation("src/inventory/x.ts", "src/stages/friendlyName.ts")).toMatch(/arrows point down/)
    expect(violation("src/factory/demo.ts", "sim/esp/index.ts")).toMatch(/sim and demo subcommands/)
    expect(violation("src/cli/demo/factoryLine.ts", "sim/esp/index.ts")).toBeUndefined()
    expect(violation("src/cli/simulators.ts", "sim/esp/index.ts")).toBeUndefined()
    expect(violation("sim/esp/rom.ts", "src/stages/stage3.ts")).toMatch(/sim\/ may use/)
    expect(violation("src/app/stage3.ts", "src/stages/stage3.ts")).toBeUndefined()
    expect(
      importsOf(
        "src/a/b.ts",
        'import type { X } from "../c/d.js"\nexport { y } from "./e.js"\nconst m = import("./f.js")\nimport "../g.js"'
      )
    ).toEqual(["src/c/d.ts", "src/a/e.ts", "src/a/f.ts", "src/g.ts"])
    const cyclic = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a"]],
      ["d", ["a"]]
    ])
    expect(cyclesOf(cyclic)).toEqual([["a", "b", "c"]])
  })
})
