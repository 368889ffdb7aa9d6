/**
 * Stage 3's friendly-name steps (runbook §2.2, §7): which name the inventory
 * wants, whether to write it, the write with its read-back. Each step returns
 * a value; problems stay typed (`FriendlyProblem`) until the device's line is
 * assembled (`friendlyTexts`).
 */
import { Data, Effect, Either, Option } from "effect"
import { describeError } from "../../domain/errors/base.js"
import type { RpcFailure } from "../../domain/errors/shelly.js"
import type { DeviceRecord, Json } from "../../inventory/Inventory.js"
import * as Methods from "../../shelly/methods.js"
import type { DeviceTarget, ShellyRpc } from "../../shelly/ShellyRpc.js"
import { normalizeFriendlyName } from "../friendlyName.js"
import type { FriendlyStatus } from "./result.js"
import type { Stage3Settings } from "./settings.js"
import { shortRpcError } from "./shortError.js"

export interface NameProblem {
  readonly message: string
  /** What to show in `Friendly=error (<name>)`. */
  readonly shown: string | undefined
}

/** The inventory's name: absent (undefined) → `no_value`; unusable → a problem to report. */
export type WantedName = Either.Either<string, NameProblem> | undefined

/** The device's current name; none when it could not be read. */
export type NameOnDevice = Option.Option<string>

export const friendlyWanted = (record: DeviceRecord, settings: Stage3Settings): WantedName => {
  const value: Json | undefined = record[settings.friendly.fieldName]
  if (value === undefined || value === null || value === "") return undefined
  if (typeof value !== "string") {
    return Either.left({ message: `"${settings.friendly.fieldName}" is not text (${JSON.stringify(value)})`, shown: undefined })
  }
  return Either.mapLeft(normalizeFriendlyName(value), (message) => ({ message, shown: value.replace(/[\p{C}]/gu, "?") }))
}

export type NameDecision =
  | { readonly _tag: "keep"; readonly name: string }
  | { readonly _tag: "write" }
  | { readonly _tag: "refuse"; readonly reason: string }

/**
 * Runbook §2.2: `backfill: true` keeps a name the device already has;
 * `backfill: false` makes the inventory win. A name already equal is never
 * rewritten. With backfill on and the device's name unreadable we do not
 * write: we cannot know whether we would overwrite the device's own name.
 */
export const decideNameWrite = (wanted: string, current: Option.Option<string>, backfill: boolean): NameDecision => {
  if (Option.isSome(current) && current.value === wanted) return { _tag: "keep", name: wanted }
  if (!backfill) return { _tag: "write" }
  if (Option.isNone(current)) return { _tag: "refuse", reason: "name unreadable" }
  return current.value.trim() === "" ? { _tag: "write" } : { _tag: "keep", name: current.value }
}

export type FriendlyProblem = Data.TaggedEnum<{
  /** The inventory's value is not a usable name. */
  InvalidName: { readonly message: string }
  /** `decideNameWrite` would not write (backfill on, device name unreadable). */
  Refused: { readonly reason: string }
  /** Sys.SetConfig (`readBack: false`) or its read-back Sys.GetConfig failed. */
  WriteFailed: { readonly readBack: boolean; readonly error: RpcFailure }
  /** The device accepted the name but reads back another. */
  ReadBackMismatch: { readonly wanted: string; readonly now: string }
}>

export const FriendlyProblem = Data.taggedEnum<FriendlyProblem>()

export interface FriendlyOutcome {
  readonly status: FriendlyStatus
  /** The name shown in `Friendly=… (<name>)`. */
  readonly name: string | undefined
  readonly wroteName: boolean
  readonly problem?: FriendlyProblem | undefined
  /** Sys.GetConfig failed before the decision (a detail for the log, not an error). */
  readonly unreadable?: RpcFailure | undefined
}

/** Sys.SetConfig, then Sys.GetConfig: a name counts only once the device reads it back. */
export const writeName = (
  target: DeviceTarget,
  name: string,
  settings: Stage3Settings
): Effect.Effect<{ readonly wrote: boolean; readonly problem?: FriendlyProblem }, never, ShellyRpc> =>
  Effect.gen(function* () {
    const options = { timeout: settings.friendlyTimeout }
    const set = yield* Methods.setDeviceName(target, name, options).pipe(Effect.either)
    if (Either.isLeft(set)) return { wrote: false, problem: FriendlyProblem.WriteFailed({ readBack: false, error: set.left }) }
    const readBack = yield* Methods.sysGetConfig(target, options).pipe(Effect.either)
    if (Either.isLeft(readBack)) return { wrote: true, problem: FriendlyProblem.WriteFailed({ readBack: true, error: readBack.left }) }
    const now = readBack.right.device.name ?? ""
    return now === name ? { wrote: true } : { wrote: true, problem: FriendlyProblem.ReadBackMismatch({ wanted: name, now }) }
  })

/**
 * The friendly-name step over what the reads found: decision, then the write
 * (not in a dry run: `pending`). `nameOnDevice` is there whenever a usable
 * name is wanted (the reads step asked for it).
 */
export const syncFriendlyName = (
  target: DeviceTarget,
  wanted: WantedName,
  nameOnDevice: Either.Either<NameOnDevice, RpcFailure> | undefined,
  settings: Stage3Settings
): Effect.Effect<FriendlyOutcome, never, ShellyRpc> => {
  if (wanted === undefined) return Effect.succeed({ status: "no_value", name: undefined, wroteName: false })
  if (Either.isLeft(wanted)) {
    return Effect.succeed({
      status: "error",
      name: wanted.left.shown,
      wroteName: false,
      problem: FriendlyProblem.InvalidName({ message: wanted.left.message })
    })
  }
  const name = wanted.right
  const unreadable = nameOnDevice !== undefined && Either.isLeft(nameOnDevice) ? nameOnDevice.left : undefined
  const current: NameOnDevice = nameOnDevice !== undefined && Either.isRight(nameOnDevice) ? nameOnDevice.right : Option.none()
  const decision = decideNameWrite(name, current, settings.friendly.backfill)
  switch (decision._tag) {
    case "keep":
      return Effect.succeed({ status: "ok", name: decision.name, wroteName: false, unreadable })
    case "refuse":
      return Effect.succeed({
        status: "error",
        name,
        wroteName: false,
        unreadable,
        problem: FriendlyProblem.Refused({ reason: decision.reason })
      })
    case "write":
      if (settings.dryRun) return Effect.succeed({ status: "pending", name, wroteName: false, unreadable })
      return Effect.map(writeName(target, name, settings), (written) => ({
        status: written.problem === undefined ? "ok" : "error",
        name,
        wroteName: written.wrote,
        unreadable,
        problem: written.problem
      }))
  }
}

/** The outcome's texts for the line (`ERR=friendly: …`) and the log, in the order the line shows them. */
export const friendlyTexts = (outcome: FriendlyOutcome): { readonly error?: string; readonly details: ReadonlyArray<string> } => {
  const details: Array<string> = []
  if (outcome.unreadable !== undefined) details.push(`Sys.GetConfig failed, device name unknown: ${describeError(outcome.unreadable)}`)
  if (outcome.problem === undefined) return { details }
  const texts: { readonly error: string; readonly detail?: string } = FriendlyProblem.$match(outcome.problem, {
    InvalidName: ({ message }) => ({ error: `friendly: ${message}` }),
    Refused: ({ reason }) => ({ error: `friendly: ${reason}` }),
    WriteFailed: ({ readBack, error }) => ({
      error: `friendly: ${readBack ? "read back: " : ""}${shortRpcError(error)}`,
      detail: describeError(error)
    }),
    ReadBackMismatch: ({ wanted, now }) => ({
      error: `friendly: read back ${JSON.stringify(now)}`,
      detail: `Sys.SetConfig accepted ${JSON.stringify(wanted)} but Sys.GetConfig reads ${JSON.stringify(now)}`
    })
  })
  if (texts.detail !== undefined) details.push(texts.detail)
  return { error: texts.error, details }
}
