import { FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { appendWithHeader } from "../../src/runtime/safeWrite.js"

const HEADER = "timestamp,batch_id,device_id\n"

describe("appendWithHeader (the day's records CSV)", () => {
  it.scopedLive(
    "writers starting the same new file at once (each its own, as station processes sharing a folder) leave one header, first, and every row",
    () =>
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "fp-csv-" })
        const file = `${dir}/var/records/factory_records_20261206.csv`
        // No lock between them: each sees the file missing before any has made it.
        yield* Effect.forEach(
          Array.from({ length: 24 }, (_, n) => n),
          (n) => appendWithHeader(file, HEADER, `t,b,device-${n}\n`),
          { concurrency: "unbounded", discard: true }
        )
        const lines = (yield* fs.readFileString(file)).trimEnd().split("\n")
        expect(lines[0]).toBe(HEADER.trimEnd())
        expect(lines.filter((line) => line === HEADER.trimEnd())).toHaveLength(1)
        expect(lines.slice(1).sort()).toEqual(Array.from({ length: 24 }, (_, n) => `t,b,device-${n}`).sort())
        // The header-only files the losers made are gone.
        expect(yield* fs.readDirectory(`${dir}/var/records`)).toEqual(["factory_records_20261206.csv"])
      }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive("an existing file gets rows only; an existing empty file gets the header with its first row", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "fp-csv-" })
      const file = `${dir}/day.csv`
      yield* fs.writeFileString(file, "")
      yield* appendWithHeader(file, HEADER, "t,b,one\n")
      yield* appendWithHeader(file, HEADER, "t,b,two\n")
      expect(yield* fs.readFileString(file)).toBe(`${HEADER}t,b,one\nt,b,two\n`)
    }).pipe(Effect.provide(NodeContext.layer))
  )
})
