import { Clock, Effect, type Either } from "effect"
import { deviceIdOf, displayIdentity } from "./identity.js"
import { FactoryLogFile } from "./log.js"
import {
  type BoardJob,
  bootAndTest,
  connectAndFlash,
  labelBoard,
  printQrLabel,
  registerBoard,
  type Say,
  type StepFailed,
  type TestsOutcome
} from "./boardSteps.js"
import type { BoardResult } from "./result.js"

export type { BoardJob } from "./boardSteps.js"

const leftOf = <A>(either: Either.Either<A, StepFailed> | undefined): StepFailed | undefined =>
  either?._tag === "Left" ? either.left : undefined
const rightOf = <A>(either: Either.Either<A, StepFailed> | undefined): A | undefined =>
  either?._tag === "Right" ? either.right : undefined

/**
 * One board, start to end: connect + detect, write every region (retried,
 * bounded by max_flash_time), reset into the application, boot banner and
 * device tests, then register, label and hand back the result. Never fails:
 * the first failing step becomes the result's failure (step, code, message,
 * hint), and the steps after it do not run. `say` shows the port's phase
 * (the batch's per-port progress); the outcome goes to the factory log.
 */
export const processBoard = (job: BoardJob, say: Say) =>
  Effect.gen(function* () {
    const log = yield* FactoryLogFile
    const startedMs = yield* Clock.currentTimeMillis

    const flash = yield* connectAndFlash(job, say)
    const tested: TestsOutcome | undefined = flash.failure === undefined ? yield* bootAndTest(job, say) : undefined
    const board = flash.failure === undefined && tested?.failure === undefined ? flash.detected : undefined
    const registered = board ? yield* Effect.either(registerBoard(job, board, say)) : undefined
    const credentials = rightOf(registered)?.credentials
    const labelled = credentials ? yield* Effect.either(labelBoard(job, credentials, say)) : undefined
    if (credentials && labelled?._tag === "Right" && job.printQr) yield* printQrLabel(credentials, job.port)

    const failure = (flash.failure ?? tested?.failure ?? leftOf(registered) ?? leftOf(labelled))?.failure
    const registration = rightOf(registered)?.registration
    const tests = tested?.results ?? []
    const finishedMs = yield* Clock.currentTimeMillis
    yield* say(failure ? `FAILED ${failure.code}` : "done", 1)
    const { detected } = flash
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
      deviceId: credentials?.deviceId ?? (detected ? deviceIdOf(detected) : undefined),
      status: failure ? "fail" : "pass",
      failure,
      flashSeconds: flash.flashSeconds,
      totalSeconds: (finishedMs - startedMs) / 1000,
      attempts: flash.attempts,
      retries: flash.retries,
      wireBytes: flash.wireBytes,
      tests,
      registration: registration?.status,
      registrationProblem: registration?.problem?.code,
      qr: rightOf(labelled),
      startedAt: new Date(startedMs).toISOString(),
      finishedAt: new Date(finishedMs).toISOString()
    }
    yield* failure
      ? log.error(
          `${job.stationId} ${job.port} ${result.deviceId ?? "(no board)"}: FAIL at ${failure.step} [${failure.code}] ${failure.message}`
        )
      : log.info(
          `${job.stationId} ${job.port} ${result.deviceId} (${detected ? displayIdentity(detected) : ""}) PASS flash=${flash.flashSeconds?.toFixed(2)}s tests=${tests.filter((t) => t.passed).length}/${tests.length} registration=${registration?.status}`
        )
    return result
  })
