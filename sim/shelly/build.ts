/**
 * From options to device seeds: MACs from the seed, models cycled, rules
 * applied (percentage picks disjoint and seeded), production addresses counted
 * up from the base address for devices not in factory state.
 */
import { Chunk, Effect, Either, Random } from "effect"
import type { Ipv4 } from "../../src/domain/ipv4.js"
import { hostSequence } from "./addresses.js"
import type { DeviceSeed, PendingUpdate, WifiNetwork } from "./device.js"
import type { ModelSpec } from "./models.js"
import { findModel } from "./models.js"
import type { Fault, Rule, RuleItem } from "./rules.js"
import { isFault } from "./rules.js"

/** Real Shelly OUIs; one is chosen per seed. */
const ouis = ["34B7DA", "8CBFEA", "E4B063", "485519", "A0A3B3", "DCDA0C", "CCDBA7", "5443B2"]
/** Rooms for default inventory friendly names (some with spaces and umlauts on purpose). */
const rooms = ["Wohnzimmer", "Küche", "Schlafzimmer", "Bad", "Flur", "Büro", "Garage", "Keller", "Kinderzimmer", "Terrasse"]

export interface BuildInput {
  readonly count: number
  readonly seed: number
  readonly models: ReadonlyArray<ModelSpec>
  readonly rules: ReadonlyArray<Rule>
  readonly baseIp: Ipv4
  readonly network: WifiNetwork
}

const emptyPending: PendingUpdate = {}

export const buildSeeds = (input: BuildInput): Either.Either<Array<DeviceSeed>, string> => {
  const rng = Random.make(input.seed)
  const oui = ouis[Effect.runSync(rng.nextIntBetween(0, ouis.length))]!
  const base24 = Effect.runSync(rng.nextIntBetween(0, 0x1000000))
  const order = Chunk.toReadonlyArray(Effect.runSync(rng.shuffle(Array.from({ length: input.count }, (_, i) => i))))
  const macs = Array.from({ length: input.count }, (_, i) => oui + ((base24 + i) % 0x1000000).toString(16).toUpperCase().padStart(6, "0"))
  const items: Array<Array<RuleItem>> = macs.map(() => [])

  let cursor = 0
  const pick = (percent: number): Array<number> => {
    const n = Math.round((percent / 100) * input.count)
    const out: Array<number> = []
    for (let k = 0; k < n; k++) out.push(order[(cursor + k) % input.count]!)
    cursor = (cursor + n) % Math.max(1, input.count)
    return out
  }

  // Pass 1: selectors that do not depend on addresses (addresses depend on `factory`).
  for (const rule of input.rules) {
    const s = rule.selector
    let chosen: Array<number>
    switch (s._tag) {
      case "all":
        chosen = macs.map((_, i) => i)
        break
      case "percent":
        chosen = pick(s.percent)
        break
      case "range":
        if (s.to > input.count) return Either.left(`fault rule selects device ${s.to}, but the fleet has ${input.count}`)
        chosen = Array.from({ length: s.to - s.from + 1 }, (_, k) => s.from - 1 + k)
        break
      case "mac": {
        const i = macs.indexOf(s.mac)
        if (i < 0) return Either.left(`fault rule selects MAC ${s.mac}, which is not in this fleet (seed ${input.seed})`)
        chosen = [i]
        break
      }
      case "ip":
        continue
    }
    for (const i of chosen) items[i]!.push(...rule.items)
  }

  const isFactory = (i: number) => items[i]!.some((item) => item._tag === "factory")
  const productionIndexes = macs.map((_, i) => i).filter((i) => !isFactory(i))
  const addresses = hostSequence(input.baseIp, productionIndexes.length)
  const ipOf = new Map<number, Ipv4>(productionIndexes.map((i, k) => [i, addresses[k]!]))

  // Pass 2: selectors by production address.
  for (const rule of input.rules) {
    if (rule.selector._tag !== "ip") continue
    const wanted = rule.selector.ip
    if (rule.items.some((item) => item._tag === "factory"))
      return Either.left(`fault rule ${wanted}: factory devices have no address; select them by number or MAC`)
    const entry = [...ipOf.entries()].find(([, ip]) => ip === wanted)
    if (entry === undefined) return Either.left(`fault rule selects ${wanted}, which is no device address in this fleet`)
    items[entry[0]]!.push(...rule.items)
  }

  const seeds: Array<DeviceSeed> = []
  for (let i = 0; i < input.count; i++) {
    const own = items[i]!
    let model = input.models[i % input.models.length]!
    let name: string | null = null
    let friendly: string | undefined = `${rooms[i % rooms.length]} ${Math.floor(i / rooms.length) + 1}`
    const pending: PendingUpdate = {}
    const faults: Array<Fault> = []
    for (const item of own) {
      if (isFault(item)) faults.push(item)
      else if (item._tag === "update") pending.stable = item.version
      else if (item._tag === "beta") pending.beta = item.version
      else if (item._tag === "model") model = findModel(item.app) ?? model
      else if (item._tag === "name") name = item.text
      else if (item._tag === "friendly") friendly = item.text
    }
    seeds.push({
      index: i + 1,
      mac: macs[i]!,
      model,
      factory: isFactory(i),
      ip: ipOf.get(i) ?? null,
      name,
      friendlyName: friendly,
      pending: pending.stable || pending.beta ? pending : emptyPending,
      faults,
      rssi: -40 - Effect.runSync(rng.nextIntBetween(0, 35)),
      network: input.network
    })
  }
  return Either.right(seeds)
}
