import type { OperatorError } from "../domain/errors/base.js"
import type { BoardIdentity, DetectedBoard, Platform } from "../flash/Flasher.js"
import type { QrLabel } from "./qr.js"
import type { RegistrationStatus } from "./register.js"

export interface TestResult {
  readonly name: string
  readonly command: string
  readonly passed: boolean
  /** The line that matched, or what arrived before the timeout (trimmed). */
  readonly response: string
  readonly durationMs: number
}

export interface BoardFailure {
  readonly code: string
  readonly message: string
  readonly hint: string
  /** The pipeline step that failed: connect, flash, boot, test, register, label, record. */
  readonly step: string
}

/** Everything known about one board of a batch — no secrets (those live in the QR label and at the backend). */
export interface BoardResult {
  readonly batchId: string
  readonly stationId: string
  readonly port: string
  readonly boardConfig: string
  readonly platform: Platform
  readonly boardModel: string
  readonly firmwareVersion: string
  readonly chip?: string | undefined
  readonly identity?: BoardIdentity | undefined
  readonly deviceId?: string | undefined
  readonly status: "pass" | "fail"
  readonly failure?: BoardFailure | undefined
  /** Connect + write + verify, retries included. */
  readonly flashSeconds?: number | undefined
  readonly totalSeconds: number
  readonly attempts: number
  /** Extra attempts by the pipeline plus retries inside the flasher. */
  readonly retries: number
  readonly wireBytes: number
  readonly tests: ReadonlyArray<TestResult>
  readonly registration?: RegistrationStatus | undefined
  readonly registrationProblem?: string | undefined
  readonly qr?: QrLabel | undefined
  readonly startedAt: string
  readonly finishedAt: string
}

/** `--test-mode`: what answered on one port, or why nothing did. */
export interface DetectResult {
  readonly station: string
  readonly port: string
  readonly board?: DetectedBoard | undefined
  readonly problem?: OperatorError | undefined
}
