// nmcli's terse mode (`-t`) separates fields with `:` and escapes a literal
// `:` or `\` inside a field with a backslash (BSSIDs and some SSIDs hold `:`).

/** Splits one terse line into its fields, undoing the escapes. */
export const splitTerseLine = (line: string): ReadonlyArray<string> => {
  const fields: Array<string> = []
  let field = ""
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!
    if (ch === "\\" && i + 1 < line.length) {
      field += line[++i]!
    } else if (ch === ":") {
      fields.push(field)
      field = ""
    } else {
      field += ch
    }
  }
  fields.push(field)
  return fields
}

export const terseLines = (output: string): ReadonlyArray<ReadonlyArray<string>> =>
  output
    .split("\n")
    .map((line) => line.replace(/\r$/, ""))
    .filter((line) => line.length > 0)
    .map(splitTerseLine)
