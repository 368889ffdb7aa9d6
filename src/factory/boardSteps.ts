// The steps of one board on the line, each an Effect that returns what it
// learnt: connect + flash (retried) → FlashOutcome, boot + device tests →
// TestsOutcome, register → Registered, label → QrLabel. `processBoard`
// (board.ts) runs them in order and builds the BoardResult from their values.
// A failing step is a StepFailed (step, code, message, hint) taken from the
// operator error that stopped it.
import { Clock, Data, Duration, Effect, Ref, Schedule } from "effect"
import type { OperatorError } from "../domain/errors/base.js"
import { isOperatorError } from "../domain/errors/base.js"
import { FlashTimeExceeded, WrongBoardOnPort } from "../domain/errors/factory.js"
import { type DetectedBoard, Flasher, type FlashRegion, type SessionOptions } from "../flash/Flasher.js"
import { RunOutput } from "../runtime/RunOutput.js"
import { SerialPorts } from "../serial/SerialPorts.js"
import type { DeviceTest } from "./config.js"
import { awaitBootBanner, bootNotSeen, ConsoleReader, runDeviceTests } from "./deviceTests.js"
import { type DeviceCredentials, newCredentials } from "./identity.js"
import { FactoryLogFile } from "./log.js"
import type { ResolvedBoardConfig } from "./loadConfig.js"
import { terminalQr, writeQrLabel } from "./qr.js"
import { registerOrQueue, type RegistrationOutcome } from "./register.js"
import type { BoardFailure, TestResult } from "./result.js"

export interface BoardJob {
  readonly batchId: string
  readonly stationId: string
  readonly port: string
  readonly board: ResolvedBoardConfig
  readonly regions: ReadonlyArray<FlashRegion>
  readonly tests: ReadonlyArray<DeviceTest>
  readonly maxFlashSeconds: number
  /** Attempts including the first (quality_gates.max_retry_attempts). */
  readonly maxAttempts: number
  readonly session: SessionOptions
  readonly qrDir: string
  readonly retryBase?: Duration.DurationInput
  /** `--qr`: also print the label in block characters among the results once it is written. */
  readonly printQr?: boolean | undefined
}

/** Tells the operator which phase a port is in (the progress display). */
export type Say = (phase: string, fraction?: number) => Effect.Effect<void>

/** The step of a board that failed, with the operator error's code, message and hint. */
export class StepFailed
  extends Data.TaggedError("StepFailed")<{
    /** connect/flash, test, register, label (the result's `failure.step`). */
    readonly step: string
    readonly code: string
    readonly message: string
    readonly hint: string
  }>
  implements OperatorError
{
  /** A failure of `step`; anything that is not an operator error is a defect of ours and says so. */
  static of(step: string, error: unknown): StepFailed {
    return isOperatorError(error)
      ? new StepFailed({ step, code: error.code, message: error.message, hint: error.hint })
      : new StepFailed({ step, code: "internal", message: String(error), hint: "a defect: report it with the log" })
  }

  get failure(): BoardFailure {
    return { step: this.step, code: this.code, message: this.message, hint: this.hint }
  }
}

const inStep =
  (name: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, StepFailed, R> =>
    Effect.mapError(effect, (error) => StepFailed.of(name, error))

/** Failures worth another attempt: the link or the transfer, not the board or the image. */
const retryable = (error: unknown): boolean =>
  isOperatorError(error) &&
  ["SyncFailed", "FlashTimeout", "VerifyFailed", "ProtocolError", "CommandRejected", "SerialIoError", "BootloaderNack"].includes(error._tag)

/** What connect + flash learnt, also when it gave up (the record keeps the attempts and the chip seen). */
export type FlashOutcome = {
  /** Connect + write attempts made, the first included. */
  readonly attempts: number
  /** Extra attempts by the pipeline plus retries inside the flasher. */
  readonly retries: number
  readonly wireBytes: number
} & (
  | {
      /** The board that answered (after the application started: RP2040 learns its identity only then). */
      readonly detected: DetectedBoard
      /** Connect + write + verify, retries included. */
      readonly flashSeconds: number
      readonly failure: undefined
    }
  | { readonly detected: DetectedBoard | undefined; readonly flashSeconds: undefined; readonly failure: StepFailed }
)

export type FlashJob = Pick<BoardJob, "stationId" | "port" | "regions" | "maxFlashSeconds" | "maxAttempts" | "session" | "retryBase"> & {
  readonly board: Pick<ResolvedBoardConfig, "platform">
}

interface FlashCounts {
  readonly detected: DetectedBoard | undefined
  readonly attempts: number
  readonly flasherRetries: number
  readonly wireBytes: number
}

/**
 * Connect, detect, write every region, start the application; a failure of
 * the link or the transfer is tried again (exponential, jittered, up to
 * `maxAttempts`), all of it bounded by `maxFlashSeconds`.
 */
export const connectAndFlash = (job: FlashJob, say: Say) =>
  Effect.gen(function* () {
    const log = yield* FactoryLogFile
    const counts = yield* Ref.make<FlashCounts>({ detected: undefined, attempts: 0, flasherRetries: 0, wireBytes: 0 })
    const sawBoard = (board: DetectedBoard) => Ref.update(counts, (c) => ({ ...c, detected: board }))
    const total = job.regions.reduce((sum, r) => sum + r.data.length, 0)
    const doneBefore = (name: string) => {
      const index = job.regions.findIndex((r) => r.name === name)
      return job.regions.slice(0, index < 0 ? job.regions.length : index).reduce((sum, r) => sum + r.data.length, 0)
    }

    const attempt = Effect.scoped(
      Effect.gen(function* () {
        const { attempts } = yield* Ref.updateAndGet(counts, (c) => ({ ...c, attempts: c.attempts + 1 }))
        yield* say(attempts > 1 ? `connecting (attempt ${attempts})` : "connecting", 0)
        const flasher = yield* (yield* Flasher).forPlatform(job.board.platform)
        const session = yield* flasher.connect(job.port, job.board.platform, job.session)
        yield* sawBoard(session.board)
        if (session.board.platform !== job.board.platform) {
          return yield* new WrongBoardOnPort({ port: job.port, expected: job.board.platform, detected: session.board.chip })
        }
        const report = yield* session.write(job.regions, (p) =>
          say(`writing ${p.region}`, total > 0 ? (doneBefore(p.region) + p.written) / total : 1)
        )
        yield* Ref.update(counts, (c) => ({
          ...c,
          flasherRetries: c.flasherRetries + report.retries,
          wireBytes: c.wireBytes + report.wireBytes
        }))
        yield* say("starting application", 1)
        yield* session.resetToApp
        // Some families (RP2040) learn the identity only from the running application.
        yield* sawBoard(session.board)
        return session.board
      })
    )
    const schedule = Schedule.exponential(job.retryBase ?? Duration.millis(500), 2).pipe(
      Schedule.jittered,
      Schedule.intersect(Schedule.recurs(Math.max(0, job.maxAttempts - 1)))
    )

    const started = yield* Clock.currentTimeMillis
    const outcome = yield* attempt.pipe(
      Effect.tapError((error) =>
        Ref.get(counts).pipe(
          Effect.flatMap(({ attempts }) =>
            isOperatorError(error) && retryable(error) && attempts < job.maxAttempts
              ? log.warn(`${job.stationId} ${job.port}: attempt ${attempts} failed (${error.code}): ${error.message}; retrying`)
              : Effect.void
          )
        )
      ),
      Effect.retry({ schedule, while: retryable }),
      Effect.timeoutFail({
        duration: Duration.seconds(job.maxFlashSeconds),
        onTimeout: () => new FlashTimeExceeded({ port: job.port, limitSeconds: job.maxFlashSeconds })
      }),
      inStep("flash"),
      Effect.either
    )
    const flashSeconds = ((yield* Clock.currentTimeMillis) - started) / 1000
    const c = yield* Ref.get(counts)
    const tally = { attempts: c.attempts, retries: Math.max(0, c.attempts - 1) + c.flasherRetries, wireBytes: c.wireBytes }
    const result: FlashOutcome =
      outcome._tag === "Right"
        ? { ...tally, detected: outcome.right, flashSeconds, failure: undefined }
        : { ...tally, detected: c.detected, flashSeconds: undefined, failure: outcome.left }
    return result
  })

/** The device tests run (all of them, also after a failure) and the step's failure, if any. */
export interface TestsOutcome {
  readonly results: ReadonlyArray<TestResult>
  readonly failure: StepFailed | undefined
}

/**
 * The flashed image must prove it runs: its boot banner, or (when the banner
 * went by while the flasher held the port) a passing self-test; then every
 * device test over the application console.
 */
export const bootAndTest = (job: BoardJob, say: Say): Effect.Effect<TestsOutcome, never, SerialPorts> =>
  Effect.scoped(
    Effect.gen(function* () {
      const bootTimeoutMs = job.board.config.boot_timeout * 1000
      const conn = yield* (yield* SerialPorts).open(job.port, { baudRate: job.board.config.app_baud })
      const reader = new ConsoleReader(conn)
      // With modem lines, restart the app so its banner arrives while we listen; a pty cannot (the
      // flasher's reboot already started it and its banner went by while the flasher held the port).
      const weReset = job.session.before !== "no_reset"
      if (weReset) {
        yield* conn
          .setSignals({ dtr: false, rts: true })
          .pipe(Effect.zipRight(Effect.sleep(Duration.millis(100))), Effect.zipRight(conn.setSignals({ rts: false })), Effect.ignore)
      }
      yield* say("waiting for boot", 1)
      const bannerWait = weReset || job.tests.length === 0 ? bootTimeoutMs : Math.min(bootTimeoutMs, 1000)
      const booted = yield* awaitBootBanner(reader, job.board.config.boot_banner, bannerWait)
      // "Flashed" counts only after the banner or a passing self-test proves the image runs.
      if (!booted && job.tests.length === 0) return yield* bootNotSeen(job.port, job.board.config.boot_banner, bannerWait, reader)
      yield* say("testing", 1)
      const outcome = yield* runDeviceTests(conn, reader, job.tests)
      return { results: outcome.results, failure: outcome.failure ? StepFailed.of("test", outcome.failure) : undefined }
    })
  ).pipe(Effect.catchAll((error) => Effect.succeed<TestsOutcome>({ results: [], failure: StepFailed.of("test", error) })))

export interface Registered {
  readonly credentials: DeviceCredentials
  readonly registration: RegistrationOutcome
}

/** New credentials for the board, registered at the backend or queued for `provision flash sync`. */
export const registerBoard = (job: BoardJob, board: DetectedBoard, say: Say) =>
  Effect.gen(function* () {
    const log = yield* FactoryLogFile
    const credentials = yield* newCredentials(board)
    yield* say("registering", 1)
    const registration = yield* registerOrQueue({
      device_id: credentials.deviceId,
      identity: board.identity,
      platform: board.platform,
      board: job.board.name,
      board_model: job.board.config.board_model,
      firmware_version: job.board.config.firmware_version,
      station_id: job.stationId,
      batch_id: job.batchId,
      device_secret: credentials.secret,
      provisioning_token: credentials.token
    }).pipe(inStep("register"))
    if (registration.status === "queued") {
      yield* log.warn(`${credentials.deviceId}: registration queued (${registration.problem?.code}): ${registration.problem?.message}`)
    }
    return { credentials, registration } satisfies Registered
  })

/** The QR label (id + one-time token) in the records' qr folder. */
export const labelBoard = (job: BoardJob, credentials: DeviceCredentials, say: Say) =>
  say("labelling", 1).pipe(Effect.zipRight(writeQrLabel(job.qrDir, credentials).pipe(inStep("label"))))

/**
 * `--qr`: the label as block characters on the results, for the operator to
 * scan at once; one block (heading and code), written as rendered. A label
 * that cannot be drawn here is still in the qr folder: nothing fails.
 */
export const printQrLabel = (credentials: DeviceCredentials, port: string) =>
  Effect.gen(function* () {
    const output = yield* RunOutput
    const text = yield* terminalQr(credentials)
    yield* output.block(`QR label ${credentials.deviceId} (${port}):\n${text}`)
  }).pipe(Effect.ignore)
