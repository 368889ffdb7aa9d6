/**
 * JSON.parse with the two checks it lacks: a nesting limit and duplicate keys.
 *
 * Why a scan before `JSON.parse` rather than another parser: V8's parser is
 * fast and iterative, so a reply nested 10⁶ levels parses fine, but every
 * recursive walk afterwards (Schema decoding, error formatting, inspect)
 * overflows the stack and kills the process. And `JSON.parse` keeps the last
 * of two equal keys silently; for `ip_state.json` that drops a device on the
 * next write. The scan is one linear pass over the text that only tracks
 * strings and brackets; `JSON.parse` still does the real parsing (and reports
 * syntax errors).
 */
import { Either } from "effect"

/** A position in the text, 1-based like editors show it. */
export interface TextPosition {
  readonly line: number
  readonly column: number
}

export type JsonProblem =
  | { readonly _tag: "TooDeep"; readonly maxDepth: number; readonly at: TextPosition }
  | {
      readonly _tag: "DuplicateKey"
      readonly key: string
      /** Keys from the root to the object holding the duplicate (empty: the top level). */
      readonly path: ReadonlyArray<string>
      readonly first: TextPosition
      readonly second: TextPosition
    }
  | { readonly _tag: "Syntax"; readonly message: string }

export interface SafeJsonOptions {
  /** Objects/arrays nested deeper than this are refused (the root counts as 1). */
  readonly maxDepth: number
  /** Also refuse an object with the same key twice (costs one Set per object). */
  readonly rejectDuplicateKeys?: boolean | undefined
}

/** 1-based line and column of a character offset. */
export const positionAt = (text: string, offset: number): TextPosition => {
  let line = 1
  let lineStart = 0
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++
    lineStart = i + 1
  }
  return { line, column: offset - lineStart + 1 }
}

export const describePosition = (at: TextPosition): string => `line ${at.line}, column ${at.column}`

/** One line for an operator. */
export const describeJsonProblem = (problem: JsonProblem): string => {
  switch (problem._tag) {
    case "TooDeep":
      return `nested deeper than ${problem.maxDepth} levels (at ${describePosition(problem.at)})`
    case "DuplicateKey": {
      const where = problem.path.length === 0 ? "" : ` in ${problem.path.map((k) => JSON.stringify(k)).join(".")}`
      return `key ${JSON.stringify(problem.key)} appears twice${where}: ${describePosition(problem.first)} and ${describePosition(problem.second)}`
    }
    case "Syntax":
      return problem.message
  }
}

interface Frame {
  readonly isObject: boolean
  /** Inside an object: the next string is a key. */
  expectKey: boolean
  /** key → offset of its first occurrence (only when duplicates are checked). */
  readonly keys: Map<string, number> | undefined
  /** The key this container sits under in its parent (for the path). */
  readonly under: string | undefined
}

const QUOTE = 34
const BACKSLASH = 92

/** The structural problems JSON.parse would not report; undefined when none. */
export const scanJson = (text: string, options: SafeJsonOptions): JsonProblem | undefined => {
  const stack: Array<Frame> = []
  const duplicates = options.rejectDuplicateKeys === true
  let lastKey: string | undefined
  const length = text.length
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      const start = i
      let escaped = false
      i++
      while (i < length) {
        const d = text.charCodeAt(i)
        if (d === BACKSLASH) {
          escaped = true
          i++
        } else if (d === QUOTE) break
        i++
      }
      const top = stack[stack.length - 1]
      if (top !== undefined && top.isObject && top.expectKey) {
        top.expectKey = false
        const raw = text.slice(start, i + 1)
        let key = raw.slice(1, -1)
        if (escaped) {
          // Only keys with escapes pay for a decode; a broken one is JSON.parse's to report.
          try {
            key = JSON.parse(raw) as string
          } catch {
            return undefined
          }
        }
        lastKey = key
        if (duplicates && top.keys !== undefined) {
          const first = top.keys.get(key)
          if (first !== undefined) {
            return {
              _tag: "DuplicateKey",
              key,
              path: stack.slice(1).map((frame) => frame.under ?? "?"),
              first: positionAt(text, first),
              second: positionAt(text, start)
            }
          }
          top.keys.set(key, start)
        }
      }
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (stack.length >= options.maxDepth) return { _tag: "TooDeep", maxDepth: options.maxDepth, at: positionAt(text, i) }
      const parent = stack[stack.length - 1]
      const under = parent === undefined ? undefined : parent.isObject ? lastKey : "[]"
      const isObject = c === 123
      stack.push({ isObject, expectKey: isObject, keys: isObject && duplicates ? new Map() : undefined, under })
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      stack.pop()
    } else if (c === 44 /* , */) {
      const top = stack[stack.length - 1]
      if (top !== undefined && top.isObject) top.expectKey = true
    }
  }
  return undefined
}

/** Scans, then parses: a value, or the first problem found. */
export const parseJsonSafe = (text: string, options: SafeJsonOptions): Either.Either<unknown, JsonProblem> => {
  const problem = scanJson(text, options)
  if (problem !== undefined) return Either.left(problem)
  try {
    return Either.right(JSON.parse(text) as unknown)
  } catch (cause) {
    return Either.left({ _tag: "Syntax", message: cause instanceof Error ? cause.message : String(cause) })
  }
}
