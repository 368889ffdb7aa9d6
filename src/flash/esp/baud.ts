import { Effect } from "effect"
import type { ChipSpec } from "./chips.js"
import * as Cmd from "./commands.js"
import type { CommandError, EspConnection } from "./connection.js"

/** ESP32 registers the ROM's crystal estimate comes from (esptool v4.8.1 targets/esp32.py). */
const ESP32_RTCCALICFG1 = 0x3ff5f06c
const ESP32_EFUSE_WORD4 = 0x3ff5a010
const TIMERS_RTC_CALI_VALUE = 0x01ffffff
const TIMERS_RTC_CALI_VALUE_S = 7

/**
 * The rate to put in the ROM's CHANGE_BAUDRATE. The ESP32 ROM derives its
 * UART divider from a crystal frequency it computed against its drifting
 * 8 MHz clock; esptool (since v4.5, esp32.py change_baud) reads the same
 * calibration and scales the request so the chip lands on the wanted rate.
 * Other ROMs take the rate as is.
 */
export const romBaudArgument = (conn: EspConnection, chip: ChipSpec, t: Cmd.Timeouts, baud: number): Effect.Effect<number, CommandError> =>
  chip.name !== "ESP32"
    ? Effect.succeed(baud)
    : Effect.gen(function* () {
        const cali = ((yield* conn.readReg(Cmd.readReg(t, ESP32_RTCCALICFG1))) >>> TIMERS_RTC_CALI_VALUE_S) & TIMERS_RTC_CALI_VALUE
        const ck8m = (yield* conn.readReg(Cmd.readReg(t, ESP32_EFUSE_WORD4))) & 0xff
        const romXtal = (cali * 15625 * ck8m) / 40
        // Unreadable calibration (0): nothing to compensate, ask for the rate itself.
        if (romXtal === 0) return baud
        const nominal = romXtal > 33_000_000 ? 40_000_000 : 26_000_000
        return Math.floor((baud * romXtal) / nominal)
      })
