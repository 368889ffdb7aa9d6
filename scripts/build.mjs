// Bundles the CLI (src/main.ts and the simulators it can start) into one ESM
// file. Dependencies stay external: serialport's native binding and the
// Effect packages load from node_modules as usual.
import { buildSync } from "esbuild"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
buildSync({
  entryPoints: [join(root, "src", "main.ts")],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  outfile: join(root, "dist", "provision.mjs"),
  logLevel: "warning"
})
