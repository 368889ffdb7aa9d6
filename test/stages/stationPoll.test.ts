// The WiFi.GetStatus schedule while a station joins (src/stages/stage1/liveWifi.ts):
// sparse before a join has been seen, dense only around where the run's shortest join landed.
import { Chunk, Duration, Effect, Option, Schedule } from "effect"
import { describe, expect, it } from "vitest"
import { stationPollSchedule } from "../../src/stages/stage1/liveWifi.js"

/** The delays the schedule gives for `n` retries, and when each poll happens (ms after the first). */
const polls = (schedule: Schedule.Schedule<unknown, unknown>, n: number) => {
  const delays = Chunk.toReadonlyArray(
    Effect.runSync(
      Schedule.run(
        Schedule.delays(schedule),
        0,
        Array.from({ length: n }, () => undefined)
      )
    )
  ).map(Duration.toMillis)
  let at = 0
  return delays.map((delay) => ({ delay, at: (at += delay) }))
}

describe("stationPollSchedule", () => {
  it("no join seen in this run: a tenth of the poll interval, capped at 100 ms", () => {
    expect(new Set(polls(stationPollSchedule("500 millis", Option.none()), 50).map((p) => p.delay))).toEqual(new Set([50]))
    expect(new Set(polls(stationPollSchedule("5 seconds", Option.none()), 10).map((p) => p.delay))).toEqual(new Set([100]))
  })

  it("after a 2 s join: 50 ms until 80 % of it, 10 ms up to 120 %, then 50 ms again", () => {
    const seen = polls(stationPollSchedule("500 millis", Option.some(2000)), 200)
    const dense = seen.filter((p) => p.delay === 10)
    expect(seen.filter((p) => p.at <= 1600).every((p) => p.delay === 50)).toBe(true)
    expect(dense[0]!.at).toBeGreaterThan(1600)
    expect(dense.at(-1)!.at).toBeLessThanOrEqual(2400)
    expect(dense.length).toBeGreaterThanOrEqual(75)
    expect(seen.filter((p) => p.at > 2410).every((p) => p.delay === 50)).toBe(true)
  })
})
