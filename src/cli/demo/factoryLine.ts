/**
 * The factory section of `provision demo`, and the emulated line the tests
 * use: ESP32/ESP8266 ROM emulators on ptys (sim/esp), optiboot / STM32 system
 * bootloader emulators on ptys (sim/avr, sim/stm32), emulated Picos (a BOOTSEL
 * volume directory that reboots into a CDC pty, sim/rp2040), the provisioning backend
 * simulator on 127.0.0.1 (sim/backend), a project folder with images,
 * factory-config.yaml and secrets.yaml. Everything lives in a scope.
 */
import { FileSystem, Path } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Console, Effect, Layer, Redacted, Scope } from "effect"
import { stringify } from "yaml"
import { type BackendSim, backendSim } from "../../../sim/backend/index.js"
import { type AvrBoard, startAvrBoard } from "../../../sim/avr/emulator.js"
import type { McuSelfTests } from "../../../sim/appConsole.js"
import { type PicoHandle, startPicoBoard } from "../../../sim/rp2040/emulator.js"
import { type Stm32Board, startStm32Board } from "../../../sim/stm32/emulator.js"
import {
  type EspBoard,
  type EspChip,
  type EspFault,
  type EspSelfTests,
  makeEsp32FlashSet,
  makeEsp8266FlashSet,
  startEspBoards
} from "../../../sim/esp/index.js"
import { encodeIntelHex } from "../../flash/formats/intelHex.js"
import { FlasherLive } from "../../flash/FlasherLive.js"
import { SerialPortsLive } from "../../serial/SerialPortsLive.js"
import { BackendLive } from "../../factory/BackendLive.js"
import { runBatch } from "../../factory/batch.js"
import { loadFactoryConfig } from "../../factory/loadConfig.js"
import { factoryLogLayer } from "../../factory/log.js"
import { RegistrationQueueLive } from "../../factory/RegistrationQueue.js"
import { terminalSinks } from "../../report/runOutputLive.js"
import * as RunOutput from "../../runtime/RunOutput.js"

export interface EmulatedBoardSpec {
  readonly chip: EspChip
  readonly mac: string
  readonly faults?: ReadonlyArray<EspFault | string>
  readonly tests?: EspSelfTests
}

/** The single-image board configs the emulated line defines (see `mcuBoardConfigs`). */
export type McuBoardType = "arduino_uno" | "stm32f103" | "pico"

export interface EmulatedMcuBoardSpec {
  /** Emulator faults in their string form (sim/avr, sim/stm32, sim/rp2040 header comments). */
  readonly faults?: ReadonlyArray<string>
  readonly tests?: McuSelfTests
  /** STM32: 24 hex digits (UID); Pico: 16 hex digits (flash unique id); AVR: ignored (the flasher makes a serial). */
  readonly uid?: string
  /** This board's type when it differs from its station's: the port is written as `{ path, board_type }`. */
  readonly boardType?: McuBoardType
}

export interface EmulatedMcuStationSpec {
  readonly id: string
  readonly boardType: McuBoardType
  readonly boards: ReadonlyArray<EmulatedMcuBoardSpec>
}

export type EmulatedMcuBoard =
  | { readonly kind: "avr"; readonly station: string; readonly port: string; readonly board: AvrBoard }
  | { readonly kind: "stm32"; readonly station: string; readonly port: string; readonly board: Stm32Board }
  | { readonly kind: "pico"; readonly station: string; readonly port: string; readonly board: PicoHandle }

export interface EmulatedLineSpec {
  /** Project folder to fill (data/, firmware/, var/ below it). */
  readonly dir: string
  readonly stations: ReadonlyArray<{
    readonly id: string
    readonly boardType: "esp32" | "esp8266"
    readonly boards: ReadonlyArray<EmulatedBoardSpec>
  }>
  /** AVR / STM32 / Pico stations, listed after the ESP ones in the config. */
  readonly mcuStations?: ReadonlyArray<EmulatedMcuStationSpec>
  readonly token?: string
  /** Start the backend simulator (default true); false leaves the URL pointing at a closed port. */
  readonly backend?: boolean
  readonly appSize?: number
  /**
   * ESP boards with a notional UART (sim/pacedLink.ts): bytes take their wire time at the
   * current baud and flash writes their programming time, as on a real board. Off by
   * default: tests and the demo want the fastest line.
   */
  readonly pace?: boolean
  /**
   * The ESP boards run elsewhere (each in its own process, sim/boardProcess.ts): their host
   * ports, one per `stations[].boards` entry in order. No ESP emulator starts here then, and
   * `boards` is empty.
   */
  readonly espPorts?: ReadonlyArray<string>
  /** Deep-merged over the generated factory-config.yaml content. */
  readonly configPatch?: (config: Record<string, unknown>) => Record<string, unknown>
}

export interface EmulatedLine {
  readonly configFile: string
  readonly secretsFile: string
  readonly boards: ReadonlyArray<EspBoard>
  readonly mcuBoards: ReadonlyArray<EmulatedMcuBoard>
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
    const esp8266 = makeEsp8266FlashSet({
      version: "1.0.0",
      projectName: "factory-app",
      ...(spec.appSize ? { appSize: spec.appSize } : {})
    })
    yield* write(path.join(spec.dir, "firmware/esp32/bootloader.bin"), esp32[0]!.data)
    yield* write(path.join(spec.dir, "firmware/esp32/partitions.bin"), esp32[1]!.data)
    yield* write(path.join(spec.dir, "firmware/esp32/firmware.bin"), esp32[2]!.data)
    yield* write(path.join(spec.dir, "firmware/esp8266/firmware.bin"), esp8266[0]!.data)
    const mcuStations = spec.mcuStations ?? []
    // Every board config's image exists (the loader checks them all), used by a station or not.
    // The AVR image goes out as Intel HEX (what avr-gcc builds ship), STM32 and Pico as raw .bin.
    yield* write(path.join(spec.dir, "firmware/avr/firmware.hex"), encodeIntelHex([{ address: 0, data: mcuApp(6 * 1024, "avr") }]))
    yield* write(path.join(spec.dir, "firmware/stm32/firmware.bin"), mcuApp(20 * 1024, "stm32"))
    yield* write(path.join(spec.dir, "firmware/rp2040/firmware.bin"), mcuApp(40 * 1024, "rp2040"))

    const sim = spec.backend === false ? undefined : yield* backendSim({ token, host: "127.0.0.1", port: 0 })
    // A closed loopback port: connections are refused, like a backend that is down.
    const backendUrl = sim?.url ?? "http://127.0.0.1:9"

    const boards = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () =>
          spec.espPorts !== undefined
            ? []
            : startEspBoards(
                spec.stations.flatMap((station) =>
                  station.boards.map((board) => ({
                    chip: board.chip,
                    mac: board.mac,
                    pace: spec.pace ?? false,
                    faults: board.faults ?? [],
                    ...(board.tests ? { tests: board.tests } : {})
                  }))
                )
              ),
        catch: (e) => (e instanceof Error ? e : new Error(String(e)))
      }),
      (started) => Effect.promise(() => Promise.all(started.map((board) => board.stop())))
    )
    const mediaRoot = path.join(spec.dir, "media")
    // Emulated Picos sit on hub ports 1.1, 1.2, … of one emulated USB controller (udev links under <dir>/dev).
    let hubPort = 0
    const mcuBoards = yield* Effect.forEach(mcuStations, (station) =>
      Effect.forEach(station.boards, (board, index) =>
        startMcuBoard(
          station.id,
          board.boardType ?? station.boardType,
          board,
          path.join(mediaRoot, `${station.id}-${index}`),
          path.join(spec.dir, "dev"),
          path.join(spec.dir, "dev", `ttyACM-${station.id}-${index}`),
          (board.boardType ?? station.boardType) === "pico" ? ++hubPort : 0
        )
      )
    ).pipe(Effect.map((perStation) => perStation.flat()))
    const espPorts = spec.espPorts ?? boards.map((board) => board.hostPath)
    let next = 0
    const stations = [
      ...spec.stations.map((station) => ({
        station_id: station.id,
        ports: station.boards.map(() => espPorts[next++]!),
        board_type: station.boardType
      })),
      ...mcuStations.map((station) => {
        const started = mcuBoards.filter((board) => board.station === station.id)
        return {
          station_id: station.id,
          ports: station.boards.map((board, i) =>
            board.boardType === undefined || board.boardType === station.boardType
              ? started[i]!.port
              : { path: started[i]!.port, board_type: board.boardType }
          ),
          board_type: station.boardType
        }
      })
    ]
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
        },
        ...mcuBoardConfigs(path.join(mediaRoot, "*"))
      },
      quality_gates: {
        max_firmware_size: { esp32: 3145728, esp8266: 1048576, avr: 32256, stm32: 131072, rp2040: 2097152 },
        max_flash_time: 60,
        max_retry_attempts: 3
      },
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
    const line: EmulatedLine = { configFile, secretsFile, boards, mcuBoards, backend: sim, backendUrl, token }
    return line
  })

/** A small application image carrying the `FWVER=` marker the emulated apps report. */
const mcuApp = (size: number, seed: string): Uint8Array => {
  const data = Uint8Array.from({ length: size }, (_, i) => (i * 7 + seed.length * 13 + (i >> 8)) & 0xff)
  data.set(new TextEncoder().encode(`FWVER=1.0.0;app=factory-app-${seed};`), 256)
  return data
}

/** Board configs of the single-image families; `volumeRoot` is where the emulated Picos mount. */
const mcuBoardConfigs = (volumeRoot: string): Record<string, Record<string, unknown>> => {
  const common = {
    firmware_version: "1.0.0",
    reset_mode: "no_reset",
    connect_attempts: 2,
    boot_banner: "factory-test ready",
    boot_timeout: 3
  }
  return {
    arduino_uno: {
      platform: "avr",
      board_model: "Arduino Uno R3",
      firmware_path: "../firmware/avr/firmware.hex",
      mcu: "atmega328p",
      baud: 115200,
      app_baud: 115200,
      ...common
    },
    stm32f103: {
      platform: "stm32",
      board_model: "STM32F103C8T6",
      firmware_path: "../firmware/stm32/firmware.bin",
      part: "0x410",
      reset_mapping: "rts_boot0_dtr_nrst",
      baud: 115200,
      ...common
    },
    pico: {
      platform: "rp2040",
      board_model: "Raspberry Pi Pico",
      firmware_path: "../firmware/rp2040/firmware.bin",
      volume_roots: [volumeRoot],
      boot_wait: 5,
      ...common,
      boot_banner: ""
    }
  }
}

/** The emulated self-test console answers `info`/`mem` itself; the line's `wifi` test needs an entry. */
const mcuTests = (board: EmulatedMcuBoardSpec): McuSelfTests => ({ wifi: "OK wifi (not fitted)", ...board.tests })

const startMcuBoard = (
  stationId: string,
  boardType: McuBoardType,
  board: EmulatedMcuBoardSpec,
  mountRoot: string,
  cdcDir: string,
  cdcPath: string,
  hubPort: number
): Effect.Effect<EmulatedMcuBoard, Error, Scope.Scope | FileSystem.FileSystem> => {
  const attempt = <A>(start: () => Promise<A>) =>
    Effect.tryPromise({ try: start, catch: (e) => (e instanceof Error ? e : new Error(String(e))) })
  const faults = board.faults ?? []
  const station = { id: stationId }
  switch (boardType) {
    case "arduino_uno":
      return Effect.acquireRelease(
        attempt(() => startAvrBoard({ mcu: "atmega328p", pace: false, faults, tests: mcuTests(board) })),
        (b) => Effect.promise(() => b.stop())
      ).pipe(Effect.map((b): EmulatedMcuBoard => ({ kind: "avr", station: station.id, port: b.hostPath, board: b })))
    case "stm32f103":
      return Effect.acquireRelease(
        attempt(() =>
          startStm32Board({ flashKiB: 64, pace: false, faults, tests: mcuTests(board), ...(board.uid ? { uid: board.uid } : {}) })
        ),
        (b) => Effect.promise(() => b.stop())
      ).pipe(Effect.map((b): EmulatedMcuBoard => ({ kind: "stm32", station: station.id, port: b.hostPath, board: b })))
    case "pico":
      // The emulator makes the volume below mountRoot; the CDC link's folder has to exist for socat.
      return Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeDirectory(cdcDir, { recursive: true })).pipe(
        Effect.mapError((e) => new Error(e.message)),
        Effect.zipRight(
          Effect.acquireRelease(
            attempt(() =>
              startPicoBoard({
                mountRoot,
                cdcPath,
                faults,
                tests: mcuTests(board),
                usb: { devRoot: cdcDir, hubPort },
                ...(board.uid ? { uniqueId: board.uid } : {})
              })
            ),
            (b) => Effect.promise(() => b.stop())
          )
        ),
        // The station lists the udev by-path link: it names the hub port, which pairs the volume with the board.
        Effect.map((b): EmulatedMcuBoard => ({ kind: "pico", station: station.id, port: b.portPath, board: b }))
      )
  }
}

/**
 * 2 stations × 4 emulated boards (station_1 ESP32, station_2 ESP8266): one
 * board fails its WiFi self-test, one corrupts a block on its first write
 * (MD5 mismatch → the pipeline retries and passes). Station 3 is one mixed
 * bench (its ports name their own board_type): two Arduino Unos, one of which
 * gets a page corrupted once → read-back mismatch → retried; a Blue Pill; a Pico
 * flashed through its BOOTSEL volume. Leaves CSV, JSON report,
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
        ],
        mcuStations: [
          {
            id: "station_3",
            boardType: "arduino_uno",
            boards: [
              {},
              { faults: ["verify_error:3"] },
              { boardType: "stm32f103", uid: "066eff303430524b43172236" },
              { boardType: "pico", uid: "e6614103e73d5f2f" }
            ]
          }
        ]
      })
      const { config } = yield* loadFactoryConfig(line.configFile)
      const log = factoryLogLayer({
        file: path.join(root, "var/log/factory-provisioning.log"),
        level: "INFO",
        maxFileSize: 1048576,
        backupCount: 3
      })
      // The terminal's output (per-port rows on stderr), colour whenever stdout is a terminal.
      const output = RunOutput.layer({ ...terminalSinks(), color: process.stdout.isTTY === true })
      const relative = (file: string) => path.relative(process.cwd(), file)
      yield* Console.log(
        `backend simulator at ${line.backendUrl}; ${line.boards.length} emulated ESP boards and ${line.mcuBoards.length} AVR/STM32/Pico boards (${line.mcuBoards.map((b) => b.kind).join(", ")}) on ptys`
      )
      const outcome = yield* runBatch({
        config,
        before: "no_reset",
        root,
        retryBase: "100 millis",
        boardLines: { relativeTo: process.cwd() }
      }).pipe(
        Effect.provide(
          Layer.mergeAll(
            FlasherLive.pipe(Layer.provideMerge(SerialPortsLive)),
            BackendLive({ url: line.backendUrl, token: Redacted.make(line.token) }).pipe(Layer.provide(NodeHttpClient.layer)),
            RegistrationQueueLive(path.join(root, "var/records/registration-queue.jsonl")),
            log.pipe(Layer.provideMerge(output))
          )
        )
      )
      const r = outcome.report
      yield* Console.log(
        `Batch summary: total=${r.totals.total} passed=${r.totals.passed} failed=${r.totals.failed} queued=${r.totals.queued} retries=${r.retries} flash_p50=${r.flash_time_s.p50}s flash_p95=${r.flash_time_s.p95}s throughput=${r.throughput_boards_per_min}/min`
      )
      yield* Console.log(
        `Report: ${relative(outcome.reportFile)}  Records: ${outcome.recordFiles.map(relative).join(", ")}  QR labels: ${relative(path.join(root, "var/records/qr"))}/`
      )
      yield* Console.log(`backend holds ${line.backend?.registrations().length ?? 0} registrations`)
      return outcome
    })
  )
