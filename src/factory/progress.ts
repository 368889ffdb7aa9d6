import type { ProgressStream } from "../report/progress.js"
import { truncate } from "../report/terminal.js"

export interface PortProgressSink {
  readonly update: (port: string, phase: string, fraction?: number) => void
  /** Runs `print` with the bars erased, then redraws them (keeps stdout lines clean). */
  readonly around: (print: () => void) => void
  readonly finish: () => void
}

export const noProgress: PortProgressSink = { update: () => {}, around: (print) => print(), finish: () => {} }

/**
 * One bar per port on stderr (TTY only): `station_1 /dev/ttyUSB0 [#####.....] 48% firmware`.
 * Redraws at most every `intervalMs`; the block is erased before other output.
 */
export const portProgress = (
  stream: ProgressStream,
  ports: ReadonlyArray<{ readonly station: string; readonly port: string }>,
  options: { readonly intervalMs?: number } = {}
): PortProgressSink => {
  if (stream.isTTY !== true || process.env.TERM === "dumb" || ports.length === 0) return noProgress
  const state = new Map(ports.map((p) => [p.port, { station: p.station, phase: "waiting", fraction: 0 }]))
  const labelWidth = Math.max(...ports.map((p) => `${p.station} ${p.port}`.length))
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
    const lines = [...state.entries()].map(([port, s]) => {
      const filled = Math.round(Math.min(1, Math.max(0, s.fraction)) * width)
      const label = `${s.station} ${port}`.padEnd(labelWidth)
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
    update: (port, phase, fraction) => {
      const s = state.get(port)
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
