/**
 * The one CSV codec (RFC 4180 via csv-parse / csv-stringify): data/plan.csv,
 * `inventory import/export`, the factory records and the web UI's record
 * view. Reading accepts `,` or `;` as the delimiter (German-locale
 * spreadsheets write `;`: the header line decides), CRLF, LF or CR line ends,
 * a UTF-8 BOM, and line breaks inside quoted fields; every record keeps the
 * physical line it starts on, so problems can name it.
 */
import { CsvError, parse } from "csv-parse/sync"
import { stringify } from "csv-stringify/sync"
import { Either } from "effect"

export interface CsvRecord {
  /** 1-based line of the file where the record starts. */
  readonly line: number
  readonly cells: ReadonlyArray<string>
}

export interface CsvTable {
  readonly header: ReadonlyArray<string>
  /** Data rows with their 1-based line number in the file. */
  readonly rows: ReadonlyArray<CsvRecord>
}

export interface CsvReadOptions {
  /** Lines starting with `#` are comments (data/plan.csv). */
  readonly comments?: boolean
}

const LINE_BREAK = /\r\n|\r|\n/g

/** `;` when the header line (the first that is neither blank nor a comment) uses it and no comma, else `,`. */
export const detectDelimiter = (text: string, options: CsvReadOptions = {}): "," | ";" => {
  const header =
    text
      .replace(/^\uFEFF/, "")
      .split(/\r\n|\r|\n/)
      .find((line) => line.trim() !== "" && !(options.comments && line.startsWith("#"))) ?? ""
  return header.includes(";") && !header.includes(",") ? ";" : ","
}

/** Every non-empty record with its starting line; fails on an unterminated quote (with the line it opens on). */
export const readCsvRecords = (text: string, options: CsvReadOptions = {}): Either.Either<ReadonlyArray<CsvRecord>, string> => {
  let lastEnd = 0
  try {
    const parsed = parse(text, {
      bom: true,
      delimiter: detectDelimiter(text, options),
      record_delimiter: ["\r\n", "\n", "\r"],
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      ...(options.comments ? { comment: "#", comment_no_infix: true } : {}),
      info: true,
      on_record: (record, context) => {
        lastEnd = context.lines
        return record
      }
    }) as unknown as Array<{ record: Array<string>; info: { lines: number } }>
    return Either.right(
      parsed.map(({ record, info }) => ({
        // info.lines is where the record ends; line breaks inside its quoted cells move the start up.
        line: info.lines - record.reduce((breaks, cell) => breaks + (cell.match(LINE_BREAK)?.length ?? 0), 0),
        cells: record
      }))
    )
  } catch (error) {
    if (error instanceof CsvError && error.code === "CSV_QUOTE_NOT_CLOSED")
      return Either.left(`line ${lastEnd + 1}: a quoted field is never closed`)
    return Either.left(error instanceof Error ? error.message : String(error))
  }
}

/** Header (trimmed) and data rows; fails on an empty file or an unterminated quote. */
export const parseCsv = (text: string, options: CsvReadOptions = {}): Either.Either<CsvTable, string> =>
  Either.flatMap(readCsvRecords(text, options), ([first, ...rest]) =>
    first === undefined
      ? Either.left("the file is empty (expected a header line with a mac column)")
      : Either.right({ header: first.cells.map((h) => h.trim()), rows: rest })
  )

/** One record as a CSV line (no line end): fields with a comma, quote or line break are quoted. */
export const csvLine = (cells: ReadonlyArray<string>): string =>
  stringify([cells as Array<string>], { record_delimiter: "unix" }).replace(/\n$/, "")

/** One cell as CSV writes it. */
export const csvCell = (value: string): string => csvLine([value])
