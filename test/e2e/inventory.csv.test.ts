// Pure parts of `inventory import/export`: the CSV codec and row validation.
import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { csvCell, csvToPatches, parseCsv } from "../../src/app/inventory/csv.js"

describe("CSV codec", () => {
  it("parses what csvCell writes, for any cell text (commas, quotes, newlines)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.string({ minLength: 1 }), { minLength: 2, maxLength: 4 }), { minLength: 1, maxLength: 5 }),
        fc.constantFrom("\n", "\r\n"),
        (rows, eol) => {
          const width = rows[0]!.length
          const table = [Array.from({ length: width }, (_, i) => `h${i}`), ...rows.map((r) => r.slice(0, width))]
          const text = table.map((r) => r.map(csvCell).join(",")).join(eol) + eol
          const parsed = parseCsv(text)
          expect(Either.isRight(parsed)).toBe(true)
          if (Either.isRight(parsed)) {
            expect(parsed.right.header).toEqual(table[0])
            expect(parsed.right.rows.map((r) => r.cells)).toEqual(table.slice(1))
          }
        }
      ),
      { numRuns: 200 }
    )
  })

  it("reports an unterminated quote with its line", () => {
    const parsed = parseCsv('mac,friendly_name\nAABBCCDDEEFF,"offen\n')
    expect(parsed).toEqual(Either.left("line 2: a quoted field is never closed"))
  })

  it("reads semicolon-separated files (German-locale spreadsheets) and a BOM", () => {
    const parsed = Either.getOrThrow(parseCsv('\uFEFFmac;friendly_name\r\nAABBCCDDEEFF;"Küche; links"\r\n'))
    expect(parsed.header).toEqual(["mac", "friendly_name"])
    expect(parsed.rows).toEqual([{ line: 2, cells: ["AABBCCDDEEFF", "Küche; links"] }])
  })

  it("numbers data rows by their physical line, also after a quoted newline", () => {
    const parsed = parseCsv('mac,notes\n"a\nb",x\nc,y\n')
    expect(Either.getOrThrow(parsed).rows.map((r) => r.line)).toEqual([2, 4])
  })
})

describe("csvToPatches", () => {
  const table = (text: string) => Either.getOrThrow(parseCsv(text))

  it("normalises names as Stage 3 sends them and skips empty and read-only cells", () => {
    const patches = csvToPatches(
      "f.csv",
      table("mac,ip,friendly_name,status\naa-bb-cc-dd-ee-ff,, Bad  Oben ,stage3.ota_status=x\n"),
      "friendly_name"
    )
    expect(patches).toEqual(Either.right([{ line: 2, mac: "AABBCCDDEEFF", patch: { friendly_name: "Bad Oben" } }]))
  })

  it("collects every problem: missing mac column, unknown column, duplicate MAC, bad name", () => {
    expect(csvToPatches("f.csv", table("ip\n127.0.0.1\n"), "friendly_name")).toEqual(
      Either.left(['f.csv: the header has no "mac" column (got: ip)'])
    )
    const problems = Either.getLeft(csvToPatches("f.csv", table("mac,farbe,name\nAABBCCDDEEFF,rot,a\naabbccddeeff,,\tb\n"), "name"))
    const text = problems._tag === "Some" ? problems.value.join("\n") : ""
    expect(text).toContain('unknown column "farbe"')
    expect(text).toContain("f.csv line 3: MAC aabbccddeeff already on line 2")
    expect(text).toContain("f.csv line 3, column name: name contains a control/invisible character U+0009")
  })
})
