import { ParseResult, Schema } from "effect"
import { MAX_SECONDS } from "../config/fields.js"
import { familyConfigFields, PlatformSchema } from "../flash/families.js"

/**
 * factory-config.yaml: every key of the factory runbook, with its default.
 * Keys stay snake_case as in the runbook so existing files load unchanged.
 */

// The platforms, their default offsets and each family's own board-config fields come from the family registry.
export { defaultOffsets, PlatformSchema } from "../flash/families.js"

/** Flash offsets are written as numbers (`4096`, YAML `0x1000`) or hex strings (`"0x1000"`). */
export const Offset = Schema.transformOrFail(Schema.Union(Schema.Number, Schema.String), Schema.Number, {
  strict: true,
  decode: (input, _options, ast) => {
    const value =
      typeof input === "number"
        ? input
        : /^0x[0-9a-f]+$/i.test(input.trim())
          ? Number.parseInt(input.trim(), 16)
          : /^\d+$/.test(input.trim())
            ? Number(input.trim())
            : Number.NaN
    return Number.isSafeInteger(value) && value >= 0
      ? ParseResult.succeed(value)
      : ParseResult.fail(new ParseResult.Type(ast, input, `expected a flash offset such as 0x10000 or 65536, got ${JSON.stringify(input)}`))
  },
  encode: (value) => ParseResult.succeed(`0x${value.toString(16)}`)
})

const PositiveInt = Schema.Int.pipe(Schema.positive())
/** Bounded like every duration field (config/fields.ts: Node's timers stop at 2³¹−1 ms). */
const Seconds = Schema.Number.pipe(
  Schema.positive(),
  Schema.filter((n) => n <= MAX_SECONDS || `expected at most ${MAX_SECONDS} seconds (about 24 days), found ${n}`)
)

/**
 * An http(s) service address. Anything else used to be accepted and every
 * registration went to the queue as "backend down"; now it is a config error.
 */
const HttpUrl = Schema.String.pipe(
  Schema.filter((text) => {
    const problem = `expected an http:// or https:// URL such as http://localhost:3002, found ${JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text)}`
    if (!URL.canParse(text)) return problem
    const url = new URL(text)
    return ((url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "") || problem
  })
)

/** A port with its own board type: a mixed station (AVR + STM32 + Pico on one bench). */
export const TypedPortSchema = Schema.Struct({
  path: Schema.NonEmptyTrimmedString,
  /** A key of `board_configs`; overrides the station's `board_type` for this port. */
  board_type: Schema.NonEmptyTrimmedString
})
export type TypedPort = typeof TypedPortSchema.Type

export const StationSchema = Schema.Struct({
  station_id: Schema.NonEmptyTrimmedString,
  /**
   * Each entry: a device path, a USB serial number, or `VID:PID` (must match exactly one port),
   * or `{ path, board_type }` for a port whose board differs from the station's.
   */
  ports: Schema.Array(Schema.Union(Schema.NonEmptyTrimmedString, TypedPortSchema)).pipe(Schema.minItems(1)),
  /** A key of `board_configs`: the board of every port given as a plain string. Optional when every port names its own. */
  board_type: Schema.optional(Schema.NonEmptyTrimmedString)
})
export type StationEntry = typeof StationSchema.Type

/** A station after loading: `ports` are the selectors, `portBoardTypes[i]` the board config of `ports[i]`. */
export interface Station {
  readonly station_id: string
  readonly ports: ReadonlyArray<string>
  readonly portBoardTypes: ReadonlyArray<string>
  /** The station's default board type (when it has one). */
  readonly board_type?: string | undefined
}

export const ResetMode = Schema.Literal("default_reset", "usb_reset", "no_reset")

export const BoardConfigSchema = Schema.Struct({
  platform: PlatformSchema,
  board_model: Schema.optionalWith(Schema.String, { default: () => "" }),
  /** `4MB`, `1MB`, `512KB`, or `detect` (take what the chip reports). */
  flash_size: Schema.optionalWith(Schema.String.pipe(Schema.pattern(/^(detect|\d+(KB|MB))$/)), { default: () => "detect" }),
  firmware_path: Schema.NonEmptyTrimmedString,
  bootloader_path: Schema.optional(Schema.NonEmptyTrimmedString),
  partition_table_path: Schema.optional(Schema.NonEmptyTrimmedString),
  /** Defaults come from the chip (see `defaultOffsets`). */
  bootloader_offset: Schema.optional(Offset),
  partition_table_offset: Schema.optional(Offset),
  firmware_offset: Schema.optional(Offset),
  /** Recorded in the CSV and sent to the backend. */
  firmware_version: Schema.optionalWith(Schema.String, { default: () => "unknown" }),
  /** Baud rate to talk to the bootloader. */
  baud: Schema.optionalWith(PositiveInt, { default: () => 115200 }),
  /** Faster rate for the data transfer (ESP CHANGE_BAUDRATE); unset keeps `baud`. */
  flash_baud: Schema.optional(PositiveInt),
  /** Baud rate of the application's console (boot banner, device tests). */
  app_baud: Schema.optionalWith(PositiveInt, { default: () => 115200 }),
  /** How to get into the bootloader; `no_reset` for ptys and boards put into download mode by hand. */
  reset_mode: Schema.optionalWith(ResetMode, { default: () => "default_reset" as const }),
  connect_attempts: Schema.optionalWith(PositiveInt, { default: () => 4 }),
  /** Text the application prints once it runs; empty: any output counts. */
  boot_banner: Schema.optionalWith(Schema.String, { default: () => "" }),
  boot_timeout: Schema.optionalWith(Seconds, { default: () => 5 }),
  /** Fields only one family reads (AVR `mcu`, STM32 `part`/`reset_mapping`, RP2040 `volume_roots`/`boot_wait`/`rp2040_method`): flash/<family>/family.ts. */
  ...familyConfigFields
})
export type BoardConfig = typeof BoardConfigSchema.Type

export const DeviceTestSchema = Schema.Struct({
  name: Schema.NonEmptyTrimmedString,
  command: Schema.NonEmptyString,
  /** Passes when a line of the answer contains this text. */
  expected_response: Schema.NonEmptyString,
  timeout: Schema.optionalWith(Seconds, { default: () => 5 })
})
export type DeviceTest = typeof DeviceTestSchema.Type

/** Seconds between a station's heartbeats when `database.heartbeat_s` is not set. */
export const DEFAULT_HEARTBEAT_S = 5

export const FactoryConfigSchema = Schema.Struct({
  provisioning_service_url: Schema.optionalWith(HttpUrl, { default: () => "http://localhost:3002" }),
  ota_service_url: Schema.optionalWith(HttpUrl, { default: () => "http://localhost:3004" }),
  stations: Schema.Array(StationSchema).pipe(Schema.minItems(1)),
  board_configs: Schema.Record({ key: Schema.String, value: BoardConfigSchema }),
  quality_gates: Schema.optionalWith(
    Schema.Struct({
      /** Bytes per platform; a platform without an entry has no size gate. */
      max_firmware_size: Schema.optionalWith(Schema.Record({ key: Schema.String, value: PositiveInt }), {
        default: () => ({ esp32: 3145728, esp8266: 1048576 })
      }),
      /** Seconds for connect + write of one board, retries included. */
      max_flash_time: Schema.optionalWith(Seconds, { default: () => 120 }),
      /** Attempts per board including the first. */
      max_retry_attempts: Schema.optionalWith(PositiveInt, { default: () => 3 })
    }),
    { default: () => ({ max_firmware_size: { esp32: 3145728, esp8266: 1048576 }, max_flash_time: 120, max_retry_attempts: 3 }) }
  ),
  testing: Schema.optionalWith(
    Schema.Struct({
      enabled: Schema.optionalWith(Schema.Boolean, { default: () => true }),
      tests: Schema.optionalWith(Schema.Array(DeviceTestSchema), {
        default: () => [{ name: "boot_test", command: "info", expected_response: "OK", timeout: 5 }]
      })
    }),
    { default: () => ({ enabled: true, tests: [{ name: "boot_test", command: "info", expected_response: "OK", timeout: 5 }] }) }
  ),
  /** The shared store for many stations (PostgreSQL); absent: files only. `--database` / PROVISION_DATABASE_URL override `url`. */
  database: Schema.optional(
    Schema.Struct({
      /** postgres://USER:PASSWORD@HOST:PORT/DB — the password is a secret: prefer PROVISION_DATABASE_URL for it. */
      url: Schema.optional(Schema.String),
      /** Seconds between station heartbeats; a station is stale after three missed ones. */
      heartbeat_s: Schema.optionalWith(Seconds, { default: () => DEFAULT_HEARTBEAT_S })
    })
  ),
  logging: Schema.optionalWith(
    Schema.Struct({
      level: Schema.optionalWith(Schema.Literal("DEBUG", "INFO", "WARNING", "ERROR"), { default: () => "INFO" as const }),
      console_output: Schema.optionalWith(Schema.Boolean, { default: () => true }),
      max_file_size: Schema.optionalWith(PositiveInt, { default: () => 10485760 }),
      backup_count: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 5 })
    }),
    { default: () => ({ level: "INFO" as const, console_output: true, max_file_size: 10485760, backup_count: 5 }) }
  )
})
export type FactoryConfigFile = typeof FactoryConfigSchema.Type

/** A station's heartbeat interval in seconds, from its config (none, or no `database` section: the default). */
export const heartbeatSeconds = (raw: FactoryConfigFile | undefined): number => raw?.database?.heartbeat_s ?? DEFAULT_HEARTBEAT_S

/** When a station counts as stale: three heartbeats missed (as the store's own `staleAfter`). */
export const staleAfterMs = (raw: FactoryConfigFile | undefined): number => 3000 * heartbeatSeconds(raw)

export const parseFlashSize = (text: string): number | undefined => {
  const match = /^(\d+)(KB|MB)$/.exec(text)
  if (!match) return undefined
  return Number(match[1]) * (match[2] === "MB" ? 1024 * 1024 : 1024)
}
