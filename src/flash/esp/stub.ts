import { Duration, Effect, Either } from "effect"
import { ProtocolError } from "../../domain/errors/flash.js"
import type { ChipSpec } from "./chips.js"
import * as Cmd from "./commands.js"
import type { CommandError, EspConnection } from "./connection.js"
import { readStubImage, type StubChip } from "./stubImages.js"

/** esptool ESP_RAM_BLOCK: MEM_DATA payload size. */
const RAM_BLOCK = 0x1800
/** esptool MEM_END_ROM_TIMEOUT: the ROM may jump before its reply is out. */
const MEM_END_TIMEOUT = Duration.millis(200)
/** How long the stub may take to say OHAI after the jump. */
const GREETING_TIMEOUT = Duration.seconds(1)
const OHAI = "OHAI"

const stubChip = (chip: ChipSpec): StubChip | undefined => (chip.name === "ESP32" || chip.name === "ESP8266" ? chip.name : undefined)

/** Whether this flasher has Espressif's stub for the chip (from the esptool-js package). */
export const hasStub = (chip: ChipSpec): boolean => stubChip(chip) !== undefined

const upload = (conn: EspConnection, t: Cmd.Timeouts, address: number, bytes: Uint8Array) =>
  Effect.gen(function* () {
    const blocks = Math.ceil(bytes.length / RAM_BLOCK)
    yield* conn.command(Cmd.memBegin(t, bytes.length, blocks, RAM_BLOCK, address))
    for (let seq = 0; seq < blocks; seq++) {
      yield* conn.command(Cmd.memData(t, seq, bytes.subarray(seq * RAM_BLOCK, (seq + 1) * RAM_BLOCK)))
    }
  })

/**
 * Loads Espressif's flasher stub the way esptool's run_stub does: text and
 * data segments with MEM_BEGIN/MEM_DATA, MEM_END with the entry point, then
 * the stub's unsolicited greeting packet "OHAI". From then on replies carry
 * 2 status bytes.
 */
export const loadStub = (conn: EspConnection, chip: ChipSpec, t: Cmd.Timeouts): Effect.Effect<void, CommandError> =>
  Effect.gen(function* () {
    const which = stubChip(chip)
    const image = which === undefined ? Either.left(`no flasher stub for ${chip.name}`) : readStubImage(which)
    if (Either.isLeft(image)) {
      return yield* new ProtocolError({ port: conn.port, command: "load flasher stub", detail: image.left })
    }
    const stub = image.right
    yield* upload(conn, t, stub.textStart, stub.text)
    yield* upload(conn, t, stub.dataStart, stub.data)
    const end = { ...Cmd.memEnd(t, stub.entry), timeout: MEM_END_TIMEOUT }
    yield* conn.send(end)
    // esptool ignores a missing or failed MEM_END reply from the ROM; the greeting is what counts.
    const greeting = yield* Effect.gen(function* () {
      const deadline = Date.now() + Duration.toMillis(GREETING_TIMEOUT)
      while (Date.now() < deadline) {
        const packet = yield* conn.packetWithin(Duration.millis(Math.max(1, deadline - Date.now())))
        if (packet === undefined) return undefined
        if (packet.length === 4 && Buffer.from(packet).toString("latin1") === OHAI) return packet
      }
      return undefined
    })
    if (greeting === undefined) {
      return yield* new ProtocolError({
        port: conn.port,
        command: "load flasher stub",
        detail: `the stub did not greet with "${OHAI}" after MEM_END`
      })
    }
    conn.statusBytes = 2
  })
