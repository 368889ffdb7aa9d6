import { Clock, Effect, type Either } from "effect"
import { deviceIdOf, type DeviceCredentials, displayIdentity } from "./identity.js"
import type { FactoryLog } from "./log.js"
import type { PortProgressSink } from "./progress.js"
import { type BoardJob, bootAndTest, connectAndFlash, labelBoard, registerBoard, type StepFailed, type TestsOutcome } from "./boardSteps.js"
import type { BoardResult } from "./result.js"

export type { BoardJob } from "./boardSteps.js"

export interface BoardHooks {
  readonly progress: PortProgressSink
  readonly log: FactoryLog
  /** After the label is written (the CLI prints it with `--qr`). */
  readonly onLabel?: (credentials: DeviceCredentials, result: { readonly port: string }) => Effect.Effect<void>
}

const leftOf = <A>(either: Either.Either<A, StepFailed> | undefined): StepFailed | undefined =>
  either?._tag === "Left" ? either.left : undefined
const rightOf = <A>(either: Either.Either<A, StepFailed> | undefined): A | undefined =>
  either?._tag === "Right" ? either.right : undefined

/**
 * One board, start to end: connect + detect, write every region (retried,
 * bounded by max_flash_time), reset into the application, boot banner and
 * device tests, then register, label and hand back the result. Never fails:
 * the first failing step becomes the result's failure (step, code, message,
 * hint), and the steps after it do not run.
 */
export const processBoard = (job: BoardJob, hooks: BoardHooks) =>
  Effect.gen(function* () {
    const startedMs = yield* Clock.currentTimeMillis
    const say = (phase: string, fraction?: number) => Effect.sync(() => hooks.progress.update(job.port, phase, fraction))

    const flash = yield* connectAndFlash(job, say, hooks.log)
    const tested: TestsOutcome | undefined = flash.failure === undefined ? yield* bootAndTest(job, say) : undefined
    const board = flash.failure === undefined && tested?.failure === undefined ? flash.detected : undefined
    const registered = board ? yield* Effect.either(registerBoard(job, board, say, hooks.log)) : undefined
    const credentials = rightOf(registered)?.credentials
    const labelled = credentials ? yield* Effect.either(labelBoard(job, credentials, say)) : undefined
    if (credentials && labelled?._tag === "Right" && hooks.onLabel) yield* hooks.onLabel(credentials, { port: job.port })

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
      ? hooks.log.error(
          `${job.stationId} ${job.port} ${result.deviceId ?? "(no board)"}: FAIL at ${failure.step} [${failure.code}] ${failure.message}`
        )
      : hooks.log.info(
          `${job.stationId} ${job.port} ${result.deviceId} (${detected ? displayIdentity(detected) : ""}) PASS flash=${flash.flashSeconds?.toFixed(2)}s tests=${tests.filter((t) => t.passed).length}/${tests.length} registration=${registration?.status}`
        )
    return result
  })
