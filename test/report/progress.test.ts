import { describe, expect, it } from "vitest"
import { ProgressBar } from "../../src/report/progress.js"
import { makeStage3Reporter } from "../../src/report/stage3Reporter.js"
import { jsonSinks, terminalSinks } from "../../src/report/runOutputLive.js"
import * as RunOutput from "../../src/runtime/RunOutput.js"
import { Effect } from "effect"
import type { Mac } from "../../src/domain/mac.js"

const fakeTty = () => {
  const chunks: Array<string> = []
  return { chunks, stream: { isTTY: true, columns: 60, write: (c: string) => (chunks.push(c), true) } }
}

describe("ProgressBar", () => {
  it("draws on a TTY, erases itself before other output, and stays within the terminal width", () => {
    const { chunks, stream } = fakeTty()
    const bar = new ProgressBar(stream, 4, "stage3", { delayMs: 0, intervalMs: 0 })
    bar.tick(false)
    bar.tick(true)
    expect(chunks.at(-1)).toMatch(/^\r\u001b\[2Kstage3 \[#{15}\.{15}\] 2\/4 failed=1 /)
    expect(chunks.at(-1)!.length - "\r\u001b[2K".length).toBeLessThanOrEqual(59)
    bar.suspend()
    expect(chunks.at(-1)).toBe("\r\u001b[2K")
    bar.suspend()
    expect(chunks.filter((c) => c === "\r\u001b[2K")).toHaveLength(1)
  })

  it("stays invisible during the delay (short runs never show it)", () => {
    const { chunks, stream } = fakeTty()
    const bar = new ProgressBar(stream, 4, "stage3", { delayMs: 60_000 })
    bar.tick(false)
    bar.finish()
    expect(chunks).toEqual([])
  })

  it("is only used when stderr is a terminal, and never with --json", () => {
    expect(ProgressBar.enabledFor({ isTTY: false, write: () => true })).toBe(false)
    const { chunks, stream } = fakeTty()
    const lines: Array<string> = []
    const reporter = makeStage3Reporter(
      { json: true, quiet: false, online: false, dryRun: true, color: false, total: 1 },
      (l) => lines.push(l),
      terminalSinks({ stdout: { isTTY: true, write: () => true }, stderr: stream }, { env: {} }).progress
    )
    reporter.device({
      key: "k",
      mac: "AABBCCDDEEFF" as Mac,
      ip: "127.30.0.1",
      label: "S2PMG3",
      ota: "up_to_date",
      errors: [],
      wroteName: false,
      startedUpdate: false,
      failed: false
    })
    reporter.summary({ total: 1, ok: 1, failed: 0 })
    expect(chunks).toEqual([])
    expect(lines).toHaveLength(2)
  })

  it("the terminal RunOutput erases the bar before any line and keeps device text escaped; --json has no bar and no colour", () => {
    const { chunks, stream } = fakeTty()
    const stdout: Array<string> = []
    const sinks = terminalSinks(
      { stdout: { isTTY: true, write: (c: string) => (stdout.push(c), true) }, stderr: stream },
      { env: {}, bar: { delayMs: 0, intervalMs: 0 } }
    )
    const output = RunOutput.make(sinks)
    expect(output.color).toBe(true)
    const bar = output.progress("stage3", 2)
    bar.tick(false)
    expect(chunks.at(-1)).toMatch(/^\r\u001b\[2Kstage3 \[/)
    Effect.runSync(output.result("name \u001b]0;pwned\u0007 here"))
    expect(chunks.at(-1)).toBe("\r\u001b[2K")
    expect(stdout).toEqual(["name \\u001b]0;pwned\\u0007 here\n"])
    bar.finish()

    const plain = fakeTty()
    const json = RunOutput.make(jsonSinks({ stdout: { isTTY: true, write: () => true }, stderr: plain.stream }))
    expect(json.color).toBe(false)
    json.progress("stage3", 1).tick(false)
    expect(plain.chunks).toEqual([])
    expect(
      RunOutput.make(terminalSinks({ stdout: { isTTY: true, write: () => true }, stderr: stream }, { env: { NO_COLOR: "1" } })).color
    ).toBe(false)
  })

  it("the terminal RunOutput's per-port rows: one row per port, erased before each line and redrawn after; a QR block goes out as rendered", () => {
    const events: Array<string> = []
    const stderr = { isTTY: true, columns: 60, write: (c: string) => (events.push(`err:${c}`), true) }
    const stdout = { isTTY: true, write: (c: string) => (events.push(`out:${c}`), true) }
    const output = RunOutput.make(terminalSinks({ stdout, stderr }, { env: {} }))
    const rows = output.subjects([
      { id: "/dev/a", label: "s1 /dev/a" },
      { id: "/dev/bb", label: "s1 /dev/bb" }
    ])
    rows.update("/dev/a", "writing app", 0.5)
    const drawn = "err:s1 /dev/a  [############............]  50% writing app\ns1 /dev/bb [........................]   0% waiting\n"
    expect(events).toEqual([drawn])
    Effect.runSync(output.result("● board line"))
    Effect.runSync(output.diagnostic("2026-01-01T00:00:00.000Z WARNING retrying"))
    const erase = "err:\u001b[2A\r\u001b[0J"
    expect(events.slice(1)).toEqual([erase, "out:● board line\n", drawn, erase, "err:2026-01-01T00:00:00.000Z WARNING retrying\n", drawn])
    // The label's own colour codes stay and no newline is added: the text is written as rendered.
    const qr = "QR label esp32-1 (/dev/a):\n\u001b[47m\u001b[30m ▄▄ \u001b[0m\n\u001b[47m\u001b[30m\u001b[0m"
    Effect.runSync(output.block(qr))
    expect(events.slice(-3)).toEqual([erase, `out:${qr}`, drawn])
    rows.finish()
    expect(events.at(-1)).toBe(erase)
    Effect.runSync(output.result("Batch summary: total=2"))
    expect(events.at(-1)).toBe("out:Batch summary: total=2\n")

    // Not a terminal (or --json): no rows at all, lines as they are.
    const piped: Array<string> = []
    const plain = RunOutput.make(
      jsonSinks({ stdout: { write: (c: string) => (piped.push(c), true) }, stderr: { write: (c: string) => (piped.push(c), true) } })
    )
    plain.subjects([{ id: "/dev/a", label: "s1 /dev/a" }]).update("/dev/a", "writing app", 0.5)
    Effect.runSync(plain.result("● board line"))
    expect(piped).toEqual(["● board line\n"])
  })
})
