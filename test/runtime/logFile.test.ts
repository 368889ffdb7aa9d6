import { FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, LogLevel, Redacted } from "effect"
import { fileLoggerLayer, LogFile, logFileLayer, logLevelFromName } from "../../src/runtime/logFile.js"

const tempLog = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const dir = yield* fs.makeTempDirectoryScoped({ prefix: "log-" })
  return { fs, dir, file: `${dir}/var/log/stage3.log` }
})

describe("log file", () => {
  it.scopedLive("appends timestamped lines, creating the directory", () =>
    Effect.gen(function* () {
      const { file, fs } = yield* tempLog
      const log = yield* Effect.provide(LogFile, logFileLayer({ path: file, maxFileSize: 10_000, backupCount: 2 }))
      yield* log.write("stage3 started")
      yield* log.write("device offline\nsecond line", LogLevel.Warning)
      const lines = (yield* fs.readFileString(file)).split("\n")
      expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  stage3 started$/)
      expect(lines[1]).toMatch(/Z WARN  device offline$/)
      expect(lines[2]).toBe("    second line")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive("rotates by size into file.1 … file.N and drops the oldest", () =>
    Effect.gen(function* () {
      const { file, fs } = yield* tempLog
      const log = yield* Effect.provide(LogFile, logFileLayer({ path: file, maxFileSize: 300, backupCount: 2 }))
      for (let i = 0; i < 20; i++) yield* log.append(`line ${String(i).padStart(2, "0")} ${"x".repeat(40)}\n`)
      const current = yield* fs.readFileString(file)
      const first = yield* fs.readFileString(`${file}.1`)
      const second = yield* fs.readFileString(`${file}.2`)
      expect(yield* fs.exists(`${file}.3`)).toBe(false)
      for (const text of [current, first, second]) expect(Buffer.byteLength(text)).toBeLessThanOrEqual(300)
      // Newest in the file, then .1, then .2; nothing torn; the oldest lines are gone.
      expect(current).toContain("line 19")
      const all = second + first + current
      const numbers = [...all.matchAll(/line (\d\d)/g)].map((m) => Number(m[1]))
      expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => 20 - numbers.length + i))
      expect(numbers[0]).toBeGreaterThan(0)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive("backup_count 0 truncates instead of keeping old files", () =>
    Effect.gen(function* () {
      const { file, fs } = yield* tempLog
      const log = yield* Effect.provide(LogFile, logFileLayer({ path: file, maxFileSize: 100, backupCount: 0 }))
      for (let i = 0; i < 10; i++) yield* log.append(`entry ${i} ${"y".repeat(30)}\n`)
      expect(yield* fs.exists(`${file}.1`)).toBe(false)
      expect(Buffer.byteLength(yield* fs.readFileString(file))).toBeLessThanOrEqual(100)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive("the file logger takes Effect.log* off the console, honours the level, and never writes a secret", () =>
    Effect.gen(function* () {
      const { file, fs } = yield* tempLog
      const secret = Redacted.make("wifi-pass-4711")
      const written: Array<string> = []
      const originalLog = console.log
      console.log = (...args: Array<unknown>) => void written.push(args.join(" "))
      yield* Effect.gen(function* () {
        yield* Effect.logDebug("too detailed")
        yield* Effect.logInfo("joining", secret, { password: secret, ssid: "Prod" })
        yield* Effect.logWarning("device", "A1B2C3D4E5F6", "offline").pipe(Effect.annotateLogs("token", secret))
        yield* Effect.logError("failed").pipe(Effect.withLogSpan("rpc"))
      }).pipe(
        Effect.provide(fileLoggerLayer({ path: file, maxFileSize: 10_000, backupCount: 1, minimumLevel: logLevelFromName("info") })),
        Effect.ensuring(Effect.sync(() => (console.log = originalLog)))
      )
      const text = yield* fs.readFileString(file)
      expect(written).toEqual([])
      expect(text).not.toContain("too detailed")
      expect(text).toMatch(/INFO  joining <redacted> \{"password":"<redacted>","ssid":"Prod"\}\n/)
      expect(text).toMatch(/WARN  device A1B2C3D4E5F6 offline token=<redacted>\n/)
      expect(text).toMatch(/ERROR failed rpc=\d+ms\n/)
      expect(text).not.toContain("wifi-pass-4711")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive("every queued line is on disk once the logger's scope closes", () =>
    Effect.gen(function* () {
      const { file, fs } = yield* tempLog
      yield* Effect.forEach(
        Array.from({ length: 200 }, (_, i) => i),
        (i) => Effect.log(`entry ${i}`),
        {
          concurrency: 8
        }
      ).pipe(Effect.provide(fileLoggerLayer({ path: file, maxFileSize: 1_000_000, backupCount: 1 })))
      const lines = (yield* fs.readFileString(file)).trim().split("\n")
      expect(lines).toHaveLength(200)
    }).pipe(Effect.provide(NodeContext.layer))
  )
})

describe("log file failures", () => {
  it.scopedLive("a write that fails is reported through onError and does not fail the caller", () =>
    Effect.gen(function* () {
      const { dir, fs } = yield* tempLog
      yield* fs.makeDirectory(`${dir}/blocked.log`)
      const reasons: Array<string> = []
      const log = yield* Effect.provide(
        LogFile,
        logFileLayer({
          path: `${dir}/blocked.log`,
          maxFileSize: 1000,
          backupCount: 1,
          onError: (reason) => Effect.sync(() => void reasons.push(reason))
        })
      )
      yield* log.write("lost line")
      expect(reasons).toHaveLength(1)
      expect(reasons[0]).toContain("is not a regular file")
    }).pipe(Effect.provide(NodeContext.layer))
  )
})

describe("log file under a regular file", () => {
  it.scopedLive("reports ENOTDIR-style failures through onError", () =>
    Effect.gen(function* () {
      const { dir, fs } = yield* tempLog
      yield* fs.writeFileString(`${dir}/plain`, "x")
      const reasons: Array<string> = []
      const log = yield* Effect.provide(
        LogFile,
        logFileLayer({
          path: `${dir}/plain/s.log`,
          maxFileSize: 1000,
          backupCount: 1,
          onError: (r) => Effect.sync(() => void reasons.push(r))
        })
      )
      yield* log.write("a")
      yield* log.write("b")
      expect(reasons).toHaveLength(2)
      expect(yield* fs.readFileString(`${dir}/plain`)).toBe("x")
    }).pipe(Effect.provide(NodeContext.layer))
  )
})
