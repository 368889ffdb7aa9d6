// The reboot-loop watch's verdict on one poll (pure; the polling itself runs
// against the simulator in stage1.sim/cli/process tests).
import { Option } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Mac } from "../../src/domain/mac.js"
import { judge } from "../../src/stages/stage1/rebootWatch.js"
import type { WatchedDevice } from "../../src/stages/stage1/rebootWatch.js"

const joinedAt = 1_000_000
const device: WatchedDevice = {
  ssid: "ShellyI4G3-A1B2C3D4E5F6",
  mac: "A1B2C3D4E5F6" as Mac,
  ip: "127.65.0.10",
  port: 80,
  joinedAt,
  uptimeS: 12,
  seenAt: joinedAt,
  silent: false
}
const windowMs = 100_000
const answer = (uptimeS: number, sentAt: number) => Option.some({ uptimeS, sentAt, receivedAt: sentAt + 30 })

describe("reboot-loop watch: judge", () => {
  it("an uptime that grew with the clock keeps watching, then leaves as stable after the window", () => {
    expect(judge(device, answer(42, joinedAt + 30_000), windowMs)).toMatchObject({
      _tag: "Watching",
      device: { uptimeS: 42, seenAt: joinedAt + 30_030 }
    })
    expect(judge(device, answer(112, joinedAt + 100_000), windowMs)).toEqual({ _tag: "Stable" })
  })

  it("an uptime lower than the last one, or lower than the time elapsed allows, is a restart", () => {
    expect(judge(device, answer(3, joinedAt + 1000), windowMs)).toEqual({ _tag: "Rebooted", uptimeBeforeS: 12, uptimeNowS: 3 })
    // Unanswered for a while, then back: 20 s of uptime after 60 s away cannot be the same boot.
    const silent = judge(device, Option.none(), windowMs)
    expect(silent).toMatchObject({ _tag: "Watching", device: { silent: true, uptimeS: 12 } })
    const back = silent._tag === "Watching" ? silent.device : device
    expect(judge(back, answer(20, joinedAt + 60_000), windowMs)).toMatchObject({ _tag: "Rebooted" })
  })

  it("a device that never restarts is never judged rebooted (whole-second uptime, device clock as fast or faster)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.double({ min: 1, max: 100, noNaN: true }),
        fc.integer({ min: 0, max: 2000 }),
        (startS, elapsedMs, speed, latencyMs) => {
          const exactStart = startS + 0.999
          const watched = { ...device, uptimeS: Math.floor(exactStart), seenAt: joinedAt }
          // The device reads its clock somewhere between send and receive.
          const sentAt = joinedAt + elapsedMs
          const uptime = Math.floor(exactStart + ((elapsedMs + latencyMs / 2) / 1000) * speed)
          const verdict = judge(watched, Option.some({ uptimeS: uptime, sentAt, receivedAt: sentAt + latencyMs }), windowMs)
          return verdict._tag !== "Rebooted"
        }
      )
    )
  })
})
