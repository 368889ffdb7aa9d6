// The crash test: a child process writes ip_state.json through the
// real store in a loop and is SIGKILLed at random moments. After every kill
// the file parses and is exactly the last confirmed content or the next one.
import { afterAll, describe, expect, it } from "vitest"
import type { ChildProcess } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { counterOf, fleetText, parseOrThrow } from "./crashFleet.js"
import { cleanBundles, killAndWait, spawnScript, waitForLine } from "./children.js"

const KILLS = 20

/** Tracks the last counter a child confirmed on stdout. */
const confirmed = (child: ChildProcess): { readonly last: () => number } => {
  let last = -1
  let buffer = ""
  child.stdout?.on("data", (chunk: Buffer) => {
    buffer += chunk.toString()
    const lines = buffer.split("\n")
    buffer = lines.pop() ?? ""
    for (const line of lines) {
      const match = /^wrote (\d+)$/.exec(line)
      if (match) last = Math.max(last, Number(match[1]))
    }
  })
  return { last: () => last }
}

const closed = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("close", () => resolve())))

describe("inventory crash safety", () => {
  afterAll(cleanBundles)

  it(`survives ${KILLS} SIGKILLs at random moments: always old or new content, never torn`, async () => {
    const root = mkdtempSync(join(tmpdir(), "crash-"))
    const state = join(root, "ip_state.json")
    const runDir = join(root, "var", "run")
    writeFileSync(state, fleetText(0))
    const spawnWriter = (round: number) => spawnScript("crashWriter.ts", [state, runDir, join(root, `go-${round}`)])
    const children: Array<ChildProcess> = []
    try {
      // The next writer starts up while the current one runs, so kills come fast.
      let next = spawnWriter(0)
      children.push(next)
      let previous = 0
      let totalWrites = 0
      for (let round = 0; round < KILLS; round++) {
        const writer = next
        const progress = confirmed(writer)
        await waitForLine(writer, /^ready/, 60_000)
        if (round + 1 < KILLS) {
          next = spawnWriter(round + 1)
          children.push(next)
        }
        writeFileSync(join(root, `go-${round}`), "")
        await waitForLine(writer, /^wrote/, 30_000)
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 60))
        writer.kill("SIGKILL")
        await closed(writer)

        const text = readFileSync(state, "utf8")
        const counter = counterOf(parseOrThrow(text))
        const last = progress.last()
        // Confirmed writes are on disk; the one in flight may or may not be.
        expect([last, last + 1]).toContain(counter)
        expect(counter).toBeGreaterThanOrEqual(previous)
        expect(text).toBe(fleetText(counter))
        totalWrites += counter - previous
        previous = counter
      }
      expect(totalWrites).toBeGreaterThan(KILLS - 1)
      expect(existsSync(`${state}.bak`)).toBe(true)
    } finally {
      await Promise.all(children.map((child) => killAndWait(child)))
      rmSync(root, { recursive: true, force: true })
    }
  }, 180_000)
})
