import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import { loadYaml } from "../config/load.js"
import { FactoryConfigInvalid } from "../domain/errors/factory.js"
import type { Platform } from "../flash/Flasher.js"
import { type BoardConfig, defaultOffsets, type DeviceTest, FactoryConfigSchema, type FactoryConfigFile, type Station } from "./config.js"

/** One image of a board config, with its path resolved against the config file's folder. */
export interface ImageSpec {
  readonly name: "bootloader" | "partition_table" | "firmware"
  readonly path: string
  readonly offset: number
}

export interface ResolvedBoardConfig {
  readonly name: string
  readonly platform: Platform
  readonly config: BoardConfig
  /** In write order: bootloader, partition table, application. */
  readonly images: ReadonlyArray<ImageSpec>
  readonly firmwarePath: string
}

export interface FactoryConfig {
  readonly file: string
  readonly raw: FactoryConfigFile
  readonly boards: Readonly<Record<string, ResolvedBoardConfig>>
  readonly stations: ReadonlyArray<Station>
  readonly tests: ReadonlyArray<DeviceTest>
}

const invalid = (file: string, field: string, problem: string, fix: string) => new FactoryConfigInvalid({ file, field, problem, fix })

/**
 * Reads, decodes (generic loader: syntax/field problems as ConfigInvalid) and
 * checks factory-config.yaml; everything fails here, before any board is touched.
 */
export const loadFactoryConfig = (file: string) =>
  Effect.gen(function* () {
    const loaded = yield* loadYaml(file, FactoryConfigSchema, { example: "data/factory-config.yaml" })
    const config = yield* resolveFactoryConfig(file, loaded.value)
    return { config, warnings: loaded.warnings }
  })

export const resolveFactoryConfig = (file: string, raw: FactoryConfigFile) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const baseDir = path.dirname(path.resolve(file))
    const boards: Record<string, ResolvedBoardConfig> = {}
    for (const [name, board] of Object.entries(raw.board_configs)) {
      const offsets = defaultOffsets(board.platform)
      const wanted: Array<[ImageSpec["name"], string | undefined, number | undefined, number]> = [
        ["bootloader", board.bootloader_path, board.bootloader_offset, offsets.bootloader],
        ["partition_table", board.partition_table_path, board.partition_table_offset, offsets.partitionTable],
        ["firmware", board.firmware_path, board.firmware_offset, offsets.firmware]
      ]
      const images: Array<ImageSpec> = []
      for (const [imageName, relative, offset, fallback] of wanted) {
        if (relative === undefined) continue
        const absolute = path.resolve(baseDir, relative)
        const field = `board_configs.${name}.${imageName === "firmware" ? "firmware_path" : `${imageName}_path`}`
        const exists = yield* fs.exists(absolute).pipe(Effect.orElseSucceed(() => false))
        if (!exists) {
          return yield* invalid(
            file,
            field,
            `${imageName} image not found: ${absolute} (board config "${name}")`,
            "build the image or fix the path; paths are relative to the config file"
          )
        }
        // /dev/zero or a FIFO as an image would be read until memory runs out (or forever).
        const kind = yield* fs.stat(absolute).pipe(
          Effect.map((info) => info.type),
          Effect.orElseSucceed(() => "File" as const)
        )
        if (kind !== "File") {
          return yield* invalid(
            file,
            field,
            `${imageName} image is not a regular file: ${absolute} is ${kind === "Directory" ? "a directory" : kind === "CharacterDevice" ? "a character device (such as /dev/zero)" : kind === "FIFO" ? "a named pipe" : `of type ${kind}`} (board config "${name}")`,
            "point the path at the built image file; paths are relative to the config file"
          )
        }
        images.push({ name: imageName, path: absolute, offset: offset ?? fallback })
      }
      boards[name] = { name, platform: board.platform, config: board, images, firmwarePath: images[images.length - 1]!.path }
    }

    const seen = new Map<string, string>()
    const known = Object.keys(boards)
    const useKnown = known.length > 0 ? `use one of the board_configs: ${known.join(", ")}` : "add a board_configs entry for it"
    const stations: Array<Station> = []
    for (const [s, station] of raw.stations.entries()) {
      if (station.board_type !== undefined && !(station.board_type in boards)) {
        return yield* invalid(
          file,
          `stations[${s}].board_type`,
          `unknown board_type "${station.board_type}" for station ${station.station_id}`,
          useKnown
        )
      }
      const ports: Array<string> = []
      const portBoardTypes: Array<string> = []
      for (const [p, entry] of station.ports.entries()) {
        const field = `stations[${s}].ports[${p}]`
        const port = typeof entry === "string" ? entry : entry.path
        const boardType = typeof entry === "string" ? station.board_type : entry.board_type
        if (boardType === undefined) {
          return yield* invalid(
            file,
            field,
            `port ${port} of station ${station.station_id} has no board type (the station has no board_type and the port names none)`,
            `give the station a board_type, or write the port as { path: "${port}", board_type: ... }; ${useKnown}`
          )
        }
        if (!(boardType in boards)) {
          return yield* invalid(
            file,
            `${field}.board_type`,
            `unknown board_type "${boardType}" for port ${port} of station ${station.station_id}`,
            useKnown
          )
        }
        const earlier = seen.get(port)
        if (earlier !== undefined) {
          return yield* invalid(
            file,
            field,
            `port ${port} is listed twice (also at ${earlier})`,
            "each port belongs to one station exactly once; remove the duplicate"
          )
        }
        seen.set(port, field)
        ports.push(port)
        portBoardTypes.push(boardType)
      }
      stations.push({ station_id: station.station_id, ports, portBoardTypes, board_type: station.board_type })
    }
    const ids = raw.stations.map((station) => station.station_id)
    const duplicateId = ids.find((id, index) => ids.indexOf(id) !== index)
    if (duplicateId !== undefined) {
      return yield* invalid(
        file,
        `stations[${ids.lastIndexOf(duplicateId)}].station_id`,
        `station_id "${duplicateId}" is used twice`,
        "give every station its own station_id"
      )
    }
    const config: FactoryConfig = {
      file,
      raw,
      boards,
      stations,
      tests: raw.testing.enabled ? raw.testing.tests : []
    }
    return config
  })
