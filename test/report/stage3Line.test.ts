import { describe, expect, it } from "vitest"
import type { Mac } from "../../src/domain/mac.js"
import { makeStage3Reporter } from "../../src/report/stage3Reporter.js"
import { formatStage3Line, formatStage3Summary, MAX_LINE_LENGTH } from "../../src/report/stage3Line.js"
import { useColor, visibleLength } from "../../src/report/terminal.js"
import type { Stage3DeviceResult } from "../../src/stages/stage3/result.js"

const result = (fields: Partial<Stage3DeviceResult>): Stage3DeviceResult => ({
  key: "a1b2c3d4e5f6",
  mac: "A1B2C3D4E5F6" as Mac,
  ip: "192.168.1.35",
  label: "S2PMG3",
  ota: "up_to_date",
  errors: [],
  wroteName: false,
  startedUpdate: false,
  failed: false,
  ...fields
})

const stripAnsi = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, "")

describe("formatStage3Line", () => {
  it("prints the runbook's example lines exactly", () => {
    expect(formatStage3Line(result({ friendly: "ok", friendlyName: "Wohnzimmer" }), false)).toBe(
      "● S2PMG3 @ 192.168.1.35 - OTA=up_to_date | Friendly=ok (Wohnzimmer)"
    )
    expect(
      formatStage3Line(result({ label: "S1MINIPMG3", ip: "192.168.1.78", ota: "update_available", friendly: "no_value" }), false)
    ).toBe("● S1MINIPMG3 @ 192.168.1.78 - OTA=updateable | Friendly=no_value")
    expect(formatStage3Line(result({ ip: "192.168.1.51", ota: "offline", failed: true }), false)).toBe(
      "● S2PMG3 @ 192.168.1.51 - OTA=offline"
    )
    expect(
      formatStage3Line(
        result({ label: "I4G3", ip: "192.168.1.30", friendly: "error", friendlyName: "Name", errors: ["friendly: HTTP 500"] }),
        false
      )
    ).toBe("● I4G3 @ 192.168.1.30 - OTA=up_to_date | Friendly=error (Name) | ERR=friendly: HTTP 500")
  })

  it("keeps lines under 80 characters by cutting a long name or ERR", () => {
    const longName = formatStage3Line(
      result({
        label: "S1MINIPMG3",
        ip: "127.100.39.255",
        friendly: "ok",
        friendlyName: "A very long friendly name for the garden shed light"
      }),
      false
    )
    expect(visibleLength(longName)).toBe(MAX_LINE_LENGTH)
    expect(longName).toMatch(/^● S1MINIPMG3 @ 127\.100\.39\.255 - OTA=up_to_date \| Friendly=ok \(A very long .*…\)$/)

    const longErr = formatStage3Line(
      result({ ota: "error", errors: ["OTA: RPC -103 Argument 'stage' is invalid because of something"] }),
      false
    )
    expect(visibleLength(longErr)).toBe(MAX_LINE_LENGTH)
    expect(longErr).toMatch(/^● S2PMG3 @ 192\.168\.1\.35 - OTA=error \| ERR=OTA: RPC -103 Argument .*…$/)
  })

  it("cuts the name before the first words of ERR when both are long", () => {
    const both = formatStage3Line(
      result({
        label: "S1MINIPMG3",
        ip: "127.100.39.255",
        ota: "check_failed",
        friendly: "error",
        friendlyName: "A very long friendly name for the garden shed light switch",
        errors: ["OTA: timeout 20000 ms", "friendly: RPC -103 Argument 'config' is invalid"]
      }),
      false
    )
    const [, name, err] = /\((.*)\) \| ERR=(.*)$/.exec(both)!
    expect(name).toBe("A very long fri…")
    expect(visibleLength(err!)).toBe(32)
    expect(err).toBe("OTA: timeout 20000 ms; friendly…")
  })

  it("colours the dot and the OTA part only", () => {
    const green = formatStage3Line(result({ friendly: "ok", friendlyName: "X" }), true)
    expect(green).toBe("\u001b[32m●\u001b[39m S2PMG3 @ 192.168.1.35 - \u001b[32mOTA=up_to_date\u001b[39m | Friendly=ok (X)")
    expect(formatStage3Line(result({ ota: "update_available" }), true)).toContain("\u001b[33mOTA=updateable\u001b[39m")
    for (const ota of ["offline", "check_failed", "error"] as const) {
      expect(formatStage3Line(result({ ota }), true)).toContain(`\u001b[31mOTA=${ota}\u001b[39m`)
    }
    expect(formatStage3Line(result({ ota: "skipped" }), true)).toContain("\u001b[32mOTA=skipped")
    expect(stripAnsi(green)).toBe(formatStage3Line(result({ friendly: "ok", friendlyName: "X" }), false))
  })

  it("prints the summary line", () => {
    expect(formatStage3Summary({ total: 3, ok: 2, failed: 1 })).toBe("Stage 3 summary: total=3 ok=2 failed=1")
  })
})

describe("useColor", () => {
  it("honours NO_COLOR over a TTY and FORCE_COLOR", () => {
    expect(useColor({ isTTY: true }, {})).toBe(true)
    expect(useColor({ isTTY: false }, {})).toBe(false)
    expect(useColor({ isTTY: true }, { NO_COLOR: "1" })).toBe(false)
    expect(useColor({ isTTY: false }, { FORCE_COLOR: "1" })).toBe(true)
    expect(useColor({ isTTY: false }, { FORCE_COLOR: "1", NO_COLOR: "1" })).toBe(false)
    expect(useColor({ isTTY: true }, { NO_COLOR: "" })).toBe(true)
  })
})

describe("makeStage3Reporter", () => {
  const offline = result({ ota: "offline", failed: true })
  const broken = result({ ota: "check_failed", errors: ["OTA: HTTP 500"], failed: true })
  const fine = result({ friendly: "ok", friendlyName: "X" })

  const run = (options: { quiet?: boolean; online?: boolean; json?: boolean }) => {
    const lines: Array<string> = []
    const reporter = makeStage3Reporter(
      { json: false, quiet: false, online: false, dryRun: false, color: false, total: 3, ...options },
      (line) => lines.push(line)
    )
    for (const r of [offline, broken, fine]) reporter.device(r)
    reporter.summary({ total: 3, ok: 1, failed: 2 })
    return lines
  }

  it("--online hides offline devices but not their count", () => {
    const lines = run({ online: true })
    expect(lines).toHaveLength(3)
    expect(lines.some((l) => l.includes("OTA=offline"))).toBe(false)
    expect(lines.at(-1)).toBe("Stage 3 summary: total=3 ok=1 failed=2")
  })

  it("--quiet keeps only lines with an ERR part and the summary", () => {
    expect(run({ quiet: true })).toEqual([
      "● S2PMG3 @ 192.168.1.35 - OTA=check_failed | ERR=OTA: HTTP 500",
      "Stage 3 summary: total=3 ok=1 failed=2"
    ])
  })

  it("--json writes one parseable object per line with stable fields", () => {
    const objects = run({ json: true }).map((l) => JSON.parse(l))
    expect(objects.map((o) => o.type)).toEqual(["device", "device", "device", "summary"])
    expect(objects[1]).toMatchObject({
      mac: "A1B2C3D4E5F6",
      ota_status: "check_failed",
      errors: ["OTA: HTTP 500"],
      ok: false,
      friendly_status: null
    })
    expect(objects[3]).toEqual({ type: "summary", total: 3, ok: 1, failed: 2, dry_run: false })
  })
})
