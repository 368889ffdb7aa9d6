import { FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { describeError } from "../../src/domain/errors.js"
import { loadSecrets, missingSecret } from "../../src/config/index.js"

const writeSecrets = (text: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sec-" })
    const file = `${dir}/secrets.yaml`
    yield* fs.writeFileString(file, text)
    return file
  })

describe("secrets.yaml", () => {
  it.scoped("passwords and tokens are Redacted; printing them shows <redacted>", () =>
    Effect.gen(function* () {
      const file = yield* writeSecrets(
        "wifi:\n  sta: { ssid: Prod, password: 'sup3r-s3cret' }\n  sta1: { ssid: Open }\nmqtt: { user: u, password: mq-pass-123 }\ndevice: { admin_password: adm-pass-456 }\nbackend: { token: tok-789 }\nweb: { admin_password: web-000 }\n"
      )
      const { file: read, value, warnings } = yield* loadSecrets(file)
      expect(read).toBe(file)
      expect(warnings).toEqual([])
      expect(value.wifi.sta?.ssid).toBe("Prod")
      expect(Redacted.value(value.wifi.sta!.password!)).toBe("sup3r-s3cret")
      expect(value.wifi.sta1).toEqual({ ssid: "Open" })
      expect(Redacted.value(value.mqtt!.password!)).toBe("mq-pass-123")
      expect(Redacted.value(value.device!.admin_password!)).toBe("adm-pass-456")
      expect(Redacted.value(value.backend!.token!)).toBe("tok-789")
      expect(Redacted.value(value.web!.admin_password!)).toBe("web-000")
      const printed = `${JSON.stringify(value)} ${String(value.wifi.sta!.password)} ${JSON.stringify(value.backend)}`
      for (const secret of ["sup3r-s3cret", "mq-pass-123", "adm-pass-456", "tok-789", "web-000"]) {
        expect(printed).not.toContain(secret)
      }
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("a wrong-typed password is reported by field and type, never by value", () =>
    Effect.gen(function* () {
      const file = yield* writeSecrets("wifi:\n  sta:\n    ssid: Prod\n    password: 73735551234\nbackend: { token: [tok-in-a-list] }\n")
      const error = yield* Effect.flip(loadSecrets(file))
      expect(error._tag).toBe("ConfigInvalid")
      const text = `${error.message} ${describeError(error)} ${JSON.stringify(error)}`
      expect(text).toContain("wifi.sta.password: expected a string, found a number")
      expect(text).toContain("backend.token: expected a string, found a list")
      expect(text).not.toContain("73735551234")
      expect(text).not.toContain("tok-in-a-list")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("an empty password is refused without echoing the file", () =>
    Effect.gen(function* () {
      const file = yield* writeSecrets("wifi:\n  sta: { ssid: Prod, password: '' }\n")
      const error = yield* Effect.flip(loadSecrets(file))
      expect(error.message).toContain("wifi.sta.password")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("a YAML syntax error in the secrets file gives line/column but no source text", () =>
    Effect.gen(function* () {
      const file = yield* writeSecrets('wifi:\n  sta:\n    ssid: Prod\n    password: "hunter2-unclosed\n')
      const error = yield* Effect.flip(loadSecrets(file))
      expect(error.message).toMatch(/line \d+, column \d+: YAML syntax error \(\w+\)/)
      expect(error.message).not.toContain("hunter2")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.scoped("defaults: absent default file → no secrets; missing explicit file → ConfigMissing pointing at the example", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const cwd = process.cwd()
      // data/secrets.yaml is resolved against the project root = current directory.
      process.chdir(dir)
      const none = yield* loadSecrets().pipe(Effect.ensuring(Effect.sync(() => process.chdir(cwd))))
      expect(none.file).toBeUndefined()
      expect(none.value.wifi).toEqual({})
      const error = yield* Effect.flip(loadSecrets(`${dir}/nope.yaml`))
      expect(error._tag).toBe("ConfigMissing")
      expect(error.hint).toBe(`copy data/secrets.example.yaml to ${dir}/nope.yaml and fill it in`)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.effect("the shipped example loads", () =>
    Effect.gen(function* () {
      const loaded = yield* loadSecrets("data/secrets.example.yaml")
      expect(loaded.warnings).toEqual([])
      expect(loaded.value.wifi.sta?.ssid).toBe("ProductionWiFi")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it("missingSecret names the field and who needs it", () => {
    expect(missingSecret(undefined, "wifi.sta", "Stage 1").message).toBe(
      "invalid config data/secrets.yaml: wifi.sta: required by Stage 1 but not set (see data/secrets.example.yaml)"
    )
  })
})
