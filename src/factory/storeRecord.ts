/**
 * A finished board as the shared store's row: the same fields as its CSV line
 * (and that exact line), plus attempts, retries and the whole result.
 */
import type { BoardRecordRow } from "../store/RecordStore.js"
import { displayIdentity } from "./identity.js"
import { csvRow, dayStamp } from "./records.js"
import type { BoardResult } from "./result.js"

/** Unique per board attempt: batch, station, port, the batch's start, the port's board number. */
export const attemptKeyOf = (batchId: string, stationId: string, port: string, batchStartMs: number, seq: number): string =>
  `${batchId}/${stationId}/${port}/${batchStartMs}-${seq}`

export const boardRow = (result: BoardResult, attemptKey: string, relative: (file: string) => string): BoardRecordRow => ({
  attemptKey,
  batchId: result.batchId,
  stationId: result.stationId,
  port: result.port,
  deviceId: result.deviceId,
  mac: result.identity ? displayIdentity({ identity: result.identity }) : undefined,
  board: result.boardConfig,
  platform: result.platform,
  chip: result.chip,
  firmwareVersion: result.firmwareVersion,
  status: result.status,
  errorCode: result.failure?.code,
  failureStep: result.failure?.step,
  registration: result.registration,
  flashSeconds: result.flashSeconds,
  totalSeconds: result.totalSeconds,
  attempts: result.attempts,
  retries: result.retries,
  day: dayStamp(new Date(result.finishedAt)),
  startedAt: result.startedAt,
  finishedAt: result.finishedAt,
  csvRow: csvRow(result, relative),
  result
})
