export type EspChip = "esp32" | "esp8266"

export type EspFault =
  | { readonly kind: "no_sync" }
  | { readonly kind: "corrupt_block"; readonly block: number }
  | { readonly kind: "slow_erase"; readonly msPerMiB: number }
  | { readonly kind: "selftest_fail"; readonly command: string }
  | { readonly kind: "vanish_after_bytes"; readonly bytes: number }
  | { readonly kind: "drop_frame"; readonly block: number }
  | { readonly kind: "corrupt_md5" }

/** `true` = pass with the default reply, `false` = fail, a string = that exact reply line. */
export type EspSelfTests = Readonly<Record<string, boolean | string>>

export interface EspEmulatorOptions {
  readonly devicePath: string
  readonly chip: EspChip
  readonly mac?: string
  readonly flashSize?: number
  readonly baud?: number
  readonly appBaud?: number
  readonly pace?: boolean
  readonly faults?: ReadonlyArray<EspFault | string>
  readonly tests?: EspSelfTests
  readonly firmwareName?: string
  readonly startIn?: "bootloader" | "app"
  /**
   * IO0 at reset. `held` (default when starting in the bootloader): every reset,
   * including a software reboot, comes back to download mode, as on a board in
   * a fixture or with BOOT held; `released`: resets boot the flash.
   */
  readonly bootStrap?: "held" | "released"
  readonly onVanish?: () => void | Promise<void>
}

export type EspState = "bootloader" | "stub" | "app" | "halted" | "vanished" | "stopped"

export interface EspEmulatorStats {
  bytesIn: number
  bytesOut: number
  packets: number
  commands: Record<string, number>
  checksumErrors: number
  duplicates: number
  droppedResponses: number
  corruptedBlocks: number
  boots: number
  appLines: number
}

export interface EspEmulatorHandle {
  readonly chip: EspChip
  readonly devicePath: string
  readonly mac: string
  readonly flashSize: number
  readonly state: EspState
  readonly baud: number
  /** Whether IO0 is held low (resets come back to download mode). */
  readonly bootStrapHeld: boolean
  readonly setBootStrap: (held: boolean) => void
  readonly flash: Uint8Array
  readonly stats: EspEmulatorStats
  readonly readFlash: (offset: number, length: number) => Uint8Array
  readonly console: () => string
  readonly waitFor: (text: string, timeoutMs?: number) => Promise<void>
  readonly reset: (mode: "bootloader" | "app") => Promise<void>
  readonly stop: () => Promise<void>
}
