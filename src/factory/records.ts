import { Path } from "@effect/platform"
import { csvCell, csvLine } from "../domain/csv.js"
import { Effect } from "effect"
import { displayIdentity } from "./identity.js"
import { appendWithHeader } from "../runtime/safeWrite.js"
import type { BoardResult } from "./result.js"

export const CSV_COLUMNS = [
  "timestamp",
  "batch_id",
  "device_id",
  "mac",
  "identity_kind",
  "board",
  "platform",
  "chip",
  "firmware_version",
  "flash_time_s",
  "station_id",
  "port",
  "test_results",
  "qr_code",
  "registration",
  "status",
  "error_code",
  "retries"
] as const

/** RFC 4180 quoting: only fields holding a comma, quote or line break are quoted (domain/csv.ts). */
export const csvField = csvCell

export const csvRow = (result: BoardResult, relative: (file: string) => string): string => {
  const fields: Record<(typeof CSV_COLUMNS)[number], string> = {
    timestamp: result.finishedAt,
    batch_id: result.batchId,
    device_id: result.deviceId ?? "",
    mac: result.identity ? displayIdentity({ identity: result.identity }) : "",
    identity_kind: result.identity?.kind ?? "",
    board: result.boardConfig,
    platform: result.platform,
    chip: result.chip ?? "",
    firmware_version: result.firmwareVersion,
    flash_time_s: result.flashSeconds !== undefined ? result.flashSeconds.toFixed(2) : "",
    station_id: result.stationId,
    port: result.port,
    test_results: result.tests.map((test) => `${test.name}=${test.passed ? "pass" : "fail"}`).join(";"),
    qr_code: result.qr ? relative(result.qr.png) : "",
    registration: result.registration ?? "",
    status: result.status,
    error_code: result.failure?.code ?? "",
    retries: String(result.retries)
  }
  return csvLine(CSV_COLUMNS.map((column) => fields[column]))
}

const pad = (n: number) => String(n).padStart(2, "0")
export const dayStamp = (date: Date) => `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}`
export const timeStamp = (date: Date) => `${dayStamp(date)}_${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`

/**
 * `factory_records_YYYYMMDD.csv`, appended one row per board as boards finish
 * (a crash mid-batch keeps every finished board); the header goes in once,
 * when the file is new, also when station processes sharing the folder start
 * the day's file at the same moment (appendWithHeader).
 */
export const makeRecordWriter = (dir: string, projectRoot: string) =>
  Effect.gen(function* () {
    const path = yield* Path.Path
    const context = yield* Effect.context<Path.Path | import("@effect/platform").FileSystem.FileSystem>()
    const lock = yield* Effect.makeSemaphore(1)
    const relative = (file: string) => path.relative(projectRoot, file)
    const fileFor = (date: Date) => path.join(dir, `factory_records_${dayStamp(date)}.csv`)
    const append = (result: BoardResult) =>
      lock
        .withPermits(1)(
          Effect.gen(function* () {
            const file = fileFor(new Date(result.finishedAt))
            yield* appendWithHeader(file, `${CSV_COLUMNS.join(",")}\n`, `${csvRow(result, relative)}\n`)
            return file
          })
        )
        .pipe(Effect.provide(context))
    return { append, fileFor }
  })
