/**
 * `provision flash --retry-failed REPORT.json`: the ports whose boards failed
 * in that batch (the report's `failures`, written by report.ts), to run a new
 * batch on just those.
 */
import { FileSystem } from "@effect/platform"
import { Effect, Either, Schema } from "effect"
import { FactoryConfigInvalid } from "../domain/errors/factory.js"
import { BatchReport } from "./report.js"

export interface FailedPort {
  readonly station: string
  readonly port: string
}

/** The part of a batch report this reads: its `failures`, as the report's one Schema (report.ts) defines them. */
const Report = Schema.Struct({ failures: BatchReport.fields.failures })
const decode = Schema.decodeUnknownEither(Schema.parseJson(Report))

export const failedPorts = (file: string): Effect.Effect<ReadonlyArray<FailedPort>, FactoryConfigInvalid, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const invalid = (problem: string) =>
      new FactoryConfigInvalid({
        file,
        field: "--retry-failed",
        problem,
        fix: "pass a batch report written by `provision flash` (var/reports/batch_report_*.json)"
      })
    const text = yield* Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(file)).pipe(
      Effect.mapError((e) => invalid(`cannot read it: ${e._tag === "SystemError" ? e.reason : e.message}`))
    )
    const report = yield* Either.mapLeft(decode(text), () => invalid("not a batch report (no `failures` list of station_id/port)"))
    const seen = new Set<string>()
    return report.failures.flatMap((f) => {
      const key = `${f.station_id}\u0000${f.port}`
      if (seen.has(key)) return []
      seen.add(key)
      return [{ station: f.station_id, port: f.port }]
    })
  })
