import { describeError } from "../domain/errors/base.js"
import { paint } from "../report/terminal.js"
import { displayIdentity } from "./identity.js"
import type { BoardResult, DetectResult } from "./result.js"

const mark = (ok: boolean, color: boolean) => (ok ? paint("●", "green", color) : paint("✖", "red", color))

export const boardLine = (result: BoardResult, _root: string, relative: (file: string) => string, color: boolean): string => {
  const who = result.deviceId
    ? `${result.deviceId}${result.identity ? ` (${displayIdentity({ identity: result.identity })})` : ""}`
    : "(no board)"
  const where = `${result.stationId} ${result.port}`
  if (result.status === "pass") {
    const tests = `${result.tests.filter((t) => t.passed).length}/${result.tests.length}`
    const qr = result.qr ? ` qr=${relative(result.qr.png)}` : ""
    return `${mark(true, color)} ${who} @ ${where} - ${paint("PASS", "green", color)} flash=${result.flashSeconds?.toFixed(2)}s tests=${tests} retries=${result.retries} registration=${result.registration}${qr}`
  }
  const f = result.failure!
  return `${mark(false, color)} ${who} @ ${where} - ${paint("FAIL", "red", color)} at ${f.step} [${f.code}] ${f.message} — ${f.hint}`
}

export const detectLine = (d: DetectResult, color: boolean): string =>
  d.board
    ? `${mark(true, color)} ${d.station} ${d.port}: ${d.board.chip} ${d.board.identity.kind}=${displayIdentity(d.board)} flash=${d.board.flashSizeBytes !== undefined ? `${d.board.flashSizeBytes / (1024 * 1024)}MB` : "unknown"}`
    : `${mark(false, color)} ${d.station} ${d.port}: no board — ${describeError(d.problem!)}`
