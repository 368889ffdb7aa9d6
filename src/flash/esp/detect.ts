import { Effect, Schedule } from "effect"
import { CommandRejected, type FlashTimeout, ProtocolError, SyncFailed } from "../../domain/errors/flash.js"
import type { SerialIoError, SignalsUnsupported } from "../../domain/errors/serial.js"
import * as Cmd from "./commands.js"
import { espFamily } from "./family.js"
import { CHIP_DETECT_MAGIC_REG, type ChipSpec, chipByImageId, chipByMagic, ESP8266_MAC } from "./chips.js"
import type { CommandError, EspConnection } from "./connection.js"
import { type BeforeMode, resetForAttempt, runReset } from "./reset.js"

/** Silence that ends the drain after an unsupported-command reply. */
const UNSUPPORTED_DRAIN_QUIET = "50 millis"

/** SYNCs per connect attempt (esptool sends 5, each with a 100 ms wait). */
const SYNCS_PER_ATTEMPT = 5

/** One SYNC exchange; extra replies (the ROM sends 8) are skipped by later commands. */
const syncOnce = (conn: EspConnection, timeouts: Cmd.Timeouts) => conn.command(Cmd.sync(timeouts)).pipe(Effect.asVoid)

export const syncRepeated = (conn: EspConnection, timeouts: Cmd.Timeouts): Effect.Effect<void, CommandError> =>
  syncOnce(conn, timeouts).pipe(
    Effect.retry({
      times: SYNCS_PER_ATTEMPT - 1,
      while: (error) => error._tag === "FlashTimeout" || error._tag === "ProtocolError"
    })
  )

export interface ConnectOptions {
  readonly before: BeforeMode
  readonly connectAttempts: number
  readonly usbJtagSerial: boolean
  readonly timeouts: Cmd.Timeouts
}

/**
 * Reset into the bootloader and sync, `connectAttempts` times at most. Only
 * silence is retried: a port without DTR/RTS (in a reset mode) or a port that
 * vanished fails at once.
 */
export const connectRom = (
  conn: EspConnection,
  options: ConnectOptions
): Effect.Effect<void, SyncFailed | SignalsUnsupported | SerialIoError | CommandRejected> =>
  Effect.suspend(() => {
    let attempt = 0
    const once = Effect.suspend(() => {
      const steps = resetForAttempt(options.before, attempt++, options.usbJtagSerial)
      return Effect.zipRight(
        steps === undefined ? Effect.void : runReset(conn.serial, steps),
        Effect.zipRight(conn.reset, syncRepeated(conn, options.timeouts))
      )
    })
    return once.pipe(
      Effect.retry({
        schedule: Schedule.recurs(Math.max(0, options.connectAttempts - 1)),
        while: (error) => error._tag === "FlashTimeout" || error._tag === "ProtocolError"
      }),
      Effect.catchIf(
        (error): error is FlashTimeout | ProtocolError => error._tag === "FlashTimeout" || error._tag === "ProtocolError",
        () => {
          const seen = conn.recentNoise()
          const bootLog = /boot:0x[0-9a-f]+/i.test(seen) && !/waiting for download/i.test(seen)
          return Effect.fail(
            new SyncFailed({
              port: conn.port,
              attempts: Math.max(1, options.connectAttempts),
              bootloaderHint: espFamily.bootloaderHint,
              detail: bootLog
                ? `the board booted normally instead (boot log: "${seen.slice(0, 120)}"): it is not in download mode`
                : seen
                  ? `only noise was received: "${seen.slice(0, 120)}"`
                  : "nothing was received"
            })
          )
        }
      )
    )
  })

/**
 * GET_SECURITY_INFO names newer chips directly; ESP32 and ESP8266 reject it
 * (and then need a fresh SYNC), so they are told apart by the magic register.
 */
export const detectChip = (conn: EspConnection, timeouts: Cmd.Timeouts): Effect.Effect<ChipSpec, CommandError> =>
  Effect.gen(function* () {
    const info = yield* Effect.either(conn.command(Cmd.getSecurityInfo(timeouts)))
    if (info._tag === "Right" && info.right.data.length >= 20) {
      const chipId = new DataView(info.right.data.buffer, info.right.data.byteOffset, info.right.data.byteLength).getUint32(12, true)
      const chip = chipByImageId(chipId)
      if (chip !== undefined) return chip
    }
    if (info._tag === "Left") {
      if (info.left._tag === "SerialIoError") return yield* info.left
      // esptool detect_chip: "ESP32/ESP8266 are reset after an unsupported command, need to
      // reconnect". The other 7 copies of the error are still arriving: let them pass first.
      yield* conn.drain(UNSUPPORTED_DRAIN_QUIET)
      yield* syncRepeated(conn, timeouts)
    }
    const magic = yield* conn.readReg(Cmd.readReg(timeouts, CHIP_DETECT_MAGIC_REG))
    const chip = chipByMagic(magic)
    if (chip === undefined) {
      return yield* new ProtocolError({
        port: conn.port,
        command: "chip detection",
        detail: `unknown chip magic value 0x${magic.toString(16).padStart(8, "0")}`
      })
    }
    return chip
  })

const byte = (value: number, shift: number) => (value >>> shift) & 0xff

/** Six MAC bytes from the chip's eFuses (esptool's formulas per chip). */
export const readMac = (conn: EspConnection, chip: ChipSpec, timeouts: Cmd.Timeouts): Effect.Effect<Uint8Array, CommandError> =>
  Effect.gen(function* () {
    const read = (address: number) => conn.readReg(Cmd.readReg(timeouts, address))
    if (chip.mac.kind === "efuse-pair") {
      const hi = yield* read(chip.mac.hiAddress)
      const lo = yield* read(chip.mac.loAddress)
      return Uint8Array.of(byte(hi, 8), byte(hi, 0), byte(lo, 24), byte(lo, 16), byte(lo, 8), byte(lo, 0))
    }
    const mac0 = yield* read(ESP8266_MAC.mac0)
    const mac1 = yield* read(ESP8266_MAC.mac1)
    const mac3 = yield* read(ESP8266_MAC.mac3)
    const oui =
      mac3 !== 0
        ? [byte(mac3, 16), byte(mac3, 8), byte(mac3, 0)]
        : byte(mac1, 16) === 0
          ? [0x18, 0xfe, 0x34]
          : byte(mac1, 16) === 1
            ? [0xac, 0xd0, 0x74]
            : undefined
    if (oui === undefined) {
      return yield* new ProtocolError({
        port: conn.port,
        command: "read MAC",
        detail: `unknown OUI selector in eFuse word 0x${mac1.toString(16)}`
      })
    }
    return Uint8Array.of(...oui, byte(mac1, 8), byte(mac1, 0), byte(mac0, 24))
  })

const SPI_CMD_USR = 1 << 18
const SPI_USR_COMMAND = 1 << 31
const SPI_USR_MISO = 1 << 28
const RDID = 0x9f
const SPI_POLLS = 10

/**
 * JEDEC id through the SPI controller's "user command" registers (the ROM
 * has no command for it): set the read length, the opcode, start, poll until
 * done, read W0, restore the registers.
 */
export const readFlashId = (conn: EspConnection, chip: ChipSpec, timeouts: Cmd.Timeouts): Effect.Effect<number, CommandError> =>
  Effect.gen(function* () {
    const spi = chip.spi
    const read = (offset: number) => conn.readReg(Cmd.readReg(timeouts, spi.base + offset))
    const write = (offset: number, value: number) => conn.command(Cmd.writeReg(timeouts, spi.base + offset, value))
    const readBits = 24
    const oldUsr = yield* read(spi.usrOffset)
    const oldUsr2 = yield* read(spi.usr2Offset)
    if (spi.misoDlenOffset !== undefined) yield* write(spi.misoDlenOffset, readBits - 1)
    else yield* write(spi.usr1Offset, (readBits - 1) << 8)
    yield* write(spi.usrOffset, (SPI_USR_COMMAND | SPI_USR_MISO) >>> 0)
    yield* write(spi.usr2Offset, ((7 << 28) | RDID) >>> 0)
    yield* write(spi.w0Offset, 0)
    yield* write(0, SPI_CMD_USR)
    const busy = (value: number) => (value & SPI_CMD_USR) !== 0
    yield* read(0).pipe(
      Effect.repeat({ while: busy, times: SPI_POLLS - 1 }),
      Effect.filterOrFail(
        (value) => !busy(value),
        () => new ProtocolError({ port: conn.port, command: "read flash id", detail: "SPI controller stayed busy" })
      )
    )
    const id = (yield* read(spi.w0Offset)) & 0xffffff
    yield* write(spi.usrOffset, oldUsr)
    yield* write(spi.usr2Offset, oldUsr2)
    return id
  })

/** Size code in bits 16–23 of the JEDEC id: 2^code bytes (0x16 → 4 MiB). Undefined for implausible codes. */
export const flashSizeFromId = (id: number): number | undefined => {
  const code = (id >>> 16) & 0xff
  return code >= 0x12 && code <= 0x1a ? 2 ** code : undefined
}

export const formatMac = (mac: Uint8Array): string => Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":")
