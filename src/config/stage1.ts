// config.yaml `stage1:` — factory AP → production WiFi (stage1 runbook, issue 4 §3).
import { Either, Schema } from "effect"
import { CidrFromString, FilePath, Ipv4FromString, Port, Seconds, SecondsOrOff, withDefaults } from "./fields.js"

/**
 * SSID pattern of a factory AP: a glob (`*` any run, `?` one character) or a
 * regular expression between slashes (`/^Shelly.*-[0-9A-F]{12}$/`).
 */
export const ssidMatcher = (pattern: string): Either.Either<(ssid: string) => boolean, string> => {
  const regex = /^\/(.*)\/([a-z]*)$/.exec(pattern)
  try {
    if (regex) {
      const compiled = new RegExp(regex[1]!, regex[2])
      return Either.right((ssid) => compiled.test(ssid))
    }
    const escaped = pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")
    const compiled = new RegExp(`^${escaped}$`)
    return Either.right((ssid) => compiled.test(ssid))
  } catch (error) {
    return Either.left(`"${pattern}" is not a valid pattern: ${error instanceof Error ? error.message : String(error)}`)
  }
}

const SsidPattern = Schema.String.pipe(
  Schema.filter((p) => Either.match(ssidMatcher(p), { onLeft: (message) => message, onRight: () => true }))
)

export const Stage1Disable = Schema.Struct({
  cloud: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  ble: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  ap: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  mqtt: Schema.optionalWith(Schema.Boolean, { default: () => true })
})

/** MQTT to configure on the device (user/password come from secrets.yaml `mqtt:`). */
export const Stage1Mqtt = Schema.Struct({
  enable: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** `host:port` */
  server: Schema.optional(Schema.NonEmptyTrimmedString),
  client_id: Schema.optional(Schema.NonEmptyTrimmedString),
  topic_prefix: Schema.optional(Schema.NonEmptyTrimmedString)
}).pipe(
  Schema.filter(
    (m) =>
      !m.enable || m.server !== undefined || { path: ["server"], message: "required when mqtt.enable is true (e.g. broker.local:1883)" }
  )
)

/** All in seconds. */
export const Stage1Timeouts = Schema.Struct({
  /** Waiting for a factory AP to appear (once mode; loop mode waits until Ctrl+C). */
  ap_wait: Schema.optionalWith(Seconds, { default: () => 300 }),
  /** Joining the device's AP. */
  connect: Schema.optionalWith(Seconds, { default: () => 30 }),
  /** Each RPC to the device. */
  rpc: Schema.optionalWith(Seconds, { default: () => 5 }),
  /** The device appearing on the production network after its reboot. */
  join: Schema.optionalWith(Seconds, { default: () => 120 }),
  /**
   * After the join, how long to watch the device for restarting on its own
   * (the runbook's I4 reboot loop, about every 90 s); 0 switches the watch off.
   */
  stability: Schema.optionalWith(SecondsOrOff, { default: () => 100 })
})

/** mDNS browse beside the subnet scan when looking for a device after its reboot (src/shelly/mdns.ts). */
export const Stage1Mdns = Schema.Struct({
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /** The mDNS group, or one responder's unicast address (RFC 6762 §5.5). */
  group: Schema.optionalWith(Ipv4FromString, { default: () => "224.0.0.251" as Schema.Schema.Type<typeof Ipv4FromString> }),
  port: Schema.optionalWith(Port, { default: () => 5353 }),
  /** IPv4 address of the Pi's interface on the production network; unset: the routing table decides. */
  interface: Schema.optional(Ipv4FromString),
  /** How long each search round collects answers. */
  timeout: Schema.optionalWith(Seconds, { default: () => 1 })
})

export const Stage1Discovery = Schema.Struct({ mdns: withDefaults(Stage1Mdns) })

/**
 * Talk HTTPS to the devices (factory firmware 2.0.0+ ships with it; port 443:
 * set `device_port: 443`), each certificate pinned for its MAC on first
 * contact in `pin_file` (src/shelly/certPins.ts).
 */
export const Stage1Https = Schema.Struct({
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  pin_file: Schema.optionalWith(FilePath, { default: () => "data/shelly_cert_pins.json" })
})

export const Stage1Config = Schema.Struct({
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /**
   * Admin password set on each device: `fleet` = secrets.yaml device.admin_password
   * for all; `per_device` = a random one per device, kept in data/device-secrets.yaml.
   */
  auth: Schema.optionalWith(Schema.Literal("fleet", "per_device"), { default: () => "fleet" as const }),
  ap_ip: Schema.optionalWith(Ipv4FromString, { default: () => "192.168.33.1" as Schema.Schema.Type<typeof Ipv4FromString> }),
  ap_ssid_pattern: Schema.optionalWith(SsidPattern, { default: () => "Shelly*-*" }),
  disable: withDefaults(Stage1Disable),
  mqtt: withDefaults(Stage1Mqtt),
  loop_mode: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  wifi_interface: Schema.optionalWith(Schema.NonEmptyTrimmedString, { default: () => "wlan0" }),
  /** HTTP port of the devices, on their AP and on the production network (80 on real ones; simulators use high ports). */
  device_port: Schema.optionalWith(Port, { default: () => 80 }),
  timeouts: withDefaults(Stage1Timeouts),
  /** Where to look for a device after it joined (with mDNS): CIDRs scanned with `GET /shelly`. */
  production_subnets: Schema.optionalWith(Schema.Array(CidrFromString), { default: () => [] }),
  discovery: withDefaults(Stage1Discovery),
  https: withDefaults(Stage1Https),
  log_path: Schema.optionalWith(FilePath, { default: () => "var/log/stage1.log" }),
  /** Record each joined device in the inventory for Stage 2. */
  adopt: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  ip_state_file: Schema.optionalWith(FilePath, { default: () => "data/ip_state.json" })
}).pipe(
  Schema.filter(
    (s) =>
      !(s.mqtt.enable && s.disable.mqtt) || {
        path: ["disable", "mqtt"],
        message: "is true while mqtt.enable is true; set one of them to false"
      }
  )
)
export type Stage1Config = typeof Stage1Config.Type
