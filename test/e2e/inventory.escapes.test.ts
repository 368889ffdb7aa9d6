// `provision inventory list/show` with device-written text holding terminal
// controls (issue 13): the table escapes them, --json keeps the exact value.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cleanInventoryBundle, inventoryCli } from "./inventoryCli.js"

const EVIL = "\u001b]0;pwned\u0007\u001b[2J\r\nFAKE LINE"
let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "inventory-escapes-"))
  mkdirSync(join(dir, "data"))
  writeFileSync(join(dir, "data/config.yaml"), "stage3:\n  probe_timeout_ms: 200\n")
  writeFileSync(
    join(dir, "data/ip_state.json"),
    JSON.stringify({ AABBCC000001: { ip: "127.0.0.1", app: `Plus1${EVIL}`, fw: "1.2.3", friendly_name: `Name${EVIL}` } }, null, 2)
  )
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
  cleanInventoryBundle()
})

describe("inventory output with terminal controls in device text", () => {
  it("list and show escape them; --json keeps the exact text", async () => {
    const table = await inventoryCli(dir, ["list"])
    expect(table.code).toBe(0)
    expect(table.out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/)
    expect(table.out).toContain("Plus1\\u001b]0;pwned\\u0007\\u001b[2J\\u000d\\u000aFAKE LINE")
    expect(table.out.trim().split("\n")).toHaveLength(2)
    const show = await inventoryCli(dir, ["show", "AABBCC000001"])
    expect(show.out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/)
    expect(show.out).toContain("friendly_name: Name\\u001b]0;pwned")
    const json = JSON.parse((await inventoryCli(dir, ["list", "--json"])).out) as Array<Record<string, unknown>>
    expect(Object.values(json[0]!)).toContain(`Name${EVIL}`)
  }, 60_000)
})
