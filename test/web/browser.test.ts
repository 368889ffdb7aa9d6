// The web UI in a real browser: Debian's chromium, headless, driven by
// playwright-core against `provision serve` over a simulated fleet.
// Screenshots of each page go to var/screenshots/. Loopback block: 127.43.0.0/16.
import type { ChildProcess } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { type BrowserContext, chromium, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"
import { cleanInventoryBundle, startServe, stopChild } from "../e2e/inventoryCli.js"
import { makeProject, removeProject } from "./support.js"

const screenshots = resolve("var/screenshots")
let fleet: FleetHandle
let dir: string
let profile: string
let server: { child: ChildProcess; url: string }
let context: BrowserContext
let page: Page
const state = () => JSON.parse(readFileSync(join(dir, "data/ip_state.json"), "utf8")) as Record<string, Record<string, unknown>>
const row = (mac: string) => page.locator(`tr[data-mac="${mac}"]`)

beforeAll(async () => {
  mkdirSync(screenshots, { recursive: true })
  fleet = await startFleet({
    devices: 5,
    baseIp: "127.43.0.1",
    port: 0,
    timeScale: 0.01,
    control: false,
    seed: 43,
    faults: ["1=friendly:Wohnzimmer", "2=update", "5=offline"]
  })
  dir = await makeProject(fleet, "web-browser-")
  server = await startServe(dir, ["--host", "127.43.0.200", "--port", "0"])
  profile = mkdtempSync(join(tmpdir(), "chromium-profile-"))
  context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ],
    viewport: { width: 1400, height: 900 },
    timeout: 30_000
  })
  page = context.pages()[0] ?? (await context.newPage())
  page.setDefaultTimeout(20_000)
})

afterAll(async () => {
  await context?.close()
  if (server) await stopChild(server.child)
  await fleet?.stop()
  removeProject(dir)
  if (profile !== undefined) rmSync(profile, { recursive: true, force: true })
  cleanInventoryBundle()
})

describe("web UI in chromium", () => {
  it("loads the inventory of the simulated fleet with the online probe", async () => {
    await page.goto(server.url)
    await expect(page.locator("#inventory tbody tr").count()).resolves.toBe(5)
    for (const device of fleet.devices) await expect(row(device.mac).locator("input.ip").inputValue()).resolves.toBe(device.ip)
    await page.waitForSelector(`tr[data-mac="${fleet.devices[4]!.mac}"] td.online[data-online="no"]`)
    await expect(row(fleet.devices[0]!.mac).locator("td.online").textContent()).resolves.toBe("online")
    await page.fill("#search", "Wohnzimmer")
    await expect(page.locator("#inventory tbody tr:not([hidden])").count()).resolves.toBe(1)
    await page.fill("#search", "")
    await page.selectOption("#filter-model", fleet.devices[0]!.app)
    const sameModel = fleet.devices.filter((d) => d.app === fleet.devices[0]!.app).length
    await expect(page.locator("#inventory tbody tr:not([hidden])").count()).resolves.toBe(sameModel)
    await page.selectOption("#filter-model", "")
    await page.selectOption("#filter-online", "no")
    await expect(page.locator("#inventory tbody tr:not([hidden])").count()).resolves.toBe(1)
    await page.selectOption("#filter-online", "")
    await page.click('th[data-sort="name"]')
    const names = await page
      .locator("#inventory tbody input.name")
      .evaluateAll((inputs) => inputs.map((i) => (i as HTMLInputElement).value))
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)))
    await page.screenshot({ path: join(screenshots, "inventory.png"), fullPage: true })
  })

  it("shows the error for a name that cannot be sent, and keeps the file", async () => {
    const mac = fleet.devices[2]!.mac
    const before = readFileSync(join(dir, "data/ip_state.json"), "utf8")
    await row(mac).locator("input.name").fill("Flur\u200bOben")
    await row(mac).locator("button.save-name").click()
    const error = row(mac).locator(".name-error")
    await page.waitForFunction((m) => document.querySelector(`tr[data-mac="${m}"] .name-error`)?.textContent !== "", mac)
    await expect(error.textContent()).resolves.toContain("U+200B")
    expect(readFileSync(join(dir, "data/ip_state.json"), "utf8")).toBe(before)
    await page.screenshot({ path: join(screenshots, "inventory-bad-name.png"), fullPage: true })
  })

  it("renames a device inline and a Stage 3 run puts the name on the simulated device", async () => {
    const device = fleet.devices[1]!
    await row(device.mac).locator("input.name").fill("  Ess   zimmer ")
    await row(device.mac).locator("button.save-name").click()
    await page.waitForSelector(`tr[data-mac="${device.mac}"].saved`)
    await expect(row(device.mac).locator("input.name").inputValue()).resolves.toBe("Ess zimmer")
    expect(state()[device.mac]!.friendly_name).toBe("Ess zimmer")

    await row(device.mac).locator("input.pick").check()
    await page.click("#run-real")
    await page.waitForFunction(() => document.getElementById("run-state")?.textContent?.startsWith("finished") === true)
    await expect(page.locator("#run-log").textContent()).resolves.toContain(device.ip!)
    expect(fleet.device(device.mac)!.name).toBe("Ess zimmer")
    await row(device.mac).locator("input.pick").uncheck()
  })

  it("runs a Stage 3 dry run on a selection and shows the lines as they arrive, then the summary", async () => {
    await page.reload()
    await page.check("#pick-all")
    await page.click("#run-dry")
    await page.waitForFunction(() => document.getElementById("run-summary")?.textContent?.startsWith("Stage 3 summary:") === true)
    const log = (await page.locator("#run-log").textContent()) ?? ""
    for (const device of fleet.devices) expect(log).toContain(device.ip!)
    await expect(page.locator("#run-summary").textContent()).resolves.toMatch(/total=5 ok=\d+ failed=\d+/)
    await page.screenshot({ path: join(screenshots, "stage3-dry-run.png"), fullPage: true })
  })

  it("shows the factory page (no reports yet)", async () => {
    await page.click("text=Factory")
    await page.waitForSelector("h1:has-text('Factory')")
    await expect(page.locator("main").textContent()).resolves.toContain("There are no batch reports yet")
    await page.screenshot({ path: join(screenshots, "factory.png"), fullPage: true })
  })
})
