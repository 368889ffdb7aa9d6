import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, Redacted } from "effect"
import { existsSync } from "node:fs"
import { dirname } from "node:path"
import { afterAll, beforeEach } from "vitest"
import { makeNmcliWifi } from "../../src/wifi/NmcliWifi.js"
import { fixture, installFakeNmcli } from "../support/fake-nmcli/fakeNmcli.js"

const fake = installFakeNmcli()
afterAll(() => fake.dispose())
beforeEach(() => fake.reset())

const wifi = (iface = "wlan0") =>
  makeNmcliWifi({ iface, connectTimeout: "5 seconds", commandTimeout: "5 seconds" }).pipe(Effect.provide(NodeContext.layer))

describe("NmcliWifi (fake nmcli on PATH)", () => {
  it.effect("scan parses terse output with escaped colons and backslashes, open networks and hidden SSIDs", () =>
    Effect.gen(function* () {
      fake.reply("-t -f IN-USE,SSID,BSSID,SIGNAL,SECURITY dev wifi list ifname wlan0 --rescan yes", { stdout: fixture("wifi-list.txt") })
      const aps = yield* (yield* wifi()).scan()
      expect(aps).toEqual([
        { ssid: "HomeNet", bssid: "AA:BB:CC:DD:EE:01", signal: 82, security: "WPA2" },
        { ssid: "ShellyS2PMG3-A1B2C3D4E5F6", bssid: "A2:B2:C3:D4:E5:F6", signal: 70, security: "open" },
        { ssid: "Cafe:Guest\\5G", bssid: "11:22:33:44:55:66", signal: 40, security: "WPA1 WPA2" }
      ])
      expect(fake.calls()).toEqual([
        ["-t", "-f", "IN-USE,SSID,BSSID,SIGNAL,SECURITY", "dev", "wifi", "list", "ifname", "wlan0", "--rescan", "yes"]
      ])
    })
  )

  it.effect("current reads the interface's connection and its SSID; disconnected is none", () =>
    Effect.gen(function* () {
      fake.reply("-t -f DEVICE,TYPE,STATE,CONNECTION dev status", { stdout: fixture("dev-status-connected.txt") })
      fake.reply("*--rescan no", { stdout: fixture("wifi-list.txt") })
      const service = yield* wifi()
      expect(yield* service.current()).toEqual(Option.some({ profile: "HomeNet", ssid: "HomeNet" }))
      fake.reset()
      fake.reply("-t -f DEVICE,TYPE,STATE,CONNECTION dev status", { stdout: fixture("dev-status-disconnected.txt") })
      expect(yield* service.current()).toEqual(Option.none())
    })
  )

  it.effect("connect to an open AP passes no password and names the interface", () =>
    Effect.gen(function* () {
      fake.reply("-w 5 dev wifi connect *", { stdout: "Device 'wlan0' successfully activated with 'f0e1'.\n" })
      fake.reply("-t -f DEVICE,TYPE,STATE,CONNECTION dev status", { stdout: "wlan0:wifi:connected:ShellyS2PMG3-A1B2C3D4E5F6\n" })
      fake.reply("*--rescan no", { stdout: "*:ShellyS2PMG3-A1B2C3D4E5F6:A2\\:B2\\:C3\\:D4\\:E5\\:F6:70:\n" })
      const service = yield* wifi()
      const joined = yield* service.connect({ ssid: "ShellyS2PMG3-A1B2C3D4E5F6" })
      expect(joined).toEqual({ ssid: "ShellyS2PMG3-A1B2C3D4E5F6", profile: "ShellyS2PMG3-A1B2C3D4E5F6" })
      expect(fake.calls()[0]).toEqual(["-w", "5", "dev", "wifi", "connect", "ShellyS2PMG3-A1B2C3D4E5F6", "ifname", "wlan0"])
    })
  )

  it.effect(
    "connect to a protected network: the password only in a 0600 passwd-file in a private dir, removed afterwards; never in argv",
    () =>
      Effect.gen(function* () {
        const password = "s3cret pw:with colon"
        fake.reply("con delete id provision-Prod Net", { stderr: "Error: unknown connection 'provision-Prod Net'.\n", code: 10 })
        fake.reply("con add type wifi ifname wlan0 con-name provision-Prod Net ssid Prod Net *", {
          stdout: "Connection 'provision-Prod Net' successfully added.\n"
        })
        fake.reply("-w 5 con up id provision-Prod Net ifname wlan0 passwd-file *", { stdout: "Connection successfully activated\n" })
        const service = yield* wifi()
        const joined = yield* service.connect({ ssid: "Prod Net", password: Redacted.make(password) })
        expect(joined).toEqual({ ssid: "Prod Net", profile: "provision-Prod Net" })
        const calls = fake.calls()
        expect(calls.some((argv) => argv.some((arg) => arg.includes("s3cret")))).toBe(false)
        expect(calls[1]).toEqual([
          "con",
          "add",
          "type",
          "wifi",
          "ifname",
          "wlan0",
          "con-name",
          "provision-Prod Net",
          "ssid",
          "Prod Net",
          "wifi-sec.key-mgmt",
          "wpa-psk",
          "wifi-sec.psk-flags",
          "2"
        ])
        expect(calls[2]!.slice(0, -1)).toEqual(["-w", "5", "con", "up", "id", "provision-Prod Net", "ifname", "wlan0", "passwd-file"])
        const files = fake.passwdFiles()
        expect(files).toHaveLength(1)
        expect(files[0]).toMatchObject({
          path: calls[2]!.at(-1),
          content: `802-11-wireless-security.psk:${password}\n`,
          mode: "600",
          dirMode: "700"
        })
        expect(existsSync(files[0]!.path)).toBe(false)
        expect(existsSync(dirname(files[0]!.path))).toBe(false)
      })
  )

  it.effect("a failed activation still removes the passwd-file; the profile it added is deleted on restore", () =>
    Effect.gen(function* () {
      fake.reply("con delete id *", { stdout: "Connection deleted.\n" })
      fake.reply("con add *", { stdout: "Connection 'provision-ProdNet' successfully added.\n" })
      fake.reply("-w 5 con up id provision-ProdNet *", {
        stderr: "Error: Connection activation failed: Secrets were required, but not provided.\n",
        code: 4
      })
      fake.reply("-w 5 con up id HomeNet *", { stdout: "Connection successfully activated\n" })
      const service = yield* wifi()
      const error = yield* service.connect({ ssid: "ProdNet", password: Redacted.make("wrong-pw") }).pipe(Effect.flip)
      expect(error._tag).toBe("WifiConnectFailed")
      expect(existsSync(fake.passwdFiles()[0]!.path)).toBe(false)
      yield* service.restore(Option.some({ ssid: "HomeNet", profile: "HomeNet" }))
      expect(fake.calls().at(-1)).toEqual(["con", "delete", "id", "provision-ProdNet"])
    })
  )

  it.effect("a wrong password is WifiConnectFailed naming the SSID, without the password", () =>
    Effect.gen(function* () {
      fake.reply("con *", { stdout: "ok\n" })
      fake.reply("-w 5 con up id *", {
        stderr: "Error: Connection activation failed: Secrets were required, but not provided.\n",
        code: 4
      })
      const error = yield* (yield* wifi()).connect({ ssid: "ProdNet", password: Redacted.make("wrong-pw") }).pipe(Effect.flip)
      expect(error._tag).toBe("WifiConnectFailed")
      expect(error.message).toContain("ProdNet")
      expect(error.message).toContain("Secrets were required")
      expect(error.message).not.toContain("wrong-pw")
    })
  )

  it.effect("a missing interface is WifiInterfaceMissing listing the WiFi devices that exist", () =>
    Effect.gen(function* () {
      fake.reply("*dev wifi list ifname wlan9*", { stderr: "Error: Device 'wlan9' not found.\n", code: 10 })
      fake.reply("-t -f DEVICE,TYPE dev status", { stdout: "eth0:ethernet\nwlan0:wifi\nlo:loopback\n" })
      const error = yield* (yield* wifi("wlan9")).scan().pipe(Effect.flip)
      expect(error._tag).toBe("WifiInterfaceMissing")
      expect(error.message).toBe("WiFi interface wlan9 not found")
      expect(error.hint).toContain("wlan0")
      fake.reset()
      fake.reply("-t -f DEVICE,TYPE,STATE,CONNECTION dev status", { stdout: fixture("dev-status-connected.txt") })
      const missing = yield* (yield* wifi("wlan9")).current().pipe(Effect.flip)
      expect(missing._tag).toBe("WifiInterfaceMissing")
    })
  )

  it.effect("lacking privileges is WifiNotAuthorized", () =>
    Effect.gen(function* () {
      fake.reply("-w 5 dev wifi connect *", {
        stderr: "Error: Failed to add/activate new connection: Not authorized to control networking.\n",
        code: 4
      })
      const error = yield* (yield* wifi()).connect({ ssid: "ShellyI4G3-0A0B0C0D0E0F" }).pipe(Effect.flip)
      expect(error._tag).toBe("WifiNotAuthorized")
      expect(error.hint).toContain("sudo")
    })
  )

  it.effect("NetworkManager not running (exit 8) says so", () =>
    Effect.gen(function* () {
      fake.reply("*", { stderr: "Error: NetworkManager is not running.\n", code: 8 })
      const error = yield* (yield* wifi()).scan().pipe(Effect.flip)
      expect(error._tag).toBe("WifiCommandFailed")
      expect(error.message).toContain("NetworkManager is not running")
    })
  )

  it.effect("restore brings the previous profile up on the interface, or disconnects (already disconnected is fine)", () =>
    Effect.gen(function* () {
      fake.reply("-w 5 con up id *", { stdout: "Connection successfully activated\n" })
      fake.reply("dev disconnect wlan0", {
        stderr: "Error: Device 'wlan0' (/org/freedesktop/NetworkManager/Devices/3) disconnecting failed: This device is not active\n",
        code: 6
      })
      const service = yield* wifi()
      yield* service.restore(Option.some({ ssid: "HomeNet", profile: "Home profile" }))
      yield* service.restore(Option.none())
      expect(fake.calls()).toEqual([
        ["-w", "5", "con", "up", "id", "Home profile", "ifname", "wlan0"],
        ["dev", "disconnect", "wlan0"]
      ])
    })
  )

  it.effect("restore deletes the profiles NetworkManager created for open factory APs, not the operator's", () =>
    Effect.gen(function* () {
      fake.reply("-w 5 dev wifi connect *", { stdout: "Device 'wlan0' successfully activated with 'f0e1'.\n" })
      fake.reply("-t -f DEVICE,TYPE,STATE,CONNECTION dev status", { stdout: "wlan0:wifi:connected:ShellyI4G3-0A0B0C0D0E0F\n" })
      fake.reply("*--rescan no", { stdout: "*:ShellyI4G3-0A0B0C0D0E0F:0A\\:0B\\:0C\\:0D\\:0E\\:0F:70:\n" })
      fake.reply("-w 5 con up id *", { stdout: "Connection successfully activated\n" })
      fake.reply("con delete id *", { stdout: "Connection 'ShellyI4G3-0A0B0C0D0E0F' successfully deleted.\n" })
      const service = yield* wifi()
      yield* service.connect({ ssid: "ShellyI4G3-0A0B0C0D0E0F" })
      yield* service.restore(Option.some({ ssid: "HomeNet", profile: "HomeNet" }))
      yield* service.restore(Option.some({ ssid: "HomeNet", profile: "HomeNet" }))
      const calls = fake.calls().filter((c) => c[0] === "con")
      expect(calls).toEqual([["con", "delete", "id", "ShellyI4G3-0A0B0C0D0E0F"]])
      expect(fake.calls().filter((c) => c.includes("up"))).toHaveLength(2)
    })
  )

  it.effect("nmcli missing from PATH is NmcliMissing", () =>
    Effect.gen(function* () {
      const saved = process.env.PATH
      process.env.PATH = "/nonexistent-dir"
      const result = yield* (yield* wifi()).scan().pipe(Effect.either, Effect.ensuring(Effect.sync(() => (process.env.PATH = saved))))
      expect(Either.isLeft(result) && result.left._tag).toBe("NmcliMissing")
    })
  )
})
