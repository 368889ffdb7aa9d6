/**
 * Stage 1's reboot-loop check without the wait (runbook "Device reboots every
 * ~90 s"). A joined device goes on watch with the uptime it reported at the
 * join, and the run goes straight on to the next device. Whenever the Pi is on
 * the production network anyway (after a device's WiFi restore, between AP
 * scans, at the end of the run) every device on watch is asked for its uptime
 * once. A running device's uptime grows at least as fast as the Pi's clock, so
 * an answer below the last one seen, or below it plus the time elapsed since
 * (less a tolerance), means the device restarted. Unanswered polls prove
 * nothing on their own; the next answer is judged against the last one, which
 * covers "unreachable, then back with a low uptime".
 */
import { Clock, Deferred, Duration, Effect, Option, Ref, Schedule } from "effect"
import type { Redacted } from "effect"
import type { Mac } from "../../domain/mac.js"
import * as Methods from "../../shelly/methods.js"
import { type DeviceTls, ShellyRpc } from "../../shelly/ShellyRpc.js"

export interface WatchedDevice {
  readonly ssid: string
  readonly mac: Mac
  readonly ip: string
  readonly port: number
  /** Over HTTPS: the device's pinned certificate (each poll is held to it); absent: plain HTTP. */
  readonly tls?: DeviceTls | undefined
  /** Clock millis when the device was found on the production network. */
  readonly joinedAt: number
  /** The last uptime the device reported (0 if it gave none at the join)… */
  readonly uptimeS: number
  /** …and when that answer had arrived (Clock millis): the uptime then was at least `uptimeS`. */
  readonly seenAt: number
  /** The last poll went unanswered. */
  readonly silent: boolean
}

/** One Sys.GetStatus answer; `sentAt`/`receivedAt` bracket the moment the device read its uptime. */
export interface UptimeAnswer {
  readonly uptimeS: number | undefined
  readonly sentAt: number
  readonly receivedAt: number
}

export type Verdict =
  | { readonly _tag: "Rebooted"; readonly uptimeBeforeS: number; readonly uptimeNowS: number }
  | { readonly _tag: "Stable" }
  | { readonly _tag: "Watching"; readonly device: WatchedDevice }

/**
 * Seconds of slack before a low uptime counts as a restart: uptime is whole
 * seconds (rounded down) and the Pi's and the device's clocks tick separately.
 */
export const uptimeToleranceS = 2

/**
 * Judges one poll (pure). A device leaves the watch as stable only on an
 * answer to a poll sent after its window ended; a silent one stays on watch.
 */
export const judge = (device: WatchedDevice, answer: Option.Option<UptimeAnswer>, windowMs: number): Verdict => {
  if (Option.isNone(answer)) return { _tag: "Watching", device: { ...device, silent: true } }
  const { receivedAt, sentAt, uptimeS } = answer.value
  if (uptimeS !== undefined) {
    const expectedS = device.uptimeS + (sentAt - device.seenAt) / 1000 - uptimeToleranceS
    if (uptimeS < device.uptimeS || uptimeS < expectedS) return { _tag: "Rebooted", uptimeBeforeS: device.uptimeS, uptimeNowS: uptimeS }
  }
  if (sentAt - device.joinedAt >= windowMs) return { _tag: "Stable" }
  return {
    _tag: "Watching",
    device: uptimeS === undefined ? { ...device, silent: false } : { ...device, uptimeS, seenAt: receivedAt, silent: false }
  }
}

/** How the run reports what the watch found (result, inventory, line). */
export interface WatchReport {
  readonly rebooted: (device: WatchedDevice, verdict: Extract<Verdict, { _tag: "Rebooted" }>) => Effect.Effect<void>
  readonly stable: (device: WatchedDevice) => Effect.Effect<void>
  /** Still on watch when the run ended: Ctrl+C skipped the wait, or the device did not answer by the end. */
  readonly unverified: (devices: ReadonlyArray<WatchedDevice>, why: "skipped" | "silent") => Effect.Effect<void>
  readonly say: (line: string) => Effect.Effect<void>
}

export interface RebootWatchOptions {
  readonly window: Duration.DurationInput
  /** Spacing of the polls in the end-of-run wait. */
  readonly pollInterval: Duration.DurationInput
  /** Per Sys.GetStatus; short, so a silent device does not hold up the run. */
  readonly pollTimeout: Duration.DurationInput
  /** Devices polled at once. */
  readonly concurrency: number
  readonly password?: Redacted.Redacted<string> | undefined
  readonly report: WatchReport
}

export interface RebootWatch {
  /** Puts a joined device on watch; `status` is its Sys.GetStatus answer at the join, if any. */
  readonly add: (
    device: Omit<WatchedDevice, "uptimeS" | "seenAt" | "silent" | "joinedAt">,
    joinedAt: number,
    status: Option.Option<UptimeAnswer>
  ) => Effect.Effect<void>
  /** One bounded round: one Sys.GetStatus per device on watch, verdicts reported. */
  readonly poll: Effect.Effect<void>
  /**
   * End of the run: polls until every device has left the watch or the last
   * window (plus one poll) has passed, with a line saying so. Completing
   * `skip`, or interrupting it, ends the wait; the rest stay unverified.
   */
  readonly finish: (skip?: Deferred.Deferred<void>) => Effect.Effect<void>
  readonly size: Effect.Effect<number>
}

export const makeRebootWatch = (options: RebootWatchOptions) =>
  Effect.gen(function* () {
    const rpc = yield* ShellyRpc
    const watched = yield* Ref.make<ReadonlyArray<WatchedDevice>>([])
    const windowMs = Duration.toMillis(options.window)
    const { report } = options

    const ask = (device: WatchedDevice) =>
      Effect.gen(function* () {
        const sentAt = yield* Clock.currentTimeMillis
        const status = yield* Methods.sysGetStatus(
          { host: device.ip, port: device.port, password: options.password, tls: device.tls },
          { timeout: options.pollTimeout }
        ).pipe(Effect.option, Effect.provideService(ShellyRpc, rpc))
        const receivedAt = yield* Clock.currentTimeMillis
        return Option.map(status, (s): UptimeAnswer => ({ uptimeS: s.uptime, sentAt, receivedAt }))
      })

    const apply = (verdicts: ReadonlyArray<readonly [WatchedDevice, Verdict]>) =>
      Effect.gen(function* () {
        const byMac = new Map(verdicts.map(([device, verdict]) => [device.mac, verdict]))
        yield* Ref.update(watched, (list) =>
          list.flatMap((device) => {
            const verdict = byMac.get(device.mac)
            if (verdict === undefined) return [device]
            return verdict._tag === "Watching" ? [verdict.device] : []
          })
        )
        for (const [device, verdict] of verdicts) {
          if (verdict._tag === "Rebooted") yield* report.rebooted(device, verdict)
          else if (verdict._tag === "Stable") yield* report.stable(device)
        }
      })

    const poll: Effect.Effect<void> = Effect.gen(function* () {
      const current = yield* Ref.get(watched)
      if (current.length === 0) return
      const verdicts = yield* Effect.forEach(
        current,
        (device) => Effect.map(ask(device), (answer) => [device, judge(device, answer, windowMs)] as const),
        { concurrency: options.concurrency }
      )
      // Half-reported verdicts would leave results and inventory disagreeing.
      yield* Effect.uninterruptible(apply(verdicts))
    })

    const add: RebootWatch["add"] = (device, joinedAt, status) =>
      Ref.update(watched, (list) => [
        ...list,
        Option.match(status, {
          // Up when found, so its uptime since then is at least the time elapsed.
          onNone: () => ({ ...device, joinedAt, uptimeS: 0, seenAt: joinedAt, silent: false }),
          onSome: (s) => ({
            ...device,
            joinedAt,
            uptimeS: s.uptimeS ?? 0,
            seenAt: s.uptimeS === undefined ? joinedAt : s.receivedAt,
            silent: false
          })
        })
      ])

    const takeAll = Ref.getAndSet(watched, [])
    const skipped = Effect.flatMap(takeAll, (left) => (left.length === 0 ? Effect.void : report.unverified(left, "skipped")))

    const finish = (skip?: Deferred.Deferred<void>): Effect.Effect<void> =>
      Effect.gen(function* () {
        const current = yield* Ref.get(watched)
        if (current.length === 0) return
        const now = yield* Clock.currentTimeMillis
        const lastWindowEnd = Math.max(...current.map((d) => d.joinedAt + windowMs))
        const leftMs = Math.max(0, lastWindowEnd - now)
        // One more round after the last window ends: a device is judged stable only on a poll sent after its window.
        const budgetMs = leftMs + Duration.toMillis(options.pollInterval) + Duration.toMillis(options.pollTimeout)
        const announce = report.say(
          `[stage1: watching ${current.length} device(s) for reboot loops, up to ${Math.ceil(leftMs / 1000)}s left — Ctrl+C to skip]`
        )
        const rounds = Effect.zipRight(poll, Ref.get(watched)).pipe(
          Effect.repeat({ schedule: Schedule.spaced(options.pollInterval), until: (left) => left.length === 0 }),
          Effect.timeoutOption(Duration.millis(budgetMs)),
          Effect.as("watched" as const)
        )
        const skipWanted = skip === undefined ? Effect.never : Deferred.await(skip).pipe(Effect.as("skipped" as const))
        // Interruptible inside: the end-of-run wait also runs as a finalizer (Ctrl+C in loop mode), where only `skip` may end it.
        // The line and the wait under one interrupt handler: a Ctrl+C that lands
        // right after the line is printed (before the race has started) still
        // reports the devices as cut short instead of leaving them unreported.
        const outcome = yield* Effect.zipRight(
          announce,
          Effect.raceFirst(Effect.interruptible(rounds), Effect.interruptible(skipWanted))
        ).pipe(Effect.onInterrupt(() => skipped))
        if (outcome === "skipped") return yield* skipped
        const silent = yield* takeAll
        if (silent.length > 0) yield* report.unverified(silent, "silent")
      })

    return { add, poll, finish, size: Effect.map(Ref.get(watched), (l) => l.length) } satisfies RebootWatch
  })
