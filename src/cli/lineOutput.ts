import type { LineOutput } from "../app/lineOutput.js"

/** A run's lines on this process's stdout and stderr. */
export const processLines: LineOutput = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`)
}
