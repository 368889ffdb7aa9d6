import { Clock, Duration, Effect, Schedule } from "effect"
import type { OperatorError } from "../domain/errors/base.js"
import { isOperatorError } from "../domain/errors/base.js"
import { FlashTimeExceeded, WrongBoardOnPort } from "../domain/errors/factory.js"
import { type DetectedBoard, Flasher, type FlashRegion, type SessionOptions } from "../flash/Flasher.js"
import { SerialPorts } from "../serial/SerialPorts.js"
import type { DeviceTest } from "./config.js"
import { awaitBootBanner, bootNotSeen, ConsoleReader, runDeviceTests } from "./deviceTests.js"
import { type DeviceCredentials, deviceIdOf, displayIdentity, newCredentials } from "./identity.js"
import type { FactoryLog } from "./log.js"
import type { ResolvedBoardConfig } from "./loadConfig.js"
import type { PortProgressSink } from "./progress.js"
import { type QrLabel, writeQrLabel } from "./qr.js"
import { registerOrQueue, type RegistrationOutcome } from "./register.js"
import type { BoardFailure, BoardResult, TestResult } from "./result.js"

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
}

export interface BoardHooks {
  readonly progress: PortProgressSink
  readonly log: FactoryLog
  /** After the label is written (the CLI prints it with `--qr`). */
  readonly onLabel?: (credentials: DeviceCredentials, result: { readonly port: string }) => Effect.Effect<void>
}

/** Failures worth another attempt: the link or the transfer, not the board or the image. */
const retryable = (error: OperatorError): boolean =>
  ["SyncFailed", "FlashTimeout", "VerifyFailed", "ProtocolError", "CommandRejected", "SerialIoError", "BootloaderNack"].includes(error._tag)

const failureOf = (step: string, error: unknown): BoardFailure =>
  isOperatorError(error)
    ? { step, code: error.code, message: error.message, hint: error.hint }
    : { step, code: "internal", message: String(error), hint: "a defect: report it with the log" }

class StepFailed {
  readonly _tag = "StepFailed"
  constructor(readonly failure: BoardFailure) {}
}
const step =
  (name: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.mapError(effect, (error) => new StepFailed(failureOf(name, error)))

/**
 * One board, start to end: connect + detect, write every region (retried,
 * bounded by max_flash_time), reset into the application, boot banner and
 * device tests, then register, label and hand back the result. Never fails:
 * a problem becomes the result's failure (step, code, message, hint).
 */
export const processBoard = (job: BoardJob, hooks: BoardHooks) =>
  Effect.gen(function* () {
    const startedMs = yield* Clock.currentTimeMillis
    const say = (phase: string, fraction?: number) => Effect.sync(() => hooks.progress.update(job.port, phase, fraction))
    let detected: DetectedBoard | undefined
    let attempts = 0
    let flasherRetries = 0
    let wireBytes = 0
    let flashSeconds: number | undefined
    let tests: ReadonlyArray<TestResult> = []
    let registration: RegistrationOutcome | undefined
    let qr: QrLabel | undefined
    let deviceId: string | undefined
    const total = job.regions.reduce((sum, r) => sum + r.data.length, 0)
    const doneBefore = (name: string) => {
      let sum = 0
      for (const r of job.regions) {
        if (r.name === name) break
        sum += r.data.length
      }
      return sum
    }

    const attempt = Effect.scoped(
      Effect.gen(function* () {
        attempts += 1
        yield* say(attempts > 1 ? `connecting (attempt ${attempts})` : "connecting", 0)
        const flasher = yield* (yield* Flasher).forPlatform(job.board.platform)
        const session = yield* flasher.connect(job.port, job.board.platform, job.session)
        detected = session.board
        if (session.board.platform !== job.board.platform) {
          return yield* new WrongBoardOnPort({ port: job.port, expected: job.board.platform, detected: session.board.chip })
        }
        const report = yield* session.write(job.regions, (p) =>
          say(`writing ${p.region}`, total > 0 ? (doneBefore(p.region) + p.written) / total : 1)
        )
        flasherRetries += report.retries
        wireBytes += report.wireBytes
        yield* say("starting application", 1)
        yield* session.resetToApp
        // Some families (RP2040) learn the identity only from the running application.
        detected = session.board
      })
    )
    const schedule = Schedule.exponential(job.retryBase ?? Duration.millis(500), 2).pipe(
      Schedule.jittered,
      Schedule.intersect(Schedule.recurs(Math.max(0, job.maxAttempts - 1)))
    )

    const pipeline = Effect.gen(function* () {
      const flashStart = yield* Clock.currentTimeMillis
      yield* attempt.pipe(
        Effect.tapError((error) =>
          isOperatorError(error) && retryable(error) && attempts < job.maxAttempts
            ? hooks.log.warn(`${job.stationId} ${job.port}: attempt ${attempts} failed (${error.code}): ${error.message}; retrying`)
            : Effect.void
        ),
        Effect.retry({ schedule, while: (error) => isOperatorError(error) && retryable(error) }),
        Effect.timeoutFail({
          duration: Duration.seconds(job.maxFlashSeconds),
          onTimeout: () => new FlashTimeExceeded({ port: job.port, limitSeconds: job.maxFlashSeconds })
        }),
        step("flash")
      )
      flashSeconds = ((yield* Clock.currentTimeMillis) - flashStart) / 1000

      yield* Effect.scoped(
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
          tests = outcome.results
          if (outcome.failure) return yield* outcome.failure
        })
      ).pipe(step("test"))

      const board = detected!
      const credentials = yield* newCredentials(board)
      deviceId = credentials.deviceId
      yield* say("registering", 1)
      registration = yield* registerOrQueue({
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
      }).pipe(step("register"))
      if (registration.status === "queued") {
        yield* hooks.log.warn(
          `${credentials.deviceId}: registration queued (${registration.problem?.code}): ${registration.problem?.message}`
        )
      }
      yield* say("labelling", 1)
      qr = yield* writeQrLabel(job.qrDir, credentials).pipe(step("label"))
      if (hooks.onLabel) yield* hooks.onLabel(credentials, { port: job.port })
    })

    const outcome = yield* Effect.either(pipeline)
    const finishedMs = yield* Clock.currentTimeMillis
    const failure =
      outcome._tag === "Left"
        ? outcome.left instanceof StepFailed
          ? outcome.left.failure
          : failureOf("internal", outcome.left)
        : undefined
    yield* say(failure ? `FAILED ${failure.code}` : "done", 1)
    const result: BoardResult = {
      batchId: job.batchId,
      stationId: job.stationId,
      port: job.port,
      boardConfig: job.board.name,
      platform: job.board.platform,
      boardModel: job.board.config.board_model,
      firmwareVersion: job.board.config.firmware_version,
      chip: detected?.chip,
      identity: detected?.identity,
      deviceId: deviceId ?? (detected ? deviceIdOf(detected) : undefined),
      status: failure ? "fail" : "pass",
      failure,
      flashSeconds,
      totalSeconds: (finishedMs - startedMs) / 1000,
      attempts,
      retries: Math.max(0, attempts - 1) + flasherRetries,
      wireBytes,
      tests,
      registration: registration?.status,
      registrationProblem: registration?.problem?.code,
      qr,
      startedAt: new Date(startedMs).toISOString(),
      finishedAt: new Date(finishedMs).toISOString()
    }
    yield* failure
      ? hooks.log.error(
          `${job.stationId} ${job.port} ${result.deviceId ?? "(no board)"}: FAIL at ${failure.step} [${failure.code}] ${failure.message}`
        )
      : hooks.log.info(
          `${job.stationId} ${job.port} ${result.deviceId} (${detected ? displayIdentity(detected) : ""}) PASS flash=${flashSeconds?.toFixed(2)}s tests=${tests.filter((t) => t.passed).length}/${tests.length} registration=${registration?.status}`
        )
    return result
  })
