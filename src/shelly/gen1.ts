/**
 * First-generation Shelly devices answer `GET /shelly` in their own form:
 * `{"type":"SHSW-1","mac":"…","auth":false,"fw":"…/v1.14.0-…","discoverable":…,
 * "longid":1,"num_outputs":1}`, without `gen`, `id` or an RPC API (Shelly API
 * docs gen1 "/shelly"; home-assistant/core shelly tests treat a missing `gen`
 * as Gen1). They are recognised here so an operator reads "Gen1, not
 * supported" instead of "invalid response".
 */
import { Effect, Schema } from "effect"
import { Gen1Unsupported } from "../domain/errors/shelly.js"
import { ShellyIdentity } from "./schemas.js"

const Rest = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** `GET /shelly` of a Gen1 device (no `gen`). */
export const Gen1Shelly = Schema.Struct(
  { type: Schema.String, mac: Schema.String, auth: Schema.optional(Schema.Boolean), fw: Schema.optional(Schema.String) },
  Rest
)
export type Gen1Shelly = typeof Gen1Shelly.Type

/** Either answer of `GET /shelly`; the Gen2+ form is tried first. */
export const ShellyAnswer = Schema.Union(ShellyIdentity, Gen1Shelly)
export type ShellyAnswer = typeof ShellyAnswer.Type

const isGen1 = (answer: ShellyAnswer): answer is Gen1Shelly => !("gen" in answer) || typeof answer.gen !== "number"

/** The Gen2+ identity, or `Gen1Unsupported` naming the device's Gen1 model and MAC. */
export const refuseGen1 = (
  context: { readonly device: string; readonly method: string },
  answer: ShellyAnswer
): Effect.Effect<ShellyIdentity, Gen1Unsupported> =>
  isGen1(answer)
    ? Effect.fail(new Gen1Unsupported({ ...context, type: answer.type, mac: answer.mac, fw: answer.fw ?? "unknown" }))
    : Effect.succeed(answer)
