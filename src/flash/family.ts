/**
 * What a board family declares about itself (esptool's `CHIP_DEFS`,
 * espflash's `Chip`): one `family.ts` per folder under src/flash/, listed in
 * families.ts. Facts only; the flasher is loaded through `load`, so this
 * module and the registry stay free of the implementations (which import the
 * Flasher interface, whose `Platform` comes from the registry).
 */
import type { Effect, Schema } from "effect"

/** Where each image goes when the board config does not say. */
export interface DefaultOffsets {
  readonly bootloader: number
  readonly partitionTable: number
  readonly firmware: number
}

/** Image formats a family's flasher takes (src/flash/formats/). */
export type ImageFormat = "esp-image" | "intel-hex" | "raw-binary" | "uf2"

export interface BoardFamily<
  Name extends string,
  P extends string,
  Fields extends Schema.Struct.Fields,
  Options extends object,
  Service,
  E,
  R
> {
  readonly name: Name
  /** The `platform:` values of factory-config.yaml this family flashes. */
  readonly platforms: ReadonlyArray<P>
  /** Board-config fields only this family reads (`board_configs.<type>` in factory-config.yaml). */
  readonly configFields: Fields
  readonly defaultOffsets: (platform: P) => DefaultOffsets
  readonly imageFormats: ReadonlyArray<ImageFormat>
  /** How to get a board of this family into its bootloader (SyncFailed's hint). */
  readonly bootloaderHint: string
  /** The session settings this family takes from a board config (its part of `McuOptions`). */
  readonly sessionOptions: (config: Schema.Struct.Type<Fields> & { readonly app_baud: number }) => Options
  /** The flasher (imported on first use). */
  readonly load: () => Promise<Effect.Effect<Service, E, R>>
}

/** Declares a family with its types inferred. */
export const defineFamily = <
  Name extends string,
  P extends string,
  Fields extends Schema.Struct.Fields,
  Options extends object,
  Service,
  E,
  R
>(
  family: BoardFamily<Name, P, Fields, Options, Service, E, R>
) => family
