/**
 * Text from devices and files (`app`, `model`, `id`, names, error texts) may
 * hold terminal controls: `ESC ] 0 ; … BEL` sets the window title, `ESC [ 2 J`
 * clears the screen, a bare CR or LF forges an output line, U+202E reverses
 * what follows. Human-readable outputs (console lines, the log file, tables)
 * pass through here; JSON output does not need to (JSON.stringify escapes
 * C0 controls itself and a parser gets the exact value back).
 */

/** C0 controls, DEL, C1 controls, and the Unicode bidi overrides/isolates. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/**
 * The colour codes `report/terminal.ts` paints with: the only escape
 * sequences a line may keep (a device injecting one of these can colour
 * text, nothing more).
 */
const OUR_COLOURS = /\u001b\[(?:2|22|31|32|33|39)m/y

const escapeChar = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`

/** Every control character shown as a visible `\uXXXX` escape (line breaks too). */
export const printable = (text: string): string => text.replace(CONTROL, escapeChar)

/** `printable` for a line that may carry our own colour codes: those stay, any other escape is shown. */
export const printableLine = (line: string): string => {
  if (!CONTROL.test(line)) return line
  CONTROL.lastIndex = 0
  return line.replace(CONTROL, (c, offset: number) => {
    if (c === "\u001b") {
      OUR_COLOURS.lastIndex = offset
      if (OUR_COLOURS.test(line)) return c
    }
    return escapeChar(c)
  })
}

/** Per line of a multi-line text: line breaks stay, everything else as in `printable`. */
export const printableLines = (text: string): string => text.split("\n").map(printable).join("\n")
