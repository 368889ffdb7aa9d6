// The web UI's firmware page: the cache, the rollout's waves, and the SSE
// stream that follows the rollout state file as a run rewrites it.
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startWebUi, webLayer } from "../../src/web/server.js"
import { addFirmware } from "../../src/firmware/cache.js"
import type { RolloutState } from "../../src/stages/stage3/rollout.js"

const stateOf = (status: RolloutState["status"], wave2: RolloutState["waves"][number]["status"]): RolloutState => ({
  version: 1,
  id: "2026-01-01T00:00:00.000Z",
  status,
  waves_spec: "50%,100%",
  halt_after: 0,
  group_by: null,
  target: { S2PMG3: "1.7.5" },
  channel: "stable",
  ip_state_file: "data/ip_state.json",
  started_at: "x",
  updated_at: "y",
  halt_reason: status === "halted" ? "1 failed in wave 2/2, more than --halt-after 0" : null,
  waves: [
    { index: 1, devices: ["AABBCC000001"], status: "done", ok: 1, failed: 0, failures: [] },
    {
      index: 2,
      devices: ["AABBCC000002", "AABBCC000003"],
      status: wave2,
      ok: wave2 === "halted" ? 1 : 0,
      failed: wave2 === "halted" ? 1 : 0,
      failures: wave2 === "halted" ? [{ mac: "AABBCC000003", ip: "127.0.0.3", error: "OTA: still on 1.6.2" }] : []
    }
  ]
})

describe("firmware page", () => {
  // Live clock: the stream polls the file on a real schedule.
  it.live("lists the cache, shows the waves, and streams each change of the rollout state", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "web-rollout-"))
      mkdirSync(join(dir, "data"))
      const stateFile = join(dir, "rollout.json")
      const configFile = join(dir, "data", "config.yaml")
      writeFileSync(
        configFile,
        `stage3:\n  ip_state_file: ${join(dir, "data", "ip_state.json")}\n  ota:\n    firmware_dir: ${join(dir, "fw")}\n  rollout:\n    state_file: ${stateFile}\n`
      )
      writeFileSync(join(dir, "fw.zip"), "image")
      const { entry } = yield* addFirmware({ file: join(dir, "fw.zip"), model: "S2PMG3", version: "1.7.5", dir: join(dir, "fw"), now: "t" })
      writeFileSync(stateFile, JSON.stringify(stateOf("running", "running")))
      const url = yield* startWebUi({ host: "127.0.0.1", port: 0, configFile })

      const html = yield* Effect.promise(() => fetch(`${url}rollout`).then((r) => r.text()))
      expect(html).toContain(entry.sha256)
      expect(html).toContain('data-wave="2"')
      expect(html).toContain("running")
      const files = yield* Effect.promise(() => fetch(`${url}api/firmware`).then((r) => r.json()))
      expect(files).toEqual([entry])

      // The stream: the current state at once, then the halted one after the file changes.
      const controller = new AbortController()
      const seen = yield* Effect.promise(async () => {
        const res = await fetch(`${url}api/rollout/events`, { signal: controller.signal })
        expect(res.headers.get("content-type")).toContain("text/event-stream")
        const reader = res.body!.getReader()
        const decoder = new TextDecoder()
        let text = ""
        const deadline = Date.now() + 15_000
        let rewritten = false
        while (Date.now() < deadline) {
          const { value, done } = await reader.read()
          if (done) break
          text += decoder.decode(value, { stream: true })
          if (!rewritten && text.includes('"status":"running"')) {
            rewritten = true
            writeFileSync(stateFile, JSON.stringify(stateOf("halted", "halted")))
          }
          if (text.includes('"status":"halted"')) break
        }
        controller.abort()
        return text
      })
      const events = seen.split("\n\n").filter((e) => e.startsWith("id: "))
      expect(events).toHaveLength(2)
      expect(events[1]).toContain("OTA: still on 1.6.2")
      expect(events[1]).toContain("more than --halt-after 0")
    }).pipe(Effect.scoped, Effect.provide(webLayer), Effect.provide(NodeContext.layer))
  )
})
