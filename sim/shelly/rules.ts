/**
 * Fault and trait rules: `SELECTOR=ITEM[,ITEM…]`, as given on the command line,
 * in a scenario file or through the control API.
 */
import { Either } from "effect"
import { parseIpv4 } from "../../src/domain/ipv4.js"
import { parseMac } from "../../src/domain/mac.js"
import { defaultUpdateVersion, findModel } from "./models.js"

export type Fault =
  | { readonly _tag: "offline" }
  | { readonly _tag: "blackhole" }
  | { readonly _tag: "slow"; readonly ms: number }
  | { readonly _tag: "http500_on_spaces" }
  | { readonly _tag: "fail"; readonly method: string }
  | { readonly _tag: "wrong_mac" }
  | { readonly _tag: "protected" }
  | { readonly _tag: "ap_http_dead" }
  | { readonly _tag: "reboot_loop" }
  | { readonly _tag: "drop_before_answer" }
  | { readonly _tag: "static_unreachable" }
  | { readonly _tag: "fw2" }
  | { readonly _tag: "setup_window" }
  /** The local API over TLS (sim/shelly/tlsCerts.ts): certificate A, or B (a changed certificate). */
  | { readonly _tag: "https" }
  | { readonly _tag: "https_new_cert" }
  /** OTA faults (ota.ts): never back after the update's reboot / back on the old version. */
  | { readonly _tag: "ota_no_return" }
  | { readonly _tag: "ota_old_version" }

export type Trait =
  | { readonly _tag: "update"; readonly version: string }
  | { readonly _tag: "beta"; readonly version: string }
  | { readonly _tag: "factory" }
  | { readonly _tag: "model"; readonly app: string }
  | { readonly _tag: "name"; readonly text: string }
  | { readonly _tag: "friendly"; readonly text: string }

export type RuleItem = Fault | Trait

export type Selector =
  | { readonly _tag: "all" }
  | { readonly _tag: "percent"; readonly percent: number }
  | { readonly _tag: "range"; readonly from: number; readonly to: number }
  | { readonly _tag: "ip"; readonly ip: string }
  | { readonly _tag: "mac"; readonly mac: string }

export interface Rule {
  readonly selector: Selector
  readonly items: ReadonlyArray<RuleItem>
}

const simpleFaults = [
  "offline",
  "blackhole",
  "http500_on_spaces",
  "wrong_mac",
  "protected",
  "ap_http_dead",
  "reboot_loop",
  "drop_before_answer",
  "static_unreachable",
  "fw2",
  "setup_window",
  "https",
  "https_new_cert",
  "ota_no_return",
  "ota_old_version"
] as const

const itemHelp =
  "offline, blackhole, slow:<ms>, http500_on_spaces, fail:<Method>, wrong_mac, protected, ap_http_dead, reboot_loop, " +
  "drop_before_answer, static_unreachable, fw2, setup_window, https, https_new_cert, ota_no_return, ota_old_version, " +
  "update[:<ver>], beta[:<ver>], factory, model:<App>, name:<text>, friendly:<text>"

/** One item such as `slow:300` or `fail:Sys.SetConfig`. */
export const parseItem = (text: string): Either.Either<RuleItem, string> => {
  const trimmed = text.trim()
  const colon = trimmed.indexOf(":")
  const head = (colon < 0 ? trimmed : trimmed.slice(0, colon)).toLowerCase()
  const arg = colon < 0 ? undefined : trimmed.slice(colon + 1)
  const simple = simpleFaults.find((f) => f === head)
  if (simple !== undefined && arg === undefined) return Either.right({ _tag: simple } as RuleItem)
  switch (head) {
    case "slow": {
      const ms = Number(arg)
      return arg !== undefined && Number.isInteger(ms) && ms >= 0
        ? Either.right({ _tag: "slow", ms })
        : Either.left(`"${text}": slow needs a latency in ms, e.g. slow:300`)
    }
    case "fail":
      return arg !== undefined && /^[A-Za-z0-9]+\.[A-Za-z0-9]+$/.test(arg)
        ? Either.right({ _tag: "fail", method: arg })
        : Either.left(`"${text}": fail needs a method name, e.g. fail:Sys.SetConfig`)
    case "update":
    case "beta":
      return Either.right({ _tag: head, version: arg && arg.length > 0 ? arg : defaultUpdateVersion })
    case "factory":
      return arg === undefined ? Either.right({ _tag: "factory" }) : Either.left(`"${text}": factory takes no argument`)
    case "model": {
      const model = arg === undefined ? undefined : findModel(arg)
      return model
        ? Either.right({ _tag: "model", app: model.app })
        : Either.left(`"${text}": unknown model (use an app such as S2PMG3 or a model code)`)
    }
    case "name":
    case "friendly":
      return arg !== undefined && arg.length > 0
        ? Either.right({ _tag: head, text: arg })
        : Either.left(`"${text}": ${head} needs a text, e.g. ${head}:Kitchen`)
    default:
      return Either.left(`"${text}" is not a known fault or trait (known: ${itemHelp})`)
  }
}

/** `all`, `10%`, `3`, `3-7`, an IPv4 address or a MAC address. */
export const parseSelector = (text: string): Either.Either<Selector, string> => {
  const trimmed = text.trim()
  if (trimmed.toLowerCase() === "all") return Either.right({ _tag: "all" })
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(trimmed)
  if (percent) {
    const value = Number(percent[1])
    return value <= 100 ? Either.right({ _tag: "percent", percent: value }) : Either.left(`"${text}": a percentage is at most 100%`)
  }
  const range = /^(\d+)(?:-(\d+))?$/.exec(trimmed)
  if (range) {
    const from = Number(range[1])
    const to = range[2] === undefined ? from : Number(range[2])
    return from >= 1 && to >= from
      ? Either.right({ _tag: "range", from, to })
      : Either.left(`"${text}": device numbers start at 1 (ranges as 3-7)`)
  }
  if (Either.isRight(parseIpv4(trimmed))) return Either.right({ _tag: "ip", ip: trimmed })
  const mac = parseMac(trimmed)
  if (Either.isRight(mac)) return Either.right({ _tag: "mac", mac: mac.right })
  return Either.left(`"${text}" selects no devices (use all, 10%, 3, 3-7, an IPv4 address or a MAC)`)
}

/** `SELECTOR=ITEM[,ITEM…]` */
export const parseRule = (text: string): Either.Either<Rule, string> => {
  const eq = text.indexOf("=")
  if (eq < 0) return Either.left(`rule "${text}" needs the form SELECTOR=ITEM[,ITEM…], e.g. 10%=blackhole or 3=slow:300`)
  return Either.gen(function* () {
    const selector = yield* parseSelector(text.slice(0, eq))
    const items = yield* Either.all(
      text
        .slice(eq + 1)
        .split(",")
        .filter((s) => s.trim().length > 0)
        .map(parseItem)
    )
    if (items.length === 0) return yield* Either.left(`rule "${text}" names no fault or trait`)
    return { selector, items }
  }).pipe(Either.mapLeft((message) => `fault rule: ${message}`))
}

export const isFault = (item: RuleItem): item is Fault =>
  item._tag !== "update" &&
  item._tag !== "beta" &&
  item._tag !== "factory" &&
  item._tag !== "model" &&
  item._tag !== "name" &&
  item._tag !== "friendly"

/** The item as text again (for views and the control API). */
export const formatItem = (item: RuleItem): string => {
  switch (item._tag) {
    case "slow":
      return `slow:${item.ms}`
    case "fail":
      return `fail:${item.method}`
    case "update":
    case "beta":
      return `${item._tag}:${item.version}`
    case "model":
      return `model:${item.app}`
    case "name":
    case "friendly":
      return `${item._tag}:${item.text}`
    default:
      return item._tag
  }
}
