import { Context, Layer } from "effect"

/**
 * A test double as a Layer: supply only the methods a test needs; calling any
 * other one fails the test loudly (a defect naming the service and member).
 */
export const makeTestLayer =
  <I, S extends object>(tag: Context.Tag<I, S>) =>
  (partial: Partial<S>): Layer.Layer<I> =>
    Layer.succeed(
      tag,
      new Proxy(partial as S, {
        get(target, property, receiver) {
          if (property in target) return Reflect.get(target, property, receiver)
          if (typeof property === "symbol" || property === "then") return undefined
          throw new Error(`${tag.key}.${String(property)} was called but the test did not provide it`)
        }
      })
    )
