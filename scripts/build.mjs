// Bundles the CLI into dist/: one self-contained file per choice that
// src/cli/select.ts can make — one per subcommand (`stage3.cjs` holds the root
// and Stage 3 only), `version.cjs` (the root alone, for `--version`) and
// `all.cjs` (every subcommand: help, completions, mistyped names) — plus
// `select.mjs`, with which bin/provision.mjs picks the file to load. Each file
// is tree-shaken for its own command, so a subcommand loads only its code.
// bin/codeCache.mjs runs the chosen file with V8's code cache beside it.
//
// Pure-JavaScript dependencies (the Effect packages, yaml, qrcode, …) are
// bundled: loading whole packages from node_modules is what made start-up
// slow. External stays only what cannot be bundled: serialport (its native
// binding is found relative to its own package directory).
//
// dist/build.json (written last) lists the outputs; bin/provision.mjs runs the
// bundle only when it is complete and newer than every source file.
import { build, transformSync } from "esbuild"
import { execFileSync } from "node:child_process"
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const outdir = join(root, "dist")
const cli = join(root, "src", "cli")

export const external = ["serialport", "@serialport/*"]

const selectSource = transformSync(readFileSync(join(cli, "select.ts"), "utf8"), { loader: "ts", format: "esm", target: "node20" }).code
const { SUBCOMMANDS } = await import(`data:text/javascript;base64,${Buffer.from(selectSource).toString("base64")}`)

/**
 * Entry source of a bundle with these subcommands; it runs from dist/, so
 * `../package.json` is the project's. Subcommands marked `web` get the web
 * server here, as src/main.ts does (cli/ never imports web/).
 */
const entrySource = (names) =>
  [
    `import { createRequire } from "node:module"`,
    `import { runCli } from "./run.ts"`,
    ...(names.some((name) => SUBCOMMANDS[name].web) ? [`import { provideWebServer } from "../web/server.ts"`] : []),
    ...names.map((name, i) => `import { ${SUBCOMMANDS[name].export} as c${i} } from "./${SUBCOMMANDS[name].module}.ts"`),
    `runCli([${names.map((name, i) => (SUBCOMMANDS[name].web ? `provideWebServer(c${i})` : `c${i}`)).join(", ")}], createRequire(import.meta.url)("../package.json").version)`
  ].join("\n")

const bundles = {
  version: [],
  all: Object.keys(SUBCOMMANDS),
  ...Object.fromEntries(Object.keys(SUBCOMMANDS).map((name) => [name, [name]]))
}

const ENTRY = "provision-entry:"
const entries = {
  name: "provision-entries",
  setup(build) {
    build.onResolve({ filter: /^provision-entry:/ }, (args) => ({ path: args.path.slice(ENTRY.length), namespace: "provision-entry" }))
    build.onLoad({ filter: /.*/, namespace: "provision-entry" }, (args) => ({
      contents: entrySource(bundles[args.path]),
      loader: "ts",
      resolveDir: cli
    }))
  }
}

rmSync(outdir, { recursive: true, force: true })
mkdirSync(outdir, { recursive: true })
await build({
  entryPoints: Object.fromEntries(Object.keys(bundles).map((name) => [name, `${ENTRY}${name}`])),
  plugins: [entries],
  bundle: true,
  platform: "node",
  // CommonJS, not ESM: bin/codeCache.mjs runs each bundle through vm.Script with a V8 code cache, which Node 20
  // offers for scripts only. The sources are ESM; `import.meta.url` becomes the bundle file's URL (the banner).
  format: "cjs",
  target: "node20",
  external,
  outdir,
  outExtension: { ".js": ".cjs" },
  define: { "import.meta.url": "__provisionBundleUrl" },
  // Less text for Node to parse on every start (the Pi pays it per cron run).
  // Identifiers keep their names, so stack traces and class names stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  banner: { js: 'const __provisionBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  logLevel: "warning"
})
writeFileSync(join(outdir, "select.mjs"), selectSource)
// `provision --version` runs from cron and scripts many times a day: the text
// the root command prints is taken from the bundle itself once, here, and
// bin/provision.mjs prints it without loading any bundle (same bytes, same
// exit code 0, and still only when the build is fresh).
const versionText = execFileSync(process.execPath, [join(outdir, "version.cjs"), "--version"], { encoding: "utf8" })
writeFileSync(
  join(outdir, "build.json"),
  `${JSON.stringify({ bundles: Object.fromEntries(Object.keys(bundles).map((name) => [name, `${name}.cjs`])), versionText }, null, 2)}\n`
)
