/**
 * Scenario files (YAML or JSON) for the simulator:
 *
 * ```yaml
 * seed: 7
 * devices: 40
 * models: [S2PMG3, I4G3]
 * faults: ["10%=blackhole", "10%=update", "3=slow:300"]
 * rules:                      # the same, with texts that may hold commas
 *   - select: 5
 *     items: [protected]
 *     name: "Küche, links"
 *     friendly_name: Kitchen
 * ```
 */
import { Effect, Either, ParseResult, Schema } from "effect"
import { readFile } from "node:fs/promises"
import { parse as parseYaml } from "yaml"
import { SimStartError } from "./errors.js"
import type { Rule, RuleItem } from "./rules.js"
import { parseItem, parseRule, parseSelector } from "./rules.js"

const RuleObject = Schema.Struct({
  select: Schema.Union(Schema.String, Schema.Number),
  items: Schema.optional(Schema.Array(Schema.String)),
  name: Schema.optional(Schema.String),
  friendly_name: Schema.optional(Schema.String)
})

const ScenarioFile = Schema.Struct({
  seed: Schema.optional(Schema.Int),
  devices: Schema.optional(Schema.Int.pipe(Schema.between(1, 60000))),
  models: Schema.optional(Schema.Array(Schema.String)),
  faults: Schema.optional(Schema.Array(Schema.String)),
  rules: Schema.optional(Schema.Array(RuleObject))
})

export interface Scenario {
  readonly seed: number | undefined
  readonly devices: number | undefined
  readonly models: ReadonlyArray<string> | undefined
  readonly rules: ReadonlyArray<Rule>
}

const ruleFromObject = (obj: typeof RuleObject.Type): Either.Either<Rule, string> =>
  Either.gen(function* () {
    const selector = yield* parseSelector(String(obj.select))
    const parsed = yield* Either.all((obj.items ?? []).map(parseItem))
    const items: Array<RuleItem> = [...parsed]
    if (obj.name !== undefined) items.push({ _tag: "name", text: obj.name })
    if (obj.friendly_name !== undefined) items.push({ _tag: "friendly", text: obj.friendly_name })
    if (items.length === 0) return yield* Either.left(`rule for "${obj.select}" names no fault or trait`)
    return { selector, items }
  })

/** Parses scenario text; `source` names the file in messages. */
export const parseScenarioText = (text: string, source: string): Either.Either<Scenario, string> =>
  Either.gen(function* () {
    const raw = yield* Either.try({
      try: () => parseYaml(text) as unknown,
      catch: (e) => `${source}: not valid YAML/JSON (${e instanceof Error ? e.message.split("\n")[0] : String(e)})`
    })
    const file = yield* Schema.decodeUnknownEither(ScenarioFile, { onExcessProperty: "error" })(raw ?? {}).pipe(
      Either.mapLeft((e) => `${source}: ${ParseResult.TreeFormatter.formatErrorSync(e)}`)
    )
    const fromStrings = yield* Either.all((file.faults ?? []).map(parseRule))
    const fromObjects = yield* Either.all((file.rules ?? []).map(ruleFromObject)).pipe(Either.mapLeft((m) => `${source}: rules: ${m}`))
    return { seed: file.seed, devices: file.devices, models: file.models, rules: [...fromStrings, ...fromObjects] }
  }).pipe(Either.mapLeft((m) => (m.startsWith(source) ? m : `${source}: ${m}`)))

export const loadScenario = (path: string): Effect.Effect<Scenario, SimStartError> =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (e) => new SimStartError({ reason: `cannot read scenario file ${path}: ${e instanceof Error ? e.message : String(e)}` })
  }).pipe(
    Effect.flatMap((text) =>
      Either.match(parseScenarioText(text, path), {
        onLeft: (reason) => Effect.fail(new SimStartError({ reason })),
        onRight: Effect.succeed
      })
    )
  )
