import type { SubjectsProgress } from "../runtime/RunOutput.js"
import type { ProgressStream } from "./progress.js"
import { truncate } from "./terminal.js"

/** The per-port display: RunOutput's subjects progress plus `around`, which the terminal sinks print through. */
export interface PortProgressDisplay extends SubjectsProgress {
  /** Runs `print` with the rows erased, then redraws them (keeps stdout lines clean). */
  readonly around: (print: () => void) => void
}

export const noPortProgress: PortProgressDisplay = { update: () => {}, around: (print) => print(), finish: () => {} }

/**
 * One row per subject (the factory's ports) on stderr (TTY only):
 * `station_1 /dev/ttyUSB0 [#####.....] 48% firmware`.
 * Redraws at most every `intervalMs`; the block is erased before other output.
 */
export const portProgress = (
  stream: ProgressStream,
  subjects: ReadonlyArray<{ readonly id: string; readonly label: string }>,
  options: { readonly intervalMs?: number } = {}
): PortProgressDisplay => {
  if (stream.isTTY !== true || process.env.TERM === "dumb" || subjects.length === 0) return noPortProgress
  const state = new Map(subjects.map((s) => [s.id, { label: s.label, phase: "waiting", fraction: 0 }]))
  const labelWidth = Math.max(...subjects.map((s) => s.label.length))
  let drawn = 0
  let lastDraw = 0
  const erase = () => {
    if (drawn === 0) return
    stream.write(`\u001b[${drawn}A\r\u001b[0J`)
    drawn = 0
  }
  const draw = () => {
    erase()
    const width = 24
    const columns = (stream.columns ?? 80) - 1
    const lines = [...state.values()].map((s) => {
      const filled = Math.round(Math.min(1, Math.max(0, s.fraction)) * width)
      const label = s.label.padEnd(labelWidth)
      return truncate(
        `${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(Math.round(s.fraction * 100)).padStart(3)}% ${s.phase}`,
        columns
      )
    })
    stream.write(lines.map((line) => `${line}\n`).join(""))
    drawn = lines.length
    lastDraw = Date.now()
  }
  return {
    update: (id, phase, fraction) => {
      const s = state.get(id)
      if (!s) return
      s.phase = phase
      if (fraction !== undefined) s.fraction = fraction
      if (Date.now() - lastDraw >= (options.intervalMs ?? 100)) draw()
    },
    around: (print) => {
      erase()
      print()
      draw()
    },
    finish: erase
  }
}
