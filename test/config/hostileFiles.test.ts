// Config files an operator (or an accident) can produce that must be refused
// at once with a clear line (issue 13): durations past Node's timer range,
// huge files, devices and FIFOs instead of files, UTF-16, and secrets pasted
// as keys.
import { FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { loadAppConfig, loadSecrets } from "../../src/config/index.js"

const withFile = (text: string | Buffer, name = "config.yaml") =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "cfg13-" })
    const file = `${dir}/${name}`
    yield* typeof text === "string" ? fs.writeFileString(file, text) : fs.writeFile(file, text)
    return file
  })

const problemsOf = (file: string) =>
  Effect.map(Effect.flip(loadAppConfig(file)), (error) => {
    expect(error._tag).toBe("ConfigInvalid")
    return error.message
  })

describe("duration fields stay inside Node's timer range", () => {
  it.scoped("fallback_timeout_ms: 3000000000 and ota.timeout: 1e9 are refused, naming the field and the limit", () =>
    Effect.gen(function* () {
      const ms = yield* problemsOf(yield* withFile("stage3:\n  fallback_timeout_ms: 3000000000\n"))
      expect(ms).toContain("stage3.fallback_timeout_ms")
      expect(ms).toContain("at most 2147483647 ms")
      const s = yield* problemsOf(yield* withFile("stage3:\n  ota:\n    timeout: 1e9\n"))
      expect(s).toContain("stage3.ota.timeout")
      expect(s).toContain("at most 2147483 seconds")
      const stage1 = yield* problemsOf(yield* withFile("stage1:\n  timeouts:\n    stability: 9999999999\n"))
      expect(stage1).toContain("stage1.timeouts.stability")
      // The largest value a timer keeps is still accepted.
      const ok = yield* loadAppConfig(yield* withFile("stage3:\n  fallback_timeout_ms: 2147483647\n  ota:\n    timeout: 2147483\n"))
      expect(ok.value.stage3.fallback_timeout_ms).toBe(2147483647)
    }).pipe(Effect.provide(NodeContext.layer))
  )
})

describe("files that are not config files", () => {
  it.scoped("a 110,000-key config is refused by its size, before parsing", () =>
    Effect.gen(function* () {
      const text = "stage3:\n  enabled: true\n" + Array.from({ length: 110_000 }, (_, i) => `k${i}: ${i}`).join("\n") + "\n"
      const message = yield* problemsOf(yield* withFile(text))
      expect(message).toMatch(/more than the 262144 a config file may have/)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("/dev/zero, /dev/null and a FIFO are named as such, not read", () =>
    Effect.gen(function* () {
      expect(yield* problemsOf("/dev/zero")).toContain("not a regular file (a character device")
      expect(yield* problemsOf("/dev/null")).toContain("not a regular file (a character device")
      const fifo = `${yield* withFile("", "placeholder")}.fifo`
      execFileSync("mkfifo", [fifo])
      expect(yield* problemsOf(fifo)).toContain("not a regular file (a named pipe)")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("a UTF-16 file gets a hint about the encoding", () =>
    Effect.gen(function* () {
      const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("stage3:\n  enabled: true\n", "utf16le")])
      expect(yield* problemsOf(yield* withFile(utf16))).toContain("looks UTF-16 encoded; save it as UTF-8")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("duplicate keys are found in one pass, with both positions", () =>
    Effect.gen(function* () {
      const message = yield* problemsOf(yield* withFile("stage3:\n  enabled: true\n  concurrency: 4\n  enabled: false\n"))
      expect(message).toContain("line 4, column 3")
      expect(message).toContain("first at line 2, column 3")
    }).pipe(Effect.provide(NodeContext.layer))
  )
})

describe("secrets.yaml", () => {
  it.scoped("a password written as a key is not echoed in the unknown-key warning", () =>
    Effect.gen(function* () {
      const file = yield* withFile("device:\n  admin_password: ok\n  Hunter2-Pasted-As-Key: \n", "secrets.yaml")
      const { warnings } = yield* loadSecrets(file)
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).not.toContain("Hunter2")
      expect(warnings[0]).toContain("key #2 of device")
    }).pipe(Effect.provide(NodeContext.layer))
  )
})
