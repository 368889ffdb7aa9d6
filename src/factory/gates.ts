import { FileSystem } from "@effect/platform"
import { Effect, Either } from "effect"
import { FactoryConfigInvalid, FirmwareTooLarge } from "../domain/errors/factory.js"
import type { FlashRegion } from "../flash/Flasher.js"
import { firmwareRegions } from "../flash/formats/firmwareImage.js"
import type { FactoryConfig, ResolvedBoardConfig } from "./loadConfig.js"

/** Reads the images of each board config in use, once per batch (all ports share them). */
export const loadImages = (config: FactoryConfig, boards: ReadonlyArray<ResolvedBoardConfig>) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const images = new Map<string, ReadonlyArray<FlashRegion>>()
    for (const board of boards) {
      const regions: Array<FlashRegion> = []
      for (const image of board.images) {
        const data = yield* fs.readFile(image.path).pipe(
          Effect.mapError(
            (error) =>
              new FactoryConfigInvalid({
                file: config.file,
                field: `board_configs.${board.name}.${image.name === "firmware" ? "firmware_path" : `${image.name}_path`}`,
                problem: `cannot read ${image.path}: ${error.message}`,
                fix: "check the file exists and is readable"
              })
          )
        )
        // Intel HEX carries its own addresses: it becomes one region from its lowest address.
        const parsed = firmwareRegions(image.name, image.path, data, image.offset)
        if (Either.isLeft(parsed)) {
          return yield* new FactoryConfigInvalid({
            file: config.file,
            field: `board_configs.${board.name}.${image.name === "firmware" ? "firmware_path" : `${image.name}_path`}`,
            problem: `${image.path} is not a valid image: ${parsed.left.message}`,
            fix: "rebuild the image, or point the path at the .hex/.bin/.uf2 the build produced"
          })
        }
        regions.push(...parsed.right)
      }
      images.set(board.name, regions)
    }
    return images
  })

/**
 * Gate before the batch: an application image over
 * `quality_gates.max_firmware_size[platform]` stops everything before any
 * port is opened. Platforms without an entry have no size gate.
 */
export const checkFirmwareSize = (
  config: FactoryConfig,
  boards: ReadonlyArray<ResolvedBoardConfig>,
  images: ReadonlyMap<string, ReadonlyArray<FlashRegion>>
): Effect.Effect<void, FirmwareTooLarge> =>
  Effect.forEach(
    boards,
    (board) => {
      const limit = config.raw.quality_gates.max_firmware_size[board.platform]
      const firmware = images.get(board.name)?.find((region) => region.name === "firmware")
      return limit !== undefined && firmware !== undefined && firmware.data.length > limit
        ? Effect.fail(
            new FirmwareTooLarge({
              boardConfig: board.name,
              platform: board.platform,
              path: board.firmwarePath,
              size: firmware.data.length,
              limit
            })
          )
        : Effect.void
    },
    { discard: true }
  )
