// `serve --rollout-only`: the firmware route and nothing else, on loopback.
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startFirmwareServer } from "../../src/web/server.js"
import { addFirmware } from "../../src/firmware/cache.js"

describe("serve --rollout-only", () => {
  it.scoped("hands out cached files by sha256 name only; every other path is 404, writes 405", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "fw-serve-"))
      const firmwareDir = join(dir, "firmware")
      const configFile = join(dir, "config.yaml")
      writeFileSync(configFile, `stage3:\n  ota:\n    firmware_dir: ${firmwareDir}\n`)
      writeFileSync(join(dir, "image.zip"), "image bytes")
      const { entry } = yield* addFirmware({ file: join(dir, "image.zip"), model: "S2PMG3", version: "1.7.5", dir: firmwareDir, now: "t" })
      // A file in the folder that is not in the index is not served either.
      writeFileSync(join(firmwareDir, `${"0".repeat(64)}.zip`), "stray")
      const served = yield* startFirmwareServer({ host: "127.0.0.1", port: 0, configFile })
      const get = (path: string, init?: RequestInit) =>
        Effect.promise(() => fetch(`${served.url.replace(/\/$/, "")}${path}`, { ...init, signal: AbortSignal.timeout(3000) }))
      const ok = yield* get(`/firmware/${entry.file}`)
      expect(ok.status).toBe(200)
      expect(yield* Effect.promise(() => ok.text())).toBe("image bytes")
      for (const path of [
        "/",
        "/login",
        "/api/devices",
        "/firmware/index.json",
        `/firmware/${"0".repeat(64)}.zip`,
        "/firmware/..%2Findex.json"
      ]) {
        expect((yield* get(path)).status, path).toBe(404)
      }
      expect((yield* get(`/firmware/${entry.file}`, { method: "POST" })).status).toBe(405)
    }).pipe(Effect.provide(NodeContext.layer))
  )
})
