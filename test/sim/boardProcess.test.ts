/**
 * sim/boardProcess.ts with an ESP board: the emulator in a process of its own
 * (as bench:stations' BENCH_BOARDS=process runs them), reached over a real pty
 * by a raw ROM client, and reset over the IPC channel.
 */
import { afterEach, describe, expect, it } from "vitest"
import { type BoardProcess, startBoardProcess } from "../../sim/boardProcess.js"
import { RawClient } from "./espRawClient.js"

const started: Array<{ board: BoardProcess; client?: RawClient }> = []
afterEach(async () => {
  for (const { board, client } of started.splice(0)) {
    await client?.close()
    await board.stop()
  }
})

describe("an ESP board in its own process", () => {
  it("answers SYNC in download mode, not once reset into its application, and again after a reset into the bootloader", async () => {
    const board = await startBoardProcess({ kind: "esp", options: { chip: "esp32", mac: "24:0a:c4:70:09:01", pace: false } })
    started.push({ board })
    expect(board.hostPath).toMatch(/^\/dev\/pts\/|^\/tmp\//)
    const client = await RawClient.open(board.hostPath)
    started[0] = { board, client }

    expect(await client.sync()).toHaveLength(8)
    await board.reset("app")
    client.flushInput()
    // Reset with IO0 high: the ROM boots from flash and no longer listens for SYNC.
    expect(await client.sync()).toHaveLength(0)
    await board.reset("bootloader")
    await client.waitForText("waiting for download")
    client.flushInput()
    expect(await client.sync()).toHaveLength(8)
  })

  it("refuses an operation its board kind does not have, with an error naming it; stop ends the process", async () => {
    const board = await startBoardProcess({ kind: "esp", options: { chip: "esp32", mac: "24:0a:c4:70:09:02", pace: false } })
    started.push({ board })
    await expect(board.figures()).rejects.toThrow(/figures/)
    await board.stop()
    await board.stop() // a second stop is a no-op
  })
})
