// The factory page's data: batch reports (var/reports/*.json), device
// records (var/records/*.csv) and the QR label PNGs those records point to.
// Read only; a file that cannot be parsed is listed for download but skipped.
import { FileSystem, Path } from "@effect/platform"
import { Effect, Either } from "effect"
import { parseCsv } from "../domain/csv.js"
import { decodeBatchReport } from "../factory/report.js"

export const REPORTS_DIR = "var/reports"
export const RECORDS_DIR = "var/records"

export interface FactoryOverview {
  readonly reports: ReadonlyArray<{
    readonly file: string
    readonly batchId: string
    readonly finishedAt: string
    readonly total: number
    readonly passed: number
    readonly failed: number
    readonly passRate: number | null
  }>
  readonly stations: ReadonlyArray<{ station: string; total: number; passed: number; failed: number; retries: number }>
  readonly records: ReadonlyArray<{
    readonly timestamp: string
    readonly deviceId: string
    readonly mac: string
    readonly board: string
    readonly status: string
    readonly qrSvg: string | undefined
  }>
  readonly files: ReadonlyArray<{ readonly kind: "reports" | "records"; readonly name: string }>
}

/** A file name we serve: no directories, no dot files. */
export const isPlainFileName = (name: string): boolean => /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name)

/**
 * Whether `dir/name` is, links resolved, a regular file inside `dir`: a FIFO
 * would block the reader forever, a link could show data/secrets.yaml.
 */
export const isRegularFileInside = (dir: string, name: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const [root, file] = yield* Effect.all([fs.realPath(dir), fs.realPath(path.join(dir, name))])
    if (!file.startsWith(root + path.sep)) return false
    return (yield* fs.stat(file)).type === "File"
  }).pipe(Effect.orElseSucceed(() => false))

const listDir = (dir: string, suffix: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.readDirectory(dir).pipe(
      Effect.map((names) =>
        names
          .filter((n) => n.endsWith(suffix) && isPlainFileName(n))
          .sort()
          .reverse()
      ),
      Effect.flatMap((names) => Effect.filter(names, (name) => isRegularFileInside(dir, name))),
      Effect.orElseSucceed((): Array<string> => [])
    )
  )

export interface QrIndex {
  /** device id → the recorded PNG path (relative to the project root). */
  readonly [deviceId: string]: string
}

export const loadFactory = (recentReports = 20, recentRecords = 200) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const reportFiles = yield* listDir(REPORTS_DIR, ".json")
    const recordFiles = yield* listDir(RECORDS_DIR, ".csv")
    const reports: Array<FactoryOverview["reports"][number]> = []
    const stations = new Map<string, { station: string; total: number; passed: number; failed: number; retries: number }>()
    for (const file of reportFiles.slice(0, recentReports)) {
      const text = yield* fs.readFileString(path.join(REPORTS_DIR, file)).pipe(Effect.orElseSucceed(() => ""))
      // Decoded with the writer's own Schema (factory/report.ts).
      const report = decodeBatchReport(text)
      if (Either.isLeft(report)) continue
      const r = report.right
      reports.push({
        file,
        batchId: r.batch_id,
        finishedAt: r.finished_at,
        total: r.totals.total,
        passed: r.totals.passed,
        failed: r.totals.failed,
        passRate: r.pass_rate
      })
      for (const [station, s] of Object.entries(r.stations)) {
        const sum = stations.get(station) ?? { station, total: 0, passed: 0, failed: 0, retries: 0 }
        stations.set(station, {
          station,
          total: sum.total + s.total,
          passed: sum.passed + s.passed,
          failed: sum.failed + s.failed,
          retries: sum.retries + s.retries
        })
      }
    }
    const records: Array<FactoryOverview["records"][number]> = []
    const qr: Record<string, string> = {}
    for (const file of recordFiles) {
      if (records.length >= recentRecords) break
      const text = yield* fs.readFileString(path.join(RECORDS_DIR, file)).pipe(Effect.orElseSucceed(() => ""))
      const table = parseCsv(text)
      if (Either.isLeft(table)) continue
      const col = (name: string) => table.right.header.indexOf(name)
      const [ts, id, mac, board, status, code] = ["timestamp", "device_id", "mac", "board", "status", "qr_code"].map(col)
      for (const { cells } of [...table.right.rows].reverse()) {
        if (records.length >= recentRecords) break
        const cell = (i: number | undefined) => (i === undefined || i < 0 ? "" : (cells[i] ?? ""))
        const deviceId = cell(id)
        const png = cell(code)
        const hasQr = deviceId !== "" && /^[a-z0-9-]+$/.test(deviceId) && png.endsWith(".png")
        if (hasQr) qr[deviceId] = png
        records.push({
          timestamp: cell(ts),
          deviceId,
          mac: cell(mac),
          board: cell(board),
          status: cell(status),
          qrSvg: hasQr ? `<img src="/qr/${deviceId}.png" alt="QR label of ${deviceId}" width="96" height="96">` : undefined
        })
      }
    }
    const overview: FactoryOverview = {
      reports,
      stations: [...stations.values()].sort((a, b) => a.station.localeCompare(b.station)),
      records,
      files: [
        ...reportFiles.map((name) => ({ kind: "reports" as const, name })),
        ...recordFiles.map((name) => ({ kind: "records" as const, name }))
      ]
    }
    return { overview, qr: qr as QrIndex }
  })
