import { FileSystem, Path } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import {
  AppConfig,
  decodeConfig,
  defaultAppConfig,
  loadAppConfig,
  loadYaml,
  parseCidr,
  requireStage2Network,
  resolvePath,
  ssidMatcher
} from "../../src/config/index.js"

/** Writes `text` to a temp config file and loads it. */
const loadText = (text: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "cfg-" })
    const file = `${dir}/config.yaml`
    yield* fs.writeFileString(file, text)
    return { file, result: yield* Effect.either(loadAppConfig(file)) }
  })

const problemsOf = (text: string) =>
  Effect.map(loadText(text), ({ file, result }) => {
    if (Either.isRight(result)) throw new Error("expected a ConfigInvalid")
    const error = result.left
    if (error._tag !== "ConfigInvalid") throw new Error(`expected ConfigInvalid, got ${error._tag}`)
    return { file, error, problems: error.problems }
  })

describe("config.yaml loading", () => {
  it.scoped("an empty file gives every default", () =>
    Effect.gen(function* () {
      const { result } = yield* loadText("")
      const loaded = Either.getOrThrow(result)
      expect(loaded.warnings).toEqual([])
      const c = loaded.value
      expect(c).toEqual(defaultAppConfig())
      expect(c.stage3).toMatchObject({
        enabled: true,
        ip_state_file: "data/ip_state.json",
        ota: { enabled: true, mode: "check_only", timeout: 20 },
        friendly: { enabled: true, field_name: "friendly_name", backfill: false },
        logging: { base_path: "var/log/stage3.log" },
        concurrency: 256,
        device_port: 80,
        probe_timeout_ms: 250,
        fallback_timeout_ms: 1000,
        update_wait: { enabled: false }
      })
      expect(c.stage1).toMatchObject({ ap_ip: "192.168.33.1", ap_ssid_pattern: "Shelly*-*", wifi_interface: "wlan0" })
      expect(c.stage2.naming_pattern).toBe("{app}-{mac6}")
      expect(c.logging).toEqual({ base_path: "var/log", level: "info", max_file_size: 5 * 1024 * 1024, backup_count: 3 })
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.effect("the shipped data/config.yaml loads without warnings and documents exactly the defaults", () =>
    Effect.gen(function* () {
      const loaded = yield* loadAppConfig("data/config.yaml")
      expect(loaded.warnings).toEqual([])
      expect(loaded.file).toBe("data/config.yaml")
      expect(loaded.value).toEqual(defaultAppConfig())
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("given values override defaults; sections left out keep theirs", () =>
    Effect.gen(function* () {
      const { result } = yield* loadText(
        "stage3:\n  ota:\n    mode: check_and_update\n  friendly: { backfill: true }\n  device_port: 18080\nlogging:\n  max_file_size: 512KB\n"
      )
      const c = Either.getOrThrow(result).value
      expect(c.stage3.ota).toEqual({
        enabled: true,
        mode: "check_and_update",
        timeout: 20,
        // Firmware control (README "Firmware control and staged rollouts"): stable, nothing pinned.
        channel: "stable",
        target: {},
        allow_downgrade: false,
        firmware_dir: "var/firmware"
      })
      expect(c.stage3.rollout).toEqual({ waves: [], halt_after: 0, state_file: "var/rollout/state.json" })
      expect(c.stage3.friendly.backfill).toBe(true)
      expect(c.stage3.device_port).toBe(18080)
      expect(c.logging.max_file_size).toBe(512 * 1024)
      expect(c.stage1).toEqual(defaultAppConfig().stage1)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("a wrong type names the file, the field path, what was expected and what was found", () =>
    Effect.gen(function* () {
      const { error, file, problems } = yield* problemsOf("stage3:\n  ota:\n    mode: chek\n    timeout: 20s\n  concurrency: 0\n")
      expect(problems).toEqual([
        'stage3.ota.mode: expected "check_only" | "check_and_update", found "chek"',
        'stage3.ota.timeout: expected a number, found "20s"',
        "stage3.concurrency: expected a whole number of at least 1, found 0"
      ])
      expect(error.message).toContain(`invalid config ${file} (3 problems)`)
      expect(error.code).toBe("config_invalid")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("domain checks: IPv4, CIDR, MQTT needs a server, mqtt vs disable.mqtt, pool order, placeholders", () =>
    Effect.gen(function* () {
      const { problems } = yield* problemsOf(
        [
          "stage1:",
          "  ap_ip: 300.1.1.1",
          "  production_subnets: [192.0.2.0/24, 10.0.0.1/8]",
          "  mqtt: { enable: true }",
          "stage2:",
          "  pool: { start: 192.0.2.50, end: 192.0.2.10 }",
          "  naming_pattern: '{app}-{serial}'",
          "stage3:",
          "  ota: { mode: [check_only] }",
          "  friendly: 5"
        ].join("\n")
      )
      expect(problems).toContain('stage1.ap_ip: "300.1.1.1" is not an IPv4 address (expected four numbers 0-255, e.g. 192.168.1.35)')
      expect(problems).toContain(
        'stage1.production_subnets[1]: "10.0.0.1/8" has host bits set (the network of /8 starts at a multiple of 16777216)'
      )
      expect(problems).toContain("stage1.mqtt.server: required when mqtt.enable is true (e.g. broker.local:1883)")
      expect(problems).toContain("stage2.pool.end: 192.0.2.10 is below pool.start 192.0.2.50")
      expect(problems.some((p) => p.startsWith("stage2.naming_pattern: unknown placeholder {serial}"))).toBe(true)
      expect(problems).toContain('stage3.ota.mode: expected "check_only" | "check_and_update", found a list')
      expect(problems).toContain("stage3.friendly: expected a mapping (key: value), found 5")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("MQTT enabled together with disable.mqtt is refused with both fields named", () =>
    Effect.gen(function* () {
      const { problems } = yield* problemsOf("stage1:\n  mqtt: { enable: true, server: 'broker:1883' }\n")
      expect(problems).toEqual(["stage1.disable.mqtt: is true while mqtt.enable is true; set one of them to false"])
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("a YAML syntax error is reported with line and column", () =>
    Effect.gen(function* () {
      const { problems } = yield* problemsOf("stage3:\n  ota:\n    mode: check_only\n  friendly: {enabled: true\n")
      expect(problems).toHaveLength(1)
      // The unclosed map is noticed where the file ends.
      expect(problems[0]).toMatch(/^line 5, column 1: YAML syntax error: Flow map .* end with a }/)
      const colon = yield* problemsOf("stage3:\n  ota:\n    mode check_only\n    timeout: 20\n")
      expect(colon.problems[0]).toMatch(/^line 3, column 5: YAML syntax error: /)
      const dup = yield* problemsOf("stage3:\n  enabled: true\n  enabled: false\n")
      expect(dup.problems[0]).toMatch(/^line 3, column 3: YAML syntax error: .*unique/)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("unknown keys are warnings (with a suggestion for typos), not errors", () =>
    Effect.gen(function* () {
      const { file, result } = yield* loadText("stage3:\n  ota:\n    mdoe: check_and_update\n  colour: red\nextras: {}\n")
      const loaded = Either.getOrThrow(result)
      expect(loaded.warnings).toEqual([
        `config: unknown key stage3.ota.mdoe in ${file} (ignored; did you mean stage3.ota.mode?)`,
        `config: unknown key stage3.colour in ${file} (ignored)`,
        `config: unknown key extras in ${file} (ignored)`
      ])
      expect(loaded.value.stage3.ota.mode).toBe("check_only")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.effect("a missing file is ConfigMissing with the fix", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(loadAppConfig("/nonexistent/dir/config.yaml"))
      expect(error._tag).toBe("ConfigMissing")
      expect(error.message).toBe("config file /nonexistent/dir/config.yaml not found")
      expect(error.hint).toContain("--config FILE")
      const withExample = yield* Effect.flip(loadYaml("/nonexistent/x.yaml", AppConfig, { example: "data/x.example.yaml" }))
      expect(withExample.hint).toBe("copy data/x.example.yaml to /nonexistent/x.yaml and fill it in")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("a directory in place of the file is a clear ConfigInvalid", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const error = yield* Effect.flip(loadAppConfig(dir))
      expect(error._tag).toBe("ConfigInvalid")
      expect(error.message).toContain("not a regular file (a directory)")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it("loadYaml stays generic: any schema, unknown keys inside lists of mappings found too", () => {
    const Factory = Schema.Struct({ stations: Schema.Array(Schema.Struct({ port: Schema.String })) })
    const result = Either.getOrThrow(decodeConfig("factory-config.yaml", Factory, { stations: [{ port: "/dev/ttyUSB0", baud: 1 }] }))
    expect(result.warnings).toEqual(["config: unknown key stations[0].baud in factory-config.yaml (ignored)"])
  })
})

describe("config helpers", () => {
  it.effect("resolvePath joins relative paths to the root and keeps absolute ones", () =>
    Effect.gen(function* () {
      expect(yield* resolvePath("/srv/project", "data/ip_state.json")).toBe("/srv/project/data/ip_state.json")
      expect(yield* resolvePath("/srv/project", "/var/lib/x.json")).toBe("/var/lib/x.json")
      const path = yield* Path.Path
      expect(yield* resolvePath("/srv/project", "../x")).toBe(path.resolve("/srv/x"))
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it("ssidMatcher: glob and /regex/", () => {
    const glob = Either.getOrThrow(ssidMatcher("Shelly*-*"))
    expect(glob("ShellyS2PMG3-A1B2C3D4E5F6")).toBe(true)
    expect(glob("MyHomeWiFi")).toBe(false)
    const regex = Either.getOrThrow(ssidMatcher("/^Shelly.*-[0-9A-F]{12}$/"))
    expect(regex("ShellyI4G3-A1B2C3D4E5F6")).toBe(true)
    expect(regex("ShellyI4G3-xyz")).toBe(false)
    expect(Either.isLeft(ssidMatcher("/(/"))).toBe(true)
  })

  it("parseCidr", () => {
    expect(parseCidr("192.0.2.0/24")).toEqual(Either.right({ network: "192.0.2.0", prefix: 24, text: "192.0.2.0/24" }))
    expect(Either.isLeft(parseCidr("192.0.2.0/33"))).toBe(true)
    expect(Either.isLeft(parseCidr("192.0.2.0"))).toBe(true)
  })

  it("requireStage2Network names every missing or inconsistent field", () => {
    const empty = defaultAppConfig().stage2
    const missing = Either.getOrThrow(Either.flip(requireStage2Network(empty, "data/config.yaml")))
    expect(missing.problems).toEqual([
      "stage2.subnet: required for Stage 2 (e.g. 192.168.1.0/24)",
      "stage2.gateway: required for Stage 2 (e.g. 192.168.1.1)",
      "stage2.pool: required for Stage 2 (start and end address)"
    ])
    const decoded = Schema.decodeUnknownSync(AppConfig)({
      stage2: { subnet: "192.0.2.0/25", gateway: "192.0.2.1", pool: { start: "192.0.2.100", end: "192.0.2.200" } }
    }).stage2
    const bad = Either.getOrThrow(Either.flip(requireStage2Network(decoded, "c.yaml")))
    expect(bad.problems).toEqual(["stage2.pool.end: 192.0.2.200 is outside stage2.subnet 192.0.2.0/25"])
    const good = Schema.decodeUnknownSync(AppConfig)({
      stage2: { subnet: "192.0.2.0/24", gateway: "192.0.2.1", pool: { start: "192.0.2.100", end: "192.0.2.200" } }
    }).stage2
    expect(Either.getOrThrow(requireStage2Network(good, "c.yaml")).netmask).toBe("255.255.255.0")
  })
})
