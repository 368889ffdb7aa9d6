import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { runBatch } from "../../src/factory/batch.js"
import { emulatedLine } from "../../src/cli/demo/factoryLine.js"
import { loadFactoryConfig } from "../../src/factory/loadConfig.js"
import { liveLineLayer, tempDir, testLog } from "./support.js"

const flashCommands = (stats: { commands: Record<string, number> }) =>
  Object.entries(stats.commands).filter(([op]) => /FLASH_(DEFL_)?BEGIN|FLASH_(DEFL_)?DATA/.test(op))

describe("factory pipeline on emulated boards (real serialport + native flasher + HTTP backend)", () => {
  it.scopedLive("a firmware over max_firmware_size stops the batch before any board is touched", () =>
    Effect.gen(function* () {
      const root = tempDir("fp-gate-")
      const line = yield* emulatedLine({
        dir: root,
        stations: [
          {
            id: "s1",
            boardType: "esp32",
            boards: [
              { chip: "esp32", mac: "24:0a:c4:30:00:01" },
              { chip: "esp32", mac: "24:0a:c4:30:00:02" }
            ]
          }
        ],
        configPatch: (c) => ({ ...c, quality_gates: { max_firmware_size: { esp32: 4096 } } })
      })
      const { config } = yield* loadFactoryConfig(line.configFile)
      const error = yield* Effect.flip(
        runBatch({ config, before: "no_reset", root }).pipe(
          Effect.provide(liveLineLayer(line.backendUrl, line.token, join(root, "q.jsonl"))),
          Effect.provide(testLog(root))
        )
      )
      expect(error._tag).toBe("FirmwareTooLarge")
      expect(error.message).toContain(`board config "esp32"`)
      expect(error.message).toContain("limit of 4096 bytes")
      for (const board of line.boards) {
        expect(board.emulator.stats.packets).toBe(0)
        expect(flashCommands(board.emulator.stats)).toEqual([])
      }
      expect(existsSync(join(root, "var/records"))).toBe(false)
      expect(line.backend!.requestCount()).toBe(0)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive("max_flash_time exceeded fails that board with its reason; the other port still passes; a corrupt block is retried", () =>
    Effect.gen(function* () {
      const root = tempDir("fp-ftime-")
      const line = yield* emulatedLine({
        dir: root,
        stations: [
          {
            id: "s1",
            boardType: "esp32",
            boards: [
              // Erase takes a minute per MiB: the 256 KiB app alone needs 15 s, far over the 10 s gate.
              { chip: "esp32", mac: "24:0a:c4:31:00:01", faults: ["slow_erase:60000"] },
              // Data blocks are counted from the board's first FLASH_(DEFL_)DATA: with the stub's
              // 16 KiB blocks the bootloader, partition table and the 256 KiB app (~128 KiB
              // deflated, 8+ blocks) reach block 3; `corruptedBlocks` below proves it fired.
              { chip: "esp32", mac: "24:0a:c4:31:00:02", faults: ["corrupt_block:3"] },
              { chip: "esp32", mac: "24:0a:c4:31:00:03", faults: ["no_sync"] }
            ]
          }
        ],
        // 10 s: the silent board's 3 × 2 connect attempts (~3 s of SYNC timeouts) and the
        // corrupt board's retry stay well inside it even on a loaded machine.
        configPatch: (c) => ({ ...c, quality_gates: { max_flash_time: 10, max_retry_attempts: 3 } })
      })
      const { config } = yield* loadFactoryConfig(line.configFile)
      const printed: Array<string> = []
      const outcome = yield* runBatch({
        config,
        before: "no_reset",
        root,
        retryBase: "10 millis",
        boardLines: { relativeTo: root },
        printQr: true
      }).pipe(Effect.provide(liveLineLayer(line.backendUrl, line.token, join(root, "q.jsonl"))), Effect.provide(testLog(root, printed)))
      const [slow, corrupt, silent] = line.boards.map((b) => outcome.results.find((r) => r.port === b.hostPath)!)
      // The RunOutput got one line per board, and the passing board's QR label (heading, then the code) before its line.
      const boardLines = printed.filter((l) => / - (PASS|FAIL) /.test(l))
      expect(boardLines).toHaveLength(3)
      const passLine = printed.findIndex((l) => l.includes("esp32-240ac4310002") && l.includes(" - PASS "))
      expect(printed[passLine]).toMatch(/ qr=var\/records\/qr\/esp32-240ac4310002\.png$/)
      const qrHeading = printed.indexOf(`QR label esp32-240ac4310002 (${line.boards[1]!.hostPath}):`)
      expect(qrHeading).toBeGreaterThanOrEqual(0)
      expect(qrHeading + 1).toBeLessThan(passLine)
      expect(printed.filter((l) => l.startsWith("QR label "))).toHaveLength(1)
      expect(slow).toMatchObject({
        status: "fail",
        failure: { step: "flash", code: "max_flash_time_exceeded" },
        deviceId: "esp32-240ac4310001"
      })
      expect(corrupt).toMatchObject({ status: "pass", registration: "registered", deviceId: "esp32-240ac4310002" })
      expect(corrupt!.retries).toBeGreaterThanOrEqual(1)
      // Never syncs: every attempt fails to connect; no identity, so no device id.
      expect(silent).toMatchObject({ status: "fail", failure: { step: "flash", code: "sync_failed" }, attempts: 3, deviceId: undefined })
      expect(line.boards[1]!.emulator.stats.corruptedBlocks).toBe(1)
      // What the board holds is the image (the retry rewrote the corrupted region).
      const app = readFileSync(join(root, "firmware/esp32/firmware.bin"))
      expect(Buffer.from(line.boards[1]!.emulator.readFlash(0x10000, app.length)).equals(app)).toBe(true)
      expect(outcome.report.totals).toMatchObject({ total: 3, passed: 1, failed: 2 })
      expect(outcome.report.failures.map((f) => f.code).sort()).toEqual(["max_flash_time_exceeded", "sync_failed"])
      expect(line.backend!.registrations().map((r) => r.device_id)).toEqual(["esp32-240ac4310002"])
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive("--batch-size below the port count takes exactly that many boards; the spare port is never opened", () =>
    Effect.gen(function* () {
      const root = tempDir("fp-bsize-")
      const line = yield* emulatedLine({
        dir: root,
        stations: [
          {
            id: "s1",
            boardType: "esp8266",
            boards: [
              { chip: "esp8266", mac: "18:fe:34:32:00:01" },
              { chip: "esp8266", mac: "18:fe:34:32:00:02" },
              { chip: "esp8266", mac: "18:fe:34:32:00:03" }
            ]
          }
        ]
      })
      const { config } = yield* loadFactoryConfig(line.configFile)
      const outcome = yield* runBatch({ config, before: "no_reset", root, batchSize: 2 }).pipe(
        Effect.provide(liveLineLayer(line.backendUrl, line.token, join(root, "q.jsonl"))),
        Effect.provide(testLog(root))
      )
      expect(outcome.results).toHaveLength(2)
      expect(outcome.results.every((r) => r.status === "pass")).toBe(true)
      expect(outcome.report.totals).toMatchObject({ requested: 2, total: 2, passed: 2 })
      expect(line.boards.filter((b) => b.emulator.stats.packets === 0)).toHaveLength(1)
      expect(line.backend!.registrations()).toHaveLength(2)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scopedLive("a batch larger than the ports: a port waits for a swapped board (new identity) and goes idle after --swap-timeout", () =>
    Effect.gen(function* () {
      const root = tempDir("fp-swap-")
      const line = yield* emulatedLine({
        dir: root,
        stations: [{ id: "s1", boardType: "esp8266", boards: [{ chip: "esp8266", mac: "18:fe:34:33:00:01" }] }]
      })
      const { config } = yield* loadFactoryConfig(line.configFile)
      const outcome = yield* runBatch({
        config,
        before: "no_reset",
        root,
        batchSize: 2,
        swapTimeout: "1 second"
      }).pipe(Effect.provide(liveLineLayer(line.backendUrl, line.token, join(root, "q.jsonl"))), Effect.provide(testLog(root)))
      // The same board stays on the port: it is not taken twice, and the batch ends one short.
      expect(outcome.results).toHaveLength(1)
      expect(outcome.report.totals).toMatchObject({ requested: 2, total: 1, passed: 1 })
      expect(line.backend!.attempts().get("esp8266-18fe34330001")).toBe(1)
    }).pipe(Effect.provide(NodeContext.layer))
  )
})
