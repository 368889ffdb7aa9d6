import type { OtaStatus, Stage3DeviceResult, Stage3Summary } from "../stages/stage3/result.js"
import { paint, type Tone, truncate, visibleLength } from "./terminal.js"

/**
 * The runbook promises lines "< 80 characters"; ERR texts and long names are
 * cut to fit. ERR keeps at least its first MIN_ERR (32) characters and a name its
 * first MIN_NAME, so a line with both can be longer (the runbook's own
 * `Friendly=error (Name) | ERR=friendly: HTTP 500` example is 87).
 */
export const MAX_LINE_LENGTH = 79

/** How the runbook prints an OTA status (stored `update_available` shows as `updateable`). */
export const otaLabel = (ota: OtaStatus): string => (ota === "update_available" ? "updateable" : ota)

export const otaTone = (ota: OtaStatus): Tone => {
  switch (ota) {
    case "up_to_date":
    case "skipped":
    case "updated":
      return "green"
    case "update_available":
      return "yellow"
    case "offline":
    case "check_failed":
    case "error":
      return "red"
  }
}

const MIN_ERR = 32
const MIN_NAME = 16

/**
 * One line per device, e.g.
 * `● S2PMG3 @ 192.168.1.35 - OTA=up_to_date | Friendly=ok (Wohnzimmer)`.
 * Only the dot and the OTA part are coloured (runbook §4).
 */
export const formatStage3Line = (result: Stage3DeviceResult, color: boolean): string => {
  const ota = `OTA=${otaLabel(result.ota)}`
  const head = `${result.label} @ ${result.ip} - `
  const friendlyHead = result.friendly === undefined ? "" : ` | Friendly=${result.friendly}`
  const showName = result.friendly !== undefined && result.friendly !== "no_value" && result.friendlyName !== undefined
  let name = showName ? result.friendlyName! : undefined
  let err = result.errors.length > 0 ? result.errors.join("; ") : undefined

  const render = (n: string | undefined, e: string | undefined) =>
    `● ${head}${ota}${friendlyHead}${n === undefined ? "" : ` (${n})`}${e === undefined ? "" : ` | ERR=${e}`}`

  if (visibleLength(render(name, err)) > MAX_LINE_LENGTH) {
    // Share the room left between the name and the ERR text; ERR keeps at
    // least its first words, the name at least a recognisable prefix.
    const room = MAX_LINE_LENGTH - visibleLength(render(name === undefined ? undefined : "", err === undefined ? undefined : ""))
    const nameLength = name === undefined ? 0 : visibleLength(name)
    const errLength = err === undefined ? 0 : visibleLength(err)
    const errShare = err === undefined ? 0 : Math.min(errLength, Math.max(MIN_ERR, room - nameLength))
    const nameShare = Math.max(room - errShare, Math.min(nameLength, MIN_NAME))
    if (name !== undefined) name = truncate(name, nameShare)
    if (err !== undefined) err = truncate(err, errShare)
  }
  let plain = render(name, err)
  // Only an absurd label (model or address from a hand-edited inventory) gets here.
  const fixed = visibleLength(render(name === undefined ? undefined : "", err === undefined ? undefined : ""))
  if (fixed > MAX_LINE_LENGTH) plain = truncate(plain, MAX_LINE_LENGTH)
  if (!color) return plain
  // Colour the dot and the OTA part of the (possibly cut) plain line.
  const tone = otaTone(result.ota)
  const afterDot = plain.slice(1)
  const otaAt = afterDot.indexOf(ota, head.length)
  if (otaAt < 0) return paint("●", tone, true) + afterDot
  return paint("●", tone, true) + afterDot.slice(0, otaAt) + paint(ota, tone, true) + afterDot.slice(otaAt + ota.length)
}

export const formatStage3Summary = (summary: Stage3Summary): string =>
  `Stage 3 summary: total=${summary.total} ok=${summary.ok} failed=${summary.failed}`
