// Generic YAML config loader: read → parse (syntax errors with line/column) →
// decode with a Schema (one readable line per problem) → unknown keys as
// warnings. Used for config.yaml, secrets.yaml and factory-config.yaml.
import { FileSystem } from "@effect/platform"
import { Effect, Either, ParseResult, Schema, SchemaAST } from "effect"
import { isMap, isScalar, LineCounter, parseDocument, visit } from "yaml"
import { ConfigInvalid, ConfigMissing } from "../domain/errors/config.js"

export interface Loaded<A> {
  readonly value: A
  /** One line each, e.g. `config: unknown key stage3.ota.mdoe in data/config.yaml (ignored)`. */
  readonly warnings: ReadonlyArray<string>
}

export interface LoadYamlOptions {
  /** The file holds secrets: problems name the field and the expected type, never the value found. */
  readonly secret?: boolean
  /** The file to copy when this one is missing (named in the ConfigMissing hint). */
  readonly example?: string
}

type Segment = string | number

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((acc, key) => (typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`), "")

const fileKind = (type: FileSystem.File.Type): string =>
  type === "Directory"
    ? "a directory"
    : type === "CharacterDevice"
      ? "a character device such as /dev/zero or /dev/null"
      : type === "FIFO"
        ? "a named pipe"
        : type === "BlockDevice"
          ? "a block device"
          : type === "Socket"
            ? "a socket"
            : "not a plain file"

const isPlainObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const valueAt = (root: unknown, path: ReadonlyArray<PropertyKey>): unknown =>
  path.reduce<unknown>(
    (node, key) => (Array.isArray(node) && typeof key === "number" ? node[key] : isPlainObject(node) ? node[String(key)] : undefined),
    root
  )

const kindOf = (u: unknown): string =>
  u === undefined || u === null
    ? "nothing (empty value)"
    : Array.isArray(u)
      ? "a list"
      : isPlainObject(u)
        ? "a mapping"
        : typeof u === "string"
          ? "a string"
          : typeof u === "number"
            ? "a number"
            : typeof u === "boolean"
              ? "true/false"
              : `a ${typeof u}`

const shortValue = (u: unknown): string => {
  if (typeof u === "string") return JSON.stringify(u.length > 40 ? `${u.slice(0, 37)}...` : u)
  if (typeof u === "number" || typeof u === "boolean") return String(u)
  return kindOf(u)
}

/** Schema's type names → words an operator reads. */
const plainExpected = (expected: string): string => {
  const e = expected.trim()
  if (/^Struct\b/.test(e) || e.startsWith("{")) return "a mapping (key: value)"
  if (/^(Readonly)?Array<|^ReadonlyArray\b|^readonly .*\[\]$/.test(e)) return "a list"
  if (e === "string") return "a string"
  if (e === "number") return "a number"
  if (e === "boolean") return "true or false"
  return e
}

/**
 * One line per field: `stage3.ota.mode: expected "check_only" | "check_and_update", found "chek"`.
 * Union members reported separately by the ArrayFormatter are joined, and the
 * `undefined` alternative of optional fields is dropped (the field is there).
 */
export const formatParseError = (
  error: ParseResult.ParseError,
  input: unknown,
  options: { readonly secret?: boolean } = {}
): ReadonlyArray<string> => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const byPath = new Map<string, { path: ReadonlyArray<PropertyKey>; expected: Array<string>; other: Array<string> }>()
  for (const issue of issues) {
    const key = formatPath(issue.path)
    const entry = byPath.get(key) ?? { path: issue.path, expected: [], other: [] }
    byPath.set(key, entry)
    if (issue._tag === "Missing") {
      entry.other.push("required field is missing")
      continue
    }
    if (issue._tag === "Unexpected") {
      entry.other.push("is not allowed here")
      continue
    }
    const match = /^Expected ([\s\S]*), actual [\s\S]*$/.exec(issue.message)
    if (match) entry.expected.push(plainExpected(match[1]!))
    else entry.other.push(options.secret ? "invalid value" : issue.message)
  }
  const lines: Array<string> = []
  for (const [key, entry] of byPath) {
    const field = key === "" ? "(top level)" : key
    const found = valueAt(input, entry.path)
    const foundText = options.secret ? kindOf(found) : shortValue(found)
    // `undefined` is the other half of every optional field: the field is present, so it is noise.
    const unique = [...new Set(entry.expected.filter((e) => e !== "undefined"))]
    if (unique.length > 0) lines.push(`${field}: expected ${unique.join(" | ")}, found ${foundText}`)
    for (const other of new Set(entry.other)) lines.push(`${field}: ${other}`)
  }
  return lines
}

const editDistance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

/**
 * Keys in `value` that the schema does not know, as dotted paths (with a
 * suggestion when a known key is a typo away). Walks the encoded side of the
 * schema, i.e. the shape of the file.
 */
export interface UnknownKey {
  /** Dotted path, e.g. `stage3.ota.mdoe`. */
  readonly key: string
  /** The path of the mapping holding it, and its place there (1-based): named instead of the key in secrets files. */
  readonly parent: string
  readonly position: number
  /** A known key one or two typos away, as a dotted path. */
  readonly suggestion?: string | undefined
}

export const findUnknownKeys = (ast: SchemaAST.AST, value: unknown): ReadonlyArray<UnknownKey> => {
  const out: Array<UnknownKey> = []
  const walk = (node: SchemaAST.AST, u: unknown, path: ReadonlyArray<Segment>): void => {
    switch (node._tag) {
      case "Refinement":
        return walk(node.from, u, path)
      case "Transformation":
        return walk(node.from, u, path)
      case "Suspend":
        return walk(node.f(), u, path)
      case "TypeLiteral": {
        if (!isPlainObject(u)) return
        const known = new Map(node.propertySignatures.map((ps) => [String(ps.name), ps.type]))
        let position = 0
        for (const [key, child] of Object.entries(u)) {
          position += 1
          const type = known.get(key)
          if (type !== undefined) walk(type, child, [...path, key])
          else if (node.indexSignatures.length === 0) {
            const close = [...known.keys()].find((k) => editDistance(k, key) <= 2)
            out.push({
              key: formatPath([...path, key]),
              parent: formatPath(path),
              position,
              suggestion: close !== undefined ? formatPath([...path, close]) : undefined
            })
          }
        }
        return
      }
      case "TupleType": {
        if (!Array.isArray(u)) return
        u.forEach((item, i) => {
          const type = node.elements[i]?.type ?? node.rest[0]?.type
          if (type !== undefined) walk(type, item, [...path, i])
        })
        return
      }
      case "Union": {
        // Follow the member the value belongs to; with several candidates, the one it decodes as.
        const candidates = node.types.filter((member) => Schema.is(Schema.make(member))(u))
        const member = candidates[0]
        if (member !== undefined) walk(member, u, path)
        return
      }
      default:
        return
    }
  }
  walk(SchemaAST.encodedAST(ast), value, [])
  return out
}

export interface ParsedYaml {
  readonly value: unknown
}

/** Parses YAML text; syntax problems come back as lines `line L, column C: …`. */
export const parseYamlText = (text: string, options: { readonly secret?: boolean } = {}): Either.Either<unknown, ReadonlyArray<string>> => {
  if (text.slice(0, 64).includes("\u0000")) {
    return Either.left(["the file looks UTF-16 encoded; save it as UTF-8 (YAML config files are UTF-8)"])
  }
  const lineCounter = new LineCounter()
  // yaml's own `uniqueKeys` compares every key with every other one (a 20k-key
  // file took seconds); duplicates are found below in one pass instead.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false })
  if (doc.errors.length === 0) {
    const duplicates: Array<string> = []
    visit(doc, {
      Map: (_key, map) => {
        if (!isMap(map)) return
        const seen = new Map<unknown, number>()
        for (const pair of map.items) {
          const key = isScalar(pair.key) ? pair.key.value : pair.key
          const at = isScalar(pair.key) ? pair.key.range?.[0] : undefined
          const first = seen.get(key)
          if (first !== undefined && at !== undefined) {
            const here = lineCounter.linePos(at)
            const before = lineCounter.linePos(first)
            // Same words as yaml's own check; a secrets file gets no key text.
            const what = options.secret
              ? "YAML syntax error (DUPLICATE_KEY)"
              : `YAML syntax error: Map keys must be unique (${JSON.stringify(String(key))} again)`
            duplicates.push(`line ${here.line}, column ${here.col}: ${what}; first at line ${before.line}, column ${before.col}`)
          } else if (at !== undefined) seen.set(key, at)
        }
      }
    })
    if (duplicates.length > 0) return Either.left(duplicates)
  }
  if (doc.errors.length > 0) {
    return Either.left(
      doc.errors.map((error) => {
        const { col, line } = lineCounter.linePos(error.pos[0])
        // yaml's messages can quote source text; a secrets file gets only the error code.
        const what = options.secret ? `YAML syntax error (${error.code})` : `YAML syntax error: ${error.message.split("\n")[0]}`
        return `line ${line}, column ${col}: ${what}`
      })
    )
  }
  try {
    // An empty file is an empty mapping: every field takes its default.
    return Either.right(doc.toJS({ maxAliasCount: 100 }) ?? {})
  } catch (error) {
    return Either.left([`YAML cannot be read: ${options.secret ? "bad alias or structure" : String(error)}`])
  }
}

/** Unknown keys warned about one by one; more are counted in one line. */
const MAX_UNKNOWN_KEY_WARNINGS = 20

/** Config files are a few KB; anything this large is the wrong file (and YAML parsing it would take minutes). */
export const MAX_CONFIG_BYTES = 256 * 1024

/** Decodes already-parsed data (exported for tests and for files merged from several sources). */
export const decodeConfig = <A, I>(
  file: string,
  schema: Schema.Schema<A, I>,
  raw: unknown,
  options: LoadYamlOptions = {}
): Either.Either<Loaded<A>, ConfigInvalid> =>
  Either.match(Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "ignore" })(raw), {
    onLeft: (error) => Either.left(new ConfigInvalid({ file, problems: formatParseError(error, raw, options) })),
    onRight: (value) => {
      const unknown = findUnknownKeys(schema.ast, raw)
      // A password pasted as a key must not be printed: secrets files name the place, not the text.
      const warnings = unknown
        .slice(0, MAX_UNKNOWN_KEY_WARNINGS)
        .map(({ key, parent, position, suggestion }) =>
          options.secret
            ? `config: unknown key (key #${position} of ${parent === "" ? "the top level" : parent}; text not shown) in ${file} (ignored)`
            : `config: unknown key ${key} in ${file} (ignored${suggestion !== undefined ? `; did you mean ${suggestion}?` : ""})`
        )
      if (unknown.length > MAX_UNKNOWN_KEY_WARNINGS) {
        warnings.push(`config: ${unknown.length - MAX_UNKNOWN_KEY_WARNINGS} more unknown keys in ${file} (ignored)`)
      }
      return Either.right({ value, warnings })
    }
  })

/**
 * Reads `file` (relative paths: to the current directory = project root) and
 * decodes it with `schema`, defaults applied.
 */
export const loadYaml = <A, I>(
  file: string,
  schema: Schema.Schema<A, I>,
  options: LoadYamlOptions = {}
): Effect.Effect<Loaded<A>, ConfigInvalid | ConfigMissing, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    // Refused before reading: /dev/zero would be read until memory runs out,
    // a FIFO blocks, a huge file takes minutes to parse.
    const info = yield* fs.stat(file).pipe(Effect.option)
    if (info._tag === "Some" && info.value.type !== "File") {
      return yield* new ConfigInvalid({ file, problems: [`not a regular file (${fileKind(info.value.type)}); expected a YAML file`] })
    }
    if (info._tag === "Some" && Number(info.value.size) > MAX_CONFIG_BYTES) {
      return yield* new ConfigInvalid({
        file,
        problems: [
          `the file has ${Number(info.value.size)} bytes, more than the ${MAX_CONFIG_BYTES} a config file may have; is this the right file?`
        ]
      })
    }
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((error) =>
        error._tag === "SystemError" && error.reason === "NotFound"
          ? new ConfigMissing({ file, example: options.example })
          : new ConfigInvalid({
              file,
              problems: [`cannot read the file: ${error._tag === "SystemError" ? (error.description ?? error.reason) : error.message}`]
            })
      )
    )
    const raw = yield* Either.mapLeft(parseYamlText(text, options), (problems) => new ConfigInvalid({ file, problems }))
    return yield* decodeConfig(file, schema, raw, options)
  })
