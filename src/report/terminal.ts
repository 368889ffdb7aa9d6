/**
 * Colour decision per output stream: `NO_COLOR` (any non-empty value) always
 * wins (no-color.org); `FORCE_COLOR` (non-empty, not "0") turns colours on for
 * pipes (CI logs, tests); otherwise colours only on a TTY.
 */
export const useColor = (stream: { readonly isTTY?: boolean | undefined }, env: NodeJS.ProcessEnv = process.env): boolean => {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "" && env.FORCE_COLOR !== "0") return true
  return stream.isTTY === true
}

export type Tone = "green" | "yellow" | "red" | "dim"

const codes: Record<Tone, readonly [number, number]> = {
  green: [32, 39],
  yellow: [33, 39],
  red: [31, 39],
  dim: [2, 22]
}

export const paint = (text: string, tone: Tone, enabled: boolean): string =>
  enabled ? `\u001b[${codes[tone][0]}m${text}\u001b[${codes[tone][1]}m` : text

/** Length in characters as a terminal shows them (code points; no ANSI codes in the input). */
export const visibleLength = (text: string): number => [...text].length

/** Cuts to at most `max` characters, marking a cut with `…`. */
export const truncate = (text: string, max: number): string => {
  const chars = [...text]
  if (chars.length <= max) return text
  if (max <= 0) return ""
  return chars.slice(0, max - 1).join("") + "…"
}
