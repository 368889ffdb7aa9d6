/**
 * Where a command's whole run puts its lines: `out` for results (stdout),
 * `err` for diagnostics (stderr). The CLI passes the process's streams
 * (src/cli/lineOutput.ts); tests collect the lines.
 */
export interface LineOutput {
  readonly out: (line: string) => void
  readonly err: (line: string) => void
}
