import { Path } from "@effect/platform"
import { mcuOptionsOf } from "../flash/families.js"
import { Clock, Duration, Effect, Option, Ref, Schedule } from "effect"
import type { OperatorError } from "../domain/errors/base.js"
import { FactoryConfigInvalid } from "../domain/errors/factory.js"
import { type DetectedBoard, Flasher, type SessionOptions } from "../flash/Flasher.js"
import { resolveAmong } from "../serial/resolvePort.js"
import { type PortInfo, SerialPorts } from "../serial/SerialPorts.js"
import { type BoardJob, processBoard } from "./board.js"
import type { Say } from "./boardSteps.js"
import type { Station } from "./config.js"
import { checkFirmwareSize, loadImages } from "./gates.js"
import { deviceIdOf } from "./identity.js"
import { boardLine } from "./lines.js"
import type { FactoryConfig, ResolvedBoardConfig } from "./loadConfig.js"
import { FactoryLogFile } from "./log.js"
import { makeRecordWriter, timeStamp } from "./records.js"
import { type BatchReport, buildBatchReport, writeBatchReport } from "./report.js"
import type { BoardResult, DetectResult } from "./result.js"
import { RunOutput } from "../runtime/RunOutput.js"
import { RecordStore } from "../store/RecordStore.js"
import { attemptKeyOf, boardRow } from "./storeRecord.js"

export interface LineOptions {
  readonly config: FactoryConfig
  /** `--station ID`: only this station. */
  readonly station?: string | undefined
  /** `--before`: overrides every board config's reset_mode. */
  readonly before?: SessionOptions["before"] | undefined
  /** `--baud`: overrides every board config's `baud`. */
  readonly baud?: number | undefined
  /** `--no-stub`: ESP boards stay with the ROM loader (esptool's --no-stub). */
  readonly noStub?: boolean | undefined
  /** `--retry-failed`: only these ports (by station and selector or resolved path). */
  readonly ports?: ReadonlyArray<{ readonly station: string; readonly port: string }> | undefined
}

export interface StationPort {
  readonly station: Station
  readonly board: ResolvedBoardConfig
  readonly selector: string
  /** Resolved path, or why the selector matched nothing. */
  readonly port: string
  readonly problem?: OperatorError | undefined
}

/** The stations to run (all, or `--station`), each port resolved to a path. */
export const selectPorts = (options: LineOptions) =>
  Effect.gen(function* () {
    const { config } = options
    const stations = options.station === undefined ? config.stations : config.stations.filter((s) => s.station_id === options.station)
    if (stations.length === 0) {
      return yield* new FactoryConfigInvalid({
        file: config.file,
        field: "--station",
        problem: `no station "${options.station}"`,
        fix: `use one of: ${config.stations.map((s) => s.station_id).join(", ")}`
      })
    }
    // Listing is only needed for USB serial / VID:PID selectors; plain paths (ptys too) are used as given.
    const needsList = stations.some((s) => s.ports.some((p) => !p.startsWith("/")))
    const listed: ReadonlyArray<PortInfo> = needsList ? yield* (yield* SerialPorts).list : []
    const out: Array<StationPort> = []
    for (const station of stations) {
      for (const [i, selector] of station.ports.entries()) {
        const board = config.boards[station.portBoardTypes[i]!]!
        const resolved = yield* Effect.either(resolveAmong(selector, listed))
        out.push(
          resolved._tag === "Right"
            ? { station, board, selector, port: resolved.right }
            : { station, board, selector, port: selector, problem: resolved.left }
        )
      }
    }
    const wanted = options.ports
    if (wanted !== undefined) {
      const kept = out.filter((p) => wanted.some((w) => w.station === p.station.station_id && (w.port === p.port || w.port === p.selector)))
      if (kept.length === 0) {
        return yield* new FactoryConfigInvalid({
          file: config.file,
          field: "stations[].ports",
          problem: `none of the failed ports (${wanted.map((w) => `${w.station} ${w.port}`).join(", ")}) is in this config`,
          fix: "run the retry with the factory config of that batch"
        })
      }
      out.splice(0, out.length, ...kept)
    }
    const paths = out.filter((p) => !p.problem).map((p) => p.port)
    const twice = paths.find((p, i) => paths.indexOf(p) !== i)
    if (twice !== undefined) {
      return yield* new FactoryConfigInvalid({
        file: config.file,
        field: "stations[].ports",
        problem: `two selectors resolve to the same port ${twice}`,
        fix: "each physical port belongs to one station once; fix the serial number / VID:PID selectors"
      })
    }
    return out
  })

const sessionOptions = (options: LineOptions, board: ResolvedBoardConfig): SessionOptions => ({
  baudRate: options.baud ?? board.config.baud,
  flashBaudRate: board.config.flash_baud,
  before: options.before ?? board.config.reset_mode,
  connectAttempts: board.config.connect_attempts,
  stub: options.noStub === true ? false : undefined,
  mcu: mcuOptionsOf(board.config)
})

export type { DetectResult } from "./result.js"

/** `--test-mode`: connect to each port's bootloader and report what is there; writes nothing. */
export const detectAll = (options: LineOptions) =>
  Effect.gen(function* () {
    const ports = yield* selectPorts(options)
    const flasher = yield* Flasher
    return yield* Effect.forEach(
      ports,
      (p): Effect.Effect<DetectResult> =>
        p.problem
          ? Effect.succeed({ station: p.station.station_id, port: p.selector, problem: p.problem })
          : Effect.scoped(
              Effect.gen(function* () {
                const service = yield* flasher.forPlatform(p.board.platform)
                const session = yield* service.connect(p.port, p.board.platform, sessionOptions(options, p.board))
                return { station: p.station.station_id, port: p.port, board: session.board }
              })
            ).pipe(Effect.catchAll((problem) => Effect.succeed({ station: p.station.station_id, port: p.port, problem }))),
      { concurrency: "unbounded" }
    )
  })

export interface BatchOptions extends LineOptions {
  /** Boards to process in total; default: one per selected port. */
  readonly batchSize?: number | undefined
  /** After its first board, how long a port waits for the next (different) board; 0: do not wait. */
  readonly swapTimeout?: Duration.DurationInput | undefined
  /** Project root: var/records, var/reports live below it. */
  readonly root: string
  readonly batchId?: string | undefined
  readonly retryBase?: Duration.DurationInput | undefined
  /**
   * One result line per board as it finishes (`● <id> @ <station> <port> - PASS …`),
   * record paths shown relative to `relativeTo`; left out (`--json`): no lines.
   */
  readonly boardLines?: { readonly relativeTo: string } | undefined
  /** `--qr`: each board's label in block characters among the results. */
  readonly printQr?: boolean | undefined
}

export interface BatchOutcome {
  readonly results: ReadonlyArray<BoardResult>
  readonly report: BatchReport
  readonly reportFile: string
  readonly recordFiles: ReadonlyArray<string>
  readonly recordErrors: ReadonlyArray<OperatorError>
}

/**
 * The batch. Every selected port works in parallel; a port takes boards until
 * the batch has `batchSize` of them: its first board right away, each next one
 * once a board with another identity answers on it (the operator swapped it),
 * waiting up to `swapTimeout`. Per-board failures never stop the other ports.
 * The ports' phases, the board lines and the QR labels go to the RunOutput in
 * context (one row per port where it has a per-subject display); what
 * happened, to the factory log (FactoryLogFile).
 */
export const runBatch = (options: BatchOptions) =>
  Effect.gen(function* () {
    const path = yield* Path.Path
    const { config } = options
    const ports = yield* selectPorts(options)
    const boards = [...new Map(ports.map((p) => [p.board.name, p.board])).values()]
    const images = yield* loadImages(config, boards)
    // Gate: nothing has been opened yet; a too-large image stops the whole batch here.
    yield* checkFirmwareSize(config, boards, images)

    const startedAt = new Date(yield* Clock.currentTimeMillis)
    const batchId = options.batchId ?? `batch-${timeStamp(startedAt)}`
    const recordsDir = path.join(options.root, "var", "records")
    const records = yield* makeRecordWriter(recordsDir, options.root)
    const remaining = yield* Ref.make(options.batchSize ?? ports.length)
    const seen = yield* Ref.make(new Set<string>())
    const results = yield* Ref.make<ReadonlyArray<BoardResult>>([])
    const recordFiles = yield* Ref.make(new Set<string>())
    const recordErrors = yield* Ref.make<ReadonlyArray<OperatorError>>([])
    const flasher = yield* Flasher
    const log = yield* FactoryLogFile
    const output = yield* RunOutput
    // The shared store, when the CLI provides one (PostgreSQL); the files above are written either way.
    const store = Option.getOrUndefined(yield* Effect.serviceOption(RecordStore))
    const progress = output.subjects(ports.map((p) => ({ id: p.port, label: `${p.station.station_id} ${p.port}` })))
    /** A port's phase: its row, and the shared store's live view. */
    const sayOn =
      (p: StationPort): Say =>
      (phase, fraction) =>
        Effect.sync(() => {
          store?.stepChanged(p.station.station_id, p.port, phase)
          progress.update(p.port, phase, fraction)
        })
    const boardLines = options.boardLines
    const printLine = (result: BoardResult) =>
      boardLines
        ? output.result(boardLine(result, options.root, (file) => path.relative(boardLines.relativeTo, file), output.color))
        : Effect.void
    const stationIds = [...new Set(ports.map((p) => p.station.station_id))]
    if (store)
      yield* store.batchStarted({ batchId, stationIds, configFile: config.file, requested: options.batchSize ?? ports.length, startedAt })
    const claim = Ref.modify(remaining, (n) => (n > 0 ? [true, n - 1] : [false, n]))

    const finish = (result: BoardResult, attemptKey: string) =>
      Effect.gen(function* () {
        if (result.identity)
          yield* Ref.update(seen, (s) => new Set([...s, deviceIdOf({ platform: result.platform, identity: result.identity! })]))
        yield* Ref.update(results, (all) => [...all, result])
        yield* records.append(result).pipe(
          Effect.tap((file) => Ref.update(recordFiles, (s) => new Set([...s, file]))),
          Effect.catchAll((error) => Ref.update(recordErrors, (all) => [...all, error]).pipe(Effect.zipRight(log.error(error.message))))
        )
        if (store) yield* store.boardFinished(boardRow(result, attemptKey, (file) => path.relative(options.root, file)))
        yield* printLine(result)
      })

    /** Polls the port until a board not yet seen in this batch answers, or the swap timeout passes. */
    const awaitNextBoard = (p: StationPort) =>
      Effect.gen(function* () {
        yield* sayOn(p)("waiting for the next board", 0)
        const probe = Effect.scoped(
          Effect.gen(function* () {
            const service = yield* flasher.forPlatform(p.board.platform)
            const session = yield* service.connect(p.port, p.board.platform, sessionOptions(options, p.board))
            const known = (yield* Ref.get(seen)).has(deviceIdOf(session.board))
            return known ? Option.none() : Option.some(session.board)
          })
        ).pipe(
          Effect.orElseSucceed(() => Option.none<DetectedBoard>()),
          Effect.flatMap((found) => (Option.isSome(found) ? Effect.succeed(found) : Effect.fail("no new board" as const)))
        )
        const limit = Duration.toMillis(Duration.decode(options.swapTimeout ?? Duration.seconds(60)))
        if (limit <= 0) return false
        const found = yield* probe.pipe(
          Effect.retry(Schedule.spaced(Duration.seconds(1))),
          Effect.timeoutTo({ duration: Duration.millis(limit), onTimeout: () => Option.none<DetectedBoard>(), onSuccess: (o) => o }),
          Effect.orElseSucceed(() => Option.none<DetectedBoard>())
        )
        return Option.isSome(found)
      })

    const job = (p: StationPort): BoardJob => ({
      batchId,
      stationId: p.station.station_id,
      port: p.port,
      board: p.board,
      regions: images.get(p.board.name)!,
      tests: config.tests,
      maxFlashSeconds: config.raw.quality_gates.max_flash_time,
      maxAttempts: config.raw.quality_gates.max_retry_attempts,
      session: sessionOptions(options, p.board),
      qrDir: path.join(recordsDir, "qr"),
      retryBase: options.retryBase,
      printQr: options.printQr
    })

    const worker = (p: StationPort) =>
      Effect.gen(function* () {
        let seq = 0
        const nextKey = () => attemptKeyOf(batchId, p.station.station_id, p.port, startedAt.getTime(), ++seq)
        if (p.problem) {
          if (!(yield* claim)) return
          const now = new Date(yield* Clock.currentTimeMillis).toISOString()
          return yield* finish(
            {
              batchId,
              stationId: p.station.station_id,
              port: p.selector,
              boardConfig: p.board.name,
              platform: p.board.platform,
              boardModel: p.board.config.board_model,
              firmwareVersion: p.board.config.firmware_version,
              status: "fail",
              failure: { step: "port", code: p.problem.code, message: p.problem.message, hint: p.problem.hint },
              totalSeconds: 0,
              attempts: 0,
              retries: 0,
              wireBytes: 0,
              tests: [],
              startedAt: now,
              finishedAt: now
            },
            nextKey()
          )
        }
        let first = true
        while (yield* claim) {
          if (!first && !(yield* awaitNextBoard(p))) {
            yield* Ref.update(remaining, (n) => n + 1)
            yield* sayOn(p)("idle (no new board)")
            return
          }
          first = false
          const attemptKey = nextKey()
          if (store) yield* store.boardStarted({ attemptKey, batchId, stationId: p.station.station_id, port: p.port })
          yield* finish(yield* processBoard(job(p), sayOn(p)), attemptKey)
        }
      })

    yield* log.info(
      `batch ${batchId}: ${ports.length} port(s) on ${new Set(ports.map((p) => p.station.station_id)).size} station(s), batch size ${options.batchSize ?? ports.length}`
    )
    // The rows go also when the batch stops early (a lost database): later lines must not redraw them.
    yield* Effect.forEach(ports, worker, { concurrency: "unbounded", discard: true }).pipe(
      Effect.ensuring(Effect.sync(() => progress.finish()))
    )

    const finishedAt = new Date(yield* Clock.currentTimeMillis)
    const all = yield* Ref.get(results)
    const report = buildBatchReport(
      {
        batchId,
        configFile: config.file,
        requested: options.batchSize ?? ports.length,
        startedAt,
        finishedAt,
        stations: [...new Set(ports.map((p) => p.station.station_id))]
      },
      all
    )
    if (store) yield* store.batchFinished({ batchId, stationIds, finishedAt, report })
    const reportFile = yield* writeBatchReport(path.join(options.root, "var", "reports"), report, startedAt)
    yield* log.info(
      `batch ${batchId} done: total=${report.totals.total} passed=${report.totals.passed} failed=${report.totals.failed} queued=${report.totals.queued} report=${path.relative(options.root, reportFile)}`
    )
    const outcome: BatchOutcome = {
      results: all,
      report,
      reportFile,
      recordFiles: [...(yield* Ref.get(recordFiles))],
      recordErrors: yield* Ref.get(recordErrors)
    }
    return outcome
  })
