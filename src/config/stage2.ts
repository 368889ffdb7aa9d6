// config.yaml `stage2:` — address plan and naming (issue 4 §4). The network
// fields have no defaults (a guessed subnet would put devices on the wrong
// network); `requireStage2Network` checks them when Stage 2 runs.
import { Either, Schema } from "effect"
import { ConfigInvalid } from "../domain/errors/config.js"
import type { Ipv4 } from "../domain/ipv4.js"
import { ipv4ToNumber } from "../domain/ipv4.js"
import type { Cidr } from "./fields.js"
import { CidrFromString, FilePath, Ipv4FromString, Port, Seconds, withDefaults } from "./fields.js"

/** Placeholders a naming pattern may use. */
export const NAMING_PLACEHOLDERS = ["app", "model", "mac", "mac6", "id", "room", "ip_last"] as const

const NamingPattern = Schema.String.pipe(
  Schema.filter((pattern) => {
    const used = [...pattern.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]!)
    const unknown = used.filter((p) => !(NAMING_PLACEHOLDERS as ReadonlyArray<string>).includes(p))
    if (unknown.length > 0) {
      return `unknown placeholder {${unknown[0]}} (known: ${NAMING_PLACEHOLDERS.map((p) => `{${p}}`).join(" ")})`
    }
    return pattern.trim().length > 0 || "expected a naming pattern such as {app}-{mac6}"
  })
)

export const Stage2Pool = Schema.Struct({ start: Ipv4FromString, end: Ipv4FromString }).pipe(
  Schema.filter(
    (pool) =>
      ipv4ToNumber(pool.start) <= ipv4ToNumber(pool.end) || { path: ["end"], message: `${pool.end} is below pool.start ${pool.start}` }
  )
)

export const Stage2Timeouts = Schema.Struct({
  rpc: Schema.optionalWith(Seconds, { default: () => 5 }),
  /** Reboot until the device answers at its new address. */
  verify: Schema.optionalWith(Seconds, { default: () => 60 })
})

export const Stage2Config = Schema.Struct({
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  ip_state_file: Schema.optionalWith(FilePath, { default: () => "data/ip_state.json" }),
  subnet: Schema.optional(CidrFromString),
  /** Derived from `subnet` when left out. */
  netmask: Schema.optional(Ipv4FromString),
  gateway: Schema.optional(Ipv4FromString),
  dns: Schema.optional(Ipv4FromString),
  pool: Schema.optional(Stage2Pool),
  naming_pattern: Schema.optionalWith(NamingPattern, { default: () => "{app}-{mac6}" }),
  /** CSV with columns mac, ip, name, room; used when the file exists. */
  plan_file: Schema.optionalWith(FilePath, { default: () => "data/plan.csv" }),
  /** HTTP port of the devices (80 on real ones; simulators use high ports). */
  device_port: Schema.optionalWith(Port, { default: () => 80 }),
  timeouts: withDefaults(Stage2Timeouts)
})
export type Stage2Config = typeof Stage2Config.Type

export interface Stage2Network {
  readonly subnet: Cidr
  readonly netmask: Ipv4
  readonly gateway: Ipv4
  readonly dns: Ipv4 | undefined
  readonly pool: { readonly start: Ipv4; readonly end: Ipv4 }
}

export const prefixToNetmask = (prefix: number): Ipv4 =>
  [24, 16, 8, 0].map((shift) => ((prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0) >>> shift) & 255).join(".") as Ipv4

const inSubnet = (ip: Ipv4, subnet: Cidr): boolean => {
  const size = 2 ** (32 - subnet.prefix)
  const base = ipv4ToNumber(subnet.network as Ipv4)
  return ipv4ToNumber(ip) >= base && ipv4ToNumber(ip) < base + size
}

/** The network fields Stage 2 needs, or ConfigInvalid naming each missing/inconsistent one. */
export const requireStage2Network = (config: Stage2Config, file: string): Either.Either<Stage2Network, ConfigInvalid> => {
  const problems: Array<string> = []
  if (config.subnet === undefined) problems.push("stage2.subnet: required for Stage 2 (e.g. 192.168.1.0/24)")
  if (config.gateway === undefined) problems.push("stage2.gateway: required for Stage 2 (e.g. 192.168.1.1)")
  if (config.pool === undefined) problems.push("stage2.pool: required for Stage 2 (start and end address)")
  const subnet = config.subnet
  if (subnet !== undefined) {
    const check = (field: string, ip: Ipv4 | undefined) => {
      if (ip !== undefined && !inSubnet(ip, subnet)) problems.push(`stage2.${field}: ${ip} is outside stage2.subnet ${subnet.text}`)
    }
    check("gateway", config.gateway)
    check("pool.start", config.pool?.start)
    check("pool.end", config.pool?.end)
    const derived = prefixToNetmask(subnet.prefix)
    if (config.netmask !== undefined && config.netmask !== derived) {
      problems.push(`stage2.netmask: ${config.netmask} does not match stage2.subnet ${subnet.text} (expected ${derived})`)
    }
  }
  if (problems.length > 0 || subnet === undefined || config.gateway === undefined || config.pool === undefined) {
    return Either.left(new ConfigInvalid({ file, problems }))
  }
  return Either.right({
    subnet,
    netmask: config.netmask ?? prefixToNetmask(subnet.prefix),
    gateway: config.gateway,
    dns: config.dns,
    pool: config.pool
  })
}
