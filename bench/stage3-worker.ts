/**
 * The measured side of `npm run bench:stage3`: runs Stage 3 in its own
 * process (so its peak RSS is Stage 3's alone) and prints one JSON line:
 * `{"wall_s","rss_mb","total","ok","failed","ota":{status:count}}`.
 * Usage: node --import tsx bench/stage3-worker.ts <config.yaml> <concurrency>
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect, Option } from "effect"
import { defaultStage3Flags, stage3Layer, stage3Program } from "../src/app/stage3.js"
import * as RunOutput from "../src/runtime/RunOutput.js"

const [configFile, concurrency] = process.argv.slice(2)
if (configFile === undefined) {
  process.stderr.write("usage: stage3-worker <config.yaml> [concurrency]\n")
  process.exit(2)
}

const ota = new Map<string, number>()
let summary: { total: number; ok: number; failed: number } | undefined

const program = Effect.gen(function* () {
  const started = performance.now()
  const code = yield* stage3Program({
    ...defaultStage3Flags,
    dryRun: true,
    json: true,
    config: Option.some(configFile),
    concurrency: concurrency === undefined ? Option.none() : Option.some(Number(concurrency))
  }).pipe(
    Effect.provide(
      RunOutput.layer({
        // Count instead of printing 10,000 lines.
        out: (line) => {
          const object = JSON.parse(line) as { type: string; ota_status?: string; total: number; ok: number; failed: number }
          if (object.type === "device") ota.set(object.ota_status!, (ota.get(object.ota_status!) ?? 0) + 1)
          else summary = object
        },
        err: (line) => void process.stderr.write(`${line}\n`)
      })
    )
  )
  const wall = (performance.now() - started) / 1000
  const rssMb = process.resourceUsage().maxRSS / 1024
  const heapMb = process.memoryUsage().heapUsed / 1048576
  process.stdout.write(
    `${JSON.stringify({ code, wall_s: wall, rss_mb: rssMb, heap_end_mb: heapMb, ...summary, ota: Object.fromEntries(ota) })}\n`
  )
}).pipe(Effect.provide(stage3Layer), Effect.provide(NodeContext.layer))

NodeRuntime.runMain(program)
