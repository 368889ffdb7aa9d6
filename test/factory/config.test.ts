import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { stringify } from "yaml"
import { loadFactoryConfig } from "../../src/factory/loadConfig.js"
import { tempDir } from "./support.js"

// biome-ignore lint/suspicious/noExplicitAny: each test patches the nested YAML document freely
const setup = (patch: (config: Record<string, any>) => void = () => {}) => {
  const dir = tempDir("fp-fcfg-")
  mkdirSync(join(dir, "fw"), { recursive: true })
  mkdirSync(join(dir, "data"), { recursive: true })
  for (const name of ["boot.bin", "parts.bin", "app32.bin", "app8266.bin"]) writeFileSync(join(dir, "fw", name), new Uint8Array(64))
  // biome-ignore lint/suspicious/noExplicitAny: see setup
  const config: Record<string, any> = {
    stations: [
      { station_id: "s1", ports: ["/dev/ttyUSB0", "/dev/ttyUSB1"], board_type: "esp32" },
      { station_id: "s2", ports: ["/dev/ttyUSB2"], board_type: "esp8266" }
    ],
    board_configs: {
      esp32: {
        platform: "esp32",
        firmware_path: "../fw/app32.bin",
        bootloader_path: "../fw/boot.bin",
        partition_table_path: "../fw/parts.bin"
      },
      esp8266: { platform: "esp8266", firmware_path: "../fw/app8266.bin", firmware_offset: "0x2000" }
    }
  }
  patch(config)
  const file = join(dir, "data", "factory-config.yaml")
  writeFileSync(file, stringify(config))
  return { dir, file }
}

const load = (file: string) => loadFactoryConfig(file).pipe(Effect.provide(NodeContext.layer), Effect.flip)

describe("factory-config.yaml", () => {
  it.effect("applies the runbook defaults and the chip's offsets; paths are relative to the file", () =>
    Effect.gen(function* () {
      const { dir, file } = setup()
      const { config } = yield* loadFactoryConfig(file).pipe(Effect.provide(NodeContext.layer))
      expect(config.raw.provisioning_service_url).toBe("http://localhost:3002")
      expect(config.raw.quality_gates).toEqual({
        max_firmware_size: { esp32: 3145728, esp8266: 1048576 },
        max_flash_time: 120,
        max_retry_attempts: 3
      })
      expect(config.raw.logging).toEqual({ level: "INFO", console_output: true, max_file_size: 10485760, backup_count: 5 })
      expect(config.tests.map((t) => [t.name, t.command, t.expected_response, t.timeout])).toEqual([["boot_test", "info", "OK", 5]])
      expect(config.boards.esp32!.images.map((i) => [i.name, i.offset, i.path])).toEqual([
        ["bootloader", 0x1000, join(dir, "fw/boot.bin")],
        ["partition_table", 0x8000, join(dir, "fw/parts.bin")],
        ["firmware", 0x10000, join(dir, "fw/app32.bin")]
      ])
      // A hex string offset is read as hex; ESP8266 without bootloader/partitions writes one image.
      expect(config.boards.esp8266!.images.map((i) => [i.name, i.offset])).toEqual([["firmware", 0x2000]])
    })
  )

  it.effect("a missing firmware file names the board config, the field and the path", () =>
    Effect.gen(function* () {
      const { file, dir } = setup((c) => (c.board_configs.esp32.firmware_path = "../fw/nope.bin"))
      const error = yield* load(file)
      expect(error._tag).toBe("FactoryConfigInvalid")
      expect(error.message).toContain("board_configs.esp32.firmware_path")
      expect(error.message).toContain(join(dir, "fw/nope.bin"))
      expect(error.message).toContain(`board config "esp32"`)
      expect(error.message).toContain(file)
    })
  )

  it.effect("a port listed twice across stations is an error naming both places", () =>
    Effect.gen(function* () {
      const { file } = setup((c) => c.stations[1].ports.push("/dev/ttyUSB1"))
      const error = yield* load(file)
      expect(error._tag).toBe("FactoryConfigInvalid")
      expect(error.message).toContain("stations[1].ports[1]")
      expect(error.message).toContain("/dev/ttyUSB1 is listed twice (also at stations[0].ports[1])")
    })
  )

  it.effect("an unknown board_type is an error listing the known ones", () =>
    Effect.gen(function* () {
      const { file } = setup((c) => (c.stations[0].board_type = "esp33"))
      const error = yield* load(file)
      expect(error.message).toContain("stations[0].board_type")
      expect(error.message).toContain(`unknown board_type "esp33"`)
      expect(error.hint).toContain("esp32, esp8266")
    })
  )

  it.effect("schema problems (bad platform, bad offset) come back per field from the generic loader; the file is untouched", () =>
    Effect.gen(function* () {
      const { file } = setup((c) => {
        c.board_configs.esp32.platform = "esp31"
        c.board_configs.esp8266.firmware_offset = "0xZZ"
      })
      const before = readFileSync(file, "utf8")
      const error = yield* load(file)
      expect(error._tag).toBe("ConfigInvalid")
      expect(error.message).toContain("board_configs.esp32.platform")
      expect(error.message).toContain("board_configs.esp8266.firmware_offset")
      expect(readFileSync(file, "utf8")).toBe(before)
    })
  )

  it.effect(
    "per-port board types: a port may be { path, board_type }; an unknown one names station, port and the known board configs",
    () =>
      Effect.gen(function* () {
        const { file } = setup((c) => {
          c.stations[1] = {
            station_id: "s2",
            ports: ["/dev/ttyUSB2", { path: "/dev/ttyUSB3", board_type: "esp32" }],
            board_type: "esp8266"
          }
          c.stations.push({ station_id: "s3", ports: [{ path: "/dev/ttyUSB4", board_type: "esp8266" }] })
        })
        const { config } = yield* loadFactoryConfig(file).pipe(Effect.provide(NodeContext.layer))
        expect(config.stations.map((s) => [s.station_id, s.ports, s.portBoardTypes])).toEqual([
          ["s1", ["/dev/ttyUSB0", "/dev/ttyUSB1"], ["esp32", "esp32"]],
          ["s2", ["/dev/ttyUSB2", "/dev/ttyUSB3"], ["esp8266", "esp32"]],
          ["s3", ["/dev/ttyUSB4"], ["esp8266"]]
        ])

        const unknown = yield* load(
          setup((c) => (c.stations[1].ports = ["/dev/ttyUSB2", { path: "/dev/ttyUSB3", board_type: "pico" }])).file
        )
        expect(unknown._tag).toBe("FactoryConfigInvalid")
        expect(unknown.message).toContain("stations[1].ports[1].board_type")
        expect(unknown.message).toContain(`unknown board_type "pico" for port /dev/ttyUSB3 of station s2`)
        expect(unknown.hint).toContain("use one of the board_configs: esp32, esp8266")

        const untyped = yield* load(setup((c) => c.stations.push({ station_id: "s3", ports: ["/dev/ttyUSB9"] })).file)
        expect(untyped.message).toContain("stations[2].ports[0]")
        expect(untyped.message).toContain("has no board type")

        // A typed port still counts for the "listed twice" check.
        const twice = yield* load(setup((c) => c.stations[1].ports.push({ path: "/dev/ttyUSB0", board_type: "esp32" })).file)
        expect(twice.message).toContain("port /dev/ttyUSB0 is listed twice")
      })
  )

  it.effect("rp2040_method defaults to auto and rejects other values with the field path", () =>
    Effect.gen(function* () {
      const { file } = setup((c) => (c.board_configs.pico = { platform: "rp2040", firmware_path: "../fw/app32.bin" }))
      const { config } = yield* loadFactoryConfig(file).pipe(Effect.provide(NodeContext.layer))
      expect(config.boards["pico"]!.config.rp2040_method).toBe("auto")
      const bad = yield* load(
        setup((c) => (c.board_configs.pico = { platform: "rp2040", firmware_path: "../fw/app32.bin", rp2040_method: "dfu" })).file
      )
      expect(bad.message).toContain("rp2040_method")
    })
  )
})
