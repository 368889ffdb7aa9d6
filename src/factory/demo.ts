/**
 * The factory section of `provision demo`, and the emulated line the tests
 * use: ESP32/ESP8266 ROM emulators on ptys (sim/esp), the provisioning backend
 * simulator on 127.0.0.1 (sim/backend), a project folder with images,
 * factory-config.yaml and secrets.yaml. Everything lives in a scope.
 */
import { FileSystem, Path } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Console, Effect, Layer, Redacted, Scope } from "effect"
import { stringify } from "yaml"
import { type BackendSim, backendSim } from "../../sim/backend/index.js"
import { type EspBoard, type EspChip, type EspFault, type EspSelfTests, makeEsp32FlashSet, makeEsp8266FlashSet, startEspBoards } from "../../sim/esp/index.js"
import { FlasherLive } from "../flash/FlasherLive.js"
import { SerialPortsLive } from "../serial/SerialPortsLive.js"
import { BackendLive } from "./BackendLive.js"
import { runBatch } from "./batch.js"
import { boardLine } from "./lines.js"
import { loadFactoryConfig } from "./loadConfig.js"
import { makeFactoryLog } from "./log.js"
import { portProgress } from "./progress.js"
import { RegistrationQueueLive } from "./RegistrationQueue.js"

export interface EmulatedBoardSpec {
  readonly chip: EspChip
  readonly mac: string
  readonly faults?: ReadonlyArray<EspFault | string>
  readonly tests?: EspSelfTests
}

export interface EmulatedLineSpec {
  /** Project folder to fill (data/, firmware/, var/ below it). */
  readonly dir: string
  readonly stations: ReadonlyArray<{ readonly id: string; readonly boardType: "esp32" | "esp8266"; readonly boards: ReadonlyArray<EmulatedBoardSpec> }>
  readonly token?: string
  /** Start the backend simulator (default true); false leaves the URL pointing at a closed port. */
  readonly backend?: boolean
  readonly appSize?: number
  /** Deep-merged over the generated factory-config.yaml content. */
  readonly configPatch?: (config: Record<string, unknown>) => Record<string, unknown>
}

export interface EmulatedLine {
  readonly configFile: string
  readonly secretsFile: string
  readonly boards: ReadonlyArray<EspBoard>
  readonly backend: BackendSim | undefined
  readonly backendUrl: string
  readonly token: string
}

export const DEMO_TOKEN = "demo-backend-token-0001"

export const emulatedLine = (spec: EmulatedLineSpec): Effect.Effect<EmulatedLine, Error, Scope.Scope | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const token = spec.token ?? DEMO_TOKEN
    const write = (file: string, data: Uint8Array | string) =>
      fs.makeDirectory(path.dirname(file), { recursive: true }).pipe(
        Effect.zipRight(typeof data === "string" ? fs.writeFileString(file, data) : fs.writeFile(file, data)),
        Effect.mapError((e) => new Error(e.message))
      )
    const esp32 = makeEsp32FlashSet({ version: "1.0.0", projectName: "factory-app", ...(spec.appSize ? { appSize: spec.appSize } : {}) })
    const esp8266 = makeEsp8266FlashSet({ version: "1.0.0", projectName: "factory-app", ...(spec.appSize ? { appSize: spec.appSize } : {}) })
    yield* write(path.join(spec.dir, "firmware/esp32/bootloader.bin"), esp32[0]!.data)
    yield* write(path.join(spec.dir, "firmware/esp32/partitions.bin"), esp32[1]!.data)
    yield* write(path.join(spec.dir, "firmware/esp32/firmware.bin"), esp32[2]!.data)
    yield* write(path.join(spec.dir, "firmware/esp8266/firmware.bin"), esp8266[0]!.data)

    const sim = spec.backend === false ? undefined : yield* backendSim({ token, host: "127.0.0.1", port: 0 })
    // A closed loopback port: connections are refused, like a backend that is down.
    const backendUrl = sim?.url ?? "http://127.0.0.1:9"

    const boards = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          startEspBoards(
            spec.stations.flatMap((station) =>
              station.boards.map((board) => ({
                chip: board.chip,
                mac: board.mac,
                pace: false,
                faults: board.faults ?? [],
                ...(board.tests ? { tests: board.tests } : {})
              }))
            )
          ),
        catch: (e) => (e instanceof Error ? e : new Error(String(e)))
      }),
      (started) => Effect.promise(() => Promise.all(started.map((board) => board.stop())))
    )
    let next = 0
    const stations = spec.stations.map((station) => ({
      station_id: station.id,
      ports: station.boards.map(() => boards[next++]!.hostPath),
      board_type: station.boardType
    }))
    const base: Record<string, unknown> = {
      provisioning_service_url: backendUrl,
      ota_service_url: "http://127.0.0.1:9",
      stations,
      board_configs: {
        esp32: {
          platform: "esp32",
          board_model: "ESP32-WROOM-32",
          flash_size: "4MB",
          firmware_path: "../firmware/esp32/firmware.bin",
          bootloader_path: "../firmware/esp32/bootloader.bin",
          partition_table_path: "../firmware/esp32/partitions.bin",
          firmware_version: "1.0.0",
          reset_mode: "no_reset",
          connect_attempts: 2,
          boot_banner: "factory-test ready",
          boot_timeout: 3
        },
        esp8266: {
          platform: "esp8266",
          board_model: "ESP-12F",
          flash_size: "1MB",
          firmware_path: "../firmware/esp8266/firmware.bin",
          firmware_version: "1.0.0",
          reset_mode: "no_reset",
          connect_attempts: 2,
          boot_banner: "factory-test ready",
          boot_timeout: 3
        }
      },
      quality_gates: { max_firmware_size: { esp32: 3145728, esp8266: 1048576 }, max_flash_time: 60, max_retry_attempts: 3 },
      testing: {
        enabled: true,
        tests: [
          { name: "boot_test", command: "info", expected_response: "OK", timeout: 3 },
          { name: "wifi_test", command: "wifi", expected_response: "OK", timeout: 3 },
          { name: "memory_test", command: "mem", expected_response: "OK", timeout: 3 }
        ]
      },
      logging: { level: "INFO", console_output: false, max_file_size: 1048576, backup_count: 3 }
    }
    const configFile = path.join(spec.dir, "data/factory-config.yaml")
    const secretsFile = path.join(spec.dir, "data/secrets.yaml")
    yield* write(configFile, stringify(spec.configPatch ? spec.configPatch(base) : base))
    yield* write(secretsFile, stringify({ backend: { token } }))
    const line: EmulatedLine = { configFile, secretsFile, boards, backend: sim, backendUrl, token }
    return line
  })

/**
 * 2 stations × 4 emulated boards (station_1 ESP32, station_2 ESP8266): one
 * board fails its WiFi self-test, one corrupts a block on its first write
 * (MD5 mismatch → the pipeline retries and passes). Leaves CSV, JSON report,
 * QR labels and the log under `<dir>/var/`.
 */
export const factoryDemo = (dir: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const path = yield* Path.Path
      const root = path.resolve(dir)
      const line = yield* emulatedLine({
        dir: root,
        stations: [
          {
            id: "station_1",
            boardType: "esp32",
            boards: [
              { chip: "esp32", mac: "24:0a:c4:10:00:01" },
              { chip: "esp32", mac: "24:0a:c4:10:00:02", faults: ["corrupt_block:2"] },
              { chip: "esp32", mac: "24:0a:c4:10:00:03" },
              { chip: "esp32", mac: "24:0a:c4:10:00:04" }
            ]
          },
          {
            id: "station_2",
            boardType: "esp8266",
            boards: [
              { chip: "esp8266", mac: "18:fe:34:20:00:01" },
              { chip: "esp8266", mac: "18:fe:34:20:00:02" },
              { chip: "esp8266", mac: "18:fe:34:20:00:03", faults: ["selftest_fail:wifi"] },
              { chip: "esp8266", mac: "18:fe:34:20:00:04" }
            ]
          }
        ]
      })
      const { config } = yield* loadFactoryConfig(line.configFile)
      const log = yield* makeFactoryLog({ file: path.join(root, "var/log/factory-provisioning.log"), level: "INFO", maxFileSize: 1048576, backupCount: 3 })
      const progress = portProgress(process.stderr, config.stations.flatMap((s) => s.ports.map((port) => ({ station: s.station_id, port }))))
      const relative = (file: string) => path.relative(process.cwd(), file)
      yield* Console.log(`backend simulator at ${line.backendUrl}; 8 emulated boards on ptys`)
      const outcome = yield* runBatch({
        config,
        before: "no_reset",
        root,
        retryBase: "100 millis",
        hooks: { progress, log },
        onResult: (result) => Effect.sync(() => progress.around(() => process.stdout.write(`${boardLine(result, root, relative, process.stdout.isTTY === true)}\n`)))
      }).pipe(
        Effect.provide(
          Layer.mergeAll(
            FlasherLive.pipe(Layer.provideMerge(SerialPortsLive)),
            BackendLive({ url: line.backendUrl, token: Redacted.make(line.token) }).pipe(Layer.provide(NodeHttpClient.layer)),
            RegistrationQueueLive(path.join(root, "var/records/registration-queue.jsonl"))
          )
        )
      )
      const r = outcome.report
      yield* Console.log(
        `Batch summary: total=${r.totals.total} passed=${r.totals.passed} failed=${r.totals.failed} queued=${r.totals.queued} retries=${r.retries} flash_p50=${r.flash_time_s.p50}s flash_p95=${r.flash_time_s.p95}s throughput=${r.throughput_boards_per_min}/min`
      )
      yield* Console.log(`Report: ${relative(outcome.reportFile)}  Records: ${outcome.recordFiles.map(relative).join(", ")}  QR labels: ${relative(path.join(root, "var/records/qr"))}/`)
      yield* Console.log(`backend holds ${line.backend?.registrations().length ?? 0} registrations`)
      return outcome
    })
  )
