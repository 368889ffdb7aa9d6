/**
 * Emulated ESP32 / ESP8266 ROM bootloader on the device end of a pseudo-terminal.
 *
 * ## Quick start (tests, demo, bench)
 *
 * ```ts
 * import { startEspBoard, makeEsp32FlashSet } from "../../sim/esp/index.js"
 * const board = await startEspBoard({ chip: "esp32", mac: "aa:bb:cc:00:00:01", pace: false })
 * // open board.hostPath with serialport (any baud; a pty ignores it), talk ROM protocol …
 * board.emulator.readFlash(0x10000, 4)     // what the "chip" holds
 * await board.stop()                        // stops the emulator and kills socat
 * ```
 *
 * ## Library API
 *
 * `startEspEmulator(options: EspEmulatorOptions): Promise<EspEmulatorHandle>` — opens
 * `options.devicePath` (the device end of a pty pair, e.g. from test/support/pty.ts) and
 * serves the ROM protocol on it. Pass `onVanish: pair.unplug` for `vanish_after_bytes`.
 *
 * `startEspBoard(options: Omit<EspEmulatorOptions, "devicePath">): Promise<EspBoard>` —
 * creates a socat pty pair plus the emulator. `EspBoard = { hostPath, devicePath,
 * emulator, unplug(), stop() }`. `unplug()` kills socat (both ends vanish, like a
 * pulled cable); `stop()` stops the emulator then unplugs. The `vanish_after_bytes`
 * fault calls `unplug()` itself.
 * `startEspBoards(list)` starts several boards in parallel (factory demo/bench).
 *
 * ### EspEmulatorOptions
 * | field | default | meaning |
 * |---|---|---|
 * | `devicePath` | — | device end of the pty |
 * | `chip` | — | `"esp32"` or `"esp8266"` |
 * | `mac` | `24:0a:c4:00:00:01` / `18:fe:34:00:00:01` | burnt into the MAC eFuses (`aa:bb:…` or `aabb…`) |
 * | `flashSize` | 4 MiB (esp32), 1 MiB (esp8266) | bytes, power of two; reported in the JEDEC id |
 * | `baud` | 115200 | notional line rate of the ROM at start (the ROM auto-bauds; a pty has no rate) |
 * | `appBaud` | 115200 | notional rate once the application runs |
 * | `pace` | `true` | bytes take `10 / baud` s each, both directions; `false` = as fast as the pty goes |
 * | `faults` | `[]` | `EspFault[]` or strings, see below |
 * | `tests` | all pass | factory self-test console: `{ [command]: true \| false \| "literal reply line" }` |
 * | `firmwareName` | `"factory-app"` | project name printed if the image carries none |
 * | `startIn` | `"bootloader"` | `"bootloader"` (download mode, waiting for SYNC; no banner, nobody is listening yet) or `"app"` (boot the flash) |
 * | `onVanish` | — | called when `vanish_after_bytes` fires (startEspBoard wires socat's kill) |
 *
 * ### Faults (`parseEspFault("corrupt_block:3")` parses the string forms)
 * - `no_sync` — never answers SYNC (nothing else is answered before a SYNC either).
 * - `corrupt_block:<n>` — the n-th accepted FLASH_DATA / FLASH_DEFL_DATA block (0-based,
 *   counted across the whole session, duplicates not counted) gets one bit flipped in
 *   flash → MD5 mismatch. One-shot: the counter moves on, so a host that rewrites the
 *   region succeeds (the demo's "needs a retry" board).
 * - `slow_erase:<ms per MiB>` — FLASH_BEGIN / FLASH_DEFL_BEGIN / ERASE_* answer only after
 *   erase_size × ms/MiB.
 * - `selftest_fail:<command>` — that self-test command answers `FAIL …`.
 * - `vanish_after_bytes:<n>` — after n bytes received from the host the device end is
 *   closed and `onVanish` runs (board: socat killed → host port errors).
 * - `drop_frame:<n>` — the response to the n-th data block (0-based, same counter as
 *   corrupt_block) is not sent; the block IS written. A host that resends the same
 *   `seq` gets an ACK without a second write (duplicate detection), so a retry succeeds.
 *
 * ### EspEmulatorHandle
 * - `chip`, `devicePath`, `mac` (lower-case `aa:bb:…`), `flashSize`
 * - `state`: `"bootloader" | "stub" | "app" | "halted" | "vanished" | "stopped"`
 * - `baud`: current notional baud (changes with CHANGE_BAUDRATE / app boot)
 * - `readFlash(offset, length): Uint8Array` — a copy of the flash content
 * - `flash: Uint8Array` — the live flash buffer (tests may preload it)
 * - `stats: EspEmulatorStats` — live counters: `bytesIn`, `bytesOut`, `packets`,
 *   `commands: Record<opName, count>`, `checksumErrors`, `duplicates`, `droppedResponses`,
 *   `corruptedBlocks`, `boots`, `appLines` (self-test commands answered)
 * - `console(): string` — everything the device printed outside SLIP frames (boot logs, app)
 * - `reset(mode: "bootloader" | "app"): Promise<void>` — what DTR/RTS would do on real
 *   hardware (a pty has no modem lines): `"bootloader"` = reset with IO0 low → prints the
 *   ROM "waiting for download" banner and waits for SYNC; `"app"` = reset with IO0 high →
 *   boots the flash (see Boot).
 * - `waitFor(text: string, timeoutMs?): Promise<void>` — resolves once `console()` contains text.
 * - `stop(): Promise<void>` — closes the device end; idempotent.
 *
 * ## Protocol behaviour (see ../../shared reference esp-rom-protocol.md)
 * - SLIP + request/response; ROM status bytes: 4 on ESP32 (`status, error, 0, 0`), 2 on
 *   ESP8266; stub: 2. Errors: 0x05 invalid/unsupported, 0x06 bad sequence / not in a
 *   flash session, 0x07 checksum, 0x08 flash write error (e.g. ESP32 ROM flash op before
 *   SPI_ATTACH, range outside the flash), 0x0b inflate error; stub unknown op: 0xFF.
 * - SYNC → 8 replies, value 0x20120707 (ROM); the stub replies once with value 0.
 * - Unsupported ROM command (GET_SECURITY_INFO on both chips; FLASH_DEFL_*, SPI_FLASH_MD5,
 *   CHANGE_BAUDRATE, SPI_ATTACH, SPI_SET_PARAMS, READ_FLASH_SLOW on ESP8266): the error
 *   reply (same op, status 1, error 0x05) is sent 8 times, then the ROM needs a new SYNC
 *   (commands before it are ignored) — the "reset after unsupported command" quirk.
 * - READ_REG: magic 0x40001000, MAC/chip eFuses, UART_CLKDIV (matches the current baud and
 *   a 40 MHz / 26 MHz crystal), SPI registers (RDID 0x9F via the USR command gives the
 *   JEDEC id 0xEF40xx with the size code; the USR bit reads back clear), other addresses
 *   return what WRITE_REG stored (0 if never written).
 * - ESP32 ROM: SPI_ATTACH required before FLASH_BEGIN/FLASH_DEFL_BEGIN/SPI_FLASH_MD5/
 *   READ_FLASH_SLOW (else error 0x08). FLASH_BEGIN accepts 16 or 20 bytes.
 * - Flash is NOR-like: erase sets 0xFF per 4 KiB sector, writes AND into the cells.
 *   The ESP8266 ROM erase bug is modelled (it erases `n + min(n, sectors to the next
 *   64 KiB boundary)` sectors for an erase_size of n sectors), so esptool's
 *   get_erase_size workaround gives exactly the right region.
 * - FLASH_DEFL_*: one zlib stream inflated incrementally (node:zlib); output beyond the
 *   announced write_size → error 0x0b.
 * - SPI_FLASH_MD5: ROM 32 ASCII hex chars, stub 16 raw bytes.
 * - CHANGE_BAUDRATE (ESP32 ROM, stubs): replies at the old rate, then paces at the new one.
 * - MEM_BEGIN/DATA/END: RAM upload; MEM_END with an entry inside the uploaded text
 *   "runs the stub": sends `OHAI`, then speaks the esptool stub protocol (2 status bytes,
 *   raw MD5, ERASE_FLASH, ERASE_REGION, READ_FLASH streaming, RUN_USER_CODE, 16 KiB blocks).
 * - FLASH_END / FLASH_DEFL_END from the ROM: 1 = run user code → boots the flash without
 *   the ROM reset banner; 0 = reboot → ROM banner (SW reset) then boots. From the stub:
 *   1 = stay in the stub, 0 = reboot. A software reboot boots the flash (IO0 released).
 *
 * ## Boot (after reset("app"), FLASH_END run/reboot, RUN_USER_CODE)
 * ESP32: ROM banner `ets Jun  8 2016 00:22:57` / `rst:0x1 (POWERON_RESET),boot:0x13
 * (SPI_FAST_FLASH_BOOT)`; needs an image (magic 0xE9) at 0x1000 (2nd-stage bootloader) —
 * else `invalid header: 0x…` and the chip stays halted; then the app at the first app
 * partition of the table at 0x8000 (factory/ota_0), or 0x10000 without a table; an invalid
 * app → `E (…) boot: No bootable app partitions in the partition table`.
 * ESP8266: ` ets Jan  8 2013,rst cause:2, boot mode:(3,6)`; app image at 0x0, else
 * `ets_main.c` and halted.
 * The app prints `I (…) app_init: Project name:     <name>` and
 * `I (…) app_init: App version:      <version>` (from the image's esp_app_desc_t, magic
 * 0xABCD5432, or an ASCII marker `FWVER=<version>;`), then `factory-test ready`.
 * It then reads lines (`\n` or `\r\n`) at the app baud: `info` → `OK chip=ESP32 mac=… fw=…
 * flash=4MB`; `wifi` / `mem` / `sensor` → `OK …` (or `FAIL …` per `tests` / faults);
 * `reboot` → restarts (boot log again); unknown → `ERR unknown command: <cmd>`.
 * Output is written when produced; nothing replays it. serialport flushes a tty's input
 * queue on open, so a host that closes and reopens the port (e.g. to change baud) loses
 * what was printed meanwhile: change the rate in place (`port.update({ baudRate })`), or
 * send `reboot` to get the boot log again.
 *
 * ## Also here
 * - `./command.ts`: `espSimCommand`, the `provision sim esp` subcommand (@effect/cli) —
 *   `--boards N --chip esp32|esp8266 --fault 2=corrupt_block:3 --no-pace`.
 * - `test/support/esptool-js-adapter.ts`: `NodeWebSerialPort`, a Web-Serial-shaped port
 *   over node serialport so esptool-js runs under Node (signals recorded, not applied).
 * - Stub error codes used: 0xC0 bad length, 0xC1 checksum, 0xC4 SPI op failed, 0xC6 not in
 *   flash mode / bad seq, 0xC7 inflate, 0xC9 too much data, 0xFF not implemented.
 *
 * Image builders for tests/demo/bench: see ./image.ts (`makeAppImage`,
 * `makeBootloaderImage`, `makePartitionTable`, `makeEsp32FlashSet`, `makeEsp8266FlashSet`).
 */
export * from "./types.js"
export { parseEspFault } from "./faults.js"
export { startEspEmulator } from "./emulator.js"
export { startEspBoard, startEspBoards, type EspBoard } from "./board.js"
export * from "./image.js"
