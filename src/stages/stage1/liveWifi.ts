/**
 * Stage 1 on firmware that applies WiFi.SetConfig live (no reboot): the
 * station joins within seconds while the AP stays up beside it, and
 * `ap.enable: false` takes the AP down at once — so the link the call came
 * over is gone, and its answer may never arrive. Sources: the Shelly WiFi docs
 * and shared/reference/shelly-rpc.md §5 (AP stays up after a station connect
 * until turned off; "send it last"); aioshelly `wifi_setconfig(ap_enable=False)`
 * "to disable WiFi AP after successful provisioning".
 */
import { Clock, Duration, Effect, Option, Predicate, Schedule } from "effect"
import type { DeviceUnreachable, ResponseInvalid, RpcFailure, RpcTimeout } from "../../domain/errors/shelly.js"
import { DeviceNeverJoined } from "../../domain/errors/wifi.js"
import * as Methods from "../../shelly/methods.js"
import type { CallOptions, DeviceTarget, ShellyRpc } from "../../shelly/ShellyRpc.js"

type LinkLost = DeviceUnreachable | RpcTimeout | ResponseInvalid

/**
 * Spacing of the polls of one device that is known to be busy for a few
 * seconds (station joining, rebooting): one cheap call each, so no longer
 * than half a second even when the run's scan interval is long.
 */
const devicePollSpacing = (pollInterval: Duration.DurationInput): Duration.Duration =>
  Duration.min(Duration.decode(pollInterval), Duration.millis(500))

/**
 * Spacing of the WiFi.GetStatus polls while the station joins: the moment it
 * has an address is when the AP session can end, so every poll interval of
 * lag is added to each device (bench:stage1 measured ~25 ms per device at a
 * 50 ms spacing, an eighth of the join). One small call at a time over the
 * AP, a tenth of the run's poll interval (50 ms with the CLI's 500 ms), never
 * longer than 100 ms; the join timeout bounds the count.
 */
export const stationPollSpacing = (pollInterval: Duration.DurationInput): Duration.Duration =>
  Duration.min(Duration.divide(Duration.decode(pollInterval), 10).pipe(Option.getOrElse(() => Duration.millis(50))), Duration.millis(100))

/**
 * The WiFi.GetStatus schedule while the station joins. Before this run has
 * seen a join: every `stationPollSpacing`. Once it has (`expectedMs`, the
 * shortest so far), that spacing until 80 % of it, then a fifth of it (10 ms
 * at the CLI's 500 ms) for the next 40 %, where the join most likely lands,
 * then the first spacing again: the lag between the device having its address
 * and the AP session going on falls from about half the spacing to a few
 * milliseconds, while the seconds before are polled as sparsely as ever.
 * The join timeout bounds the count (awaitStation).
 */
export const stationPollSchedule = (
  pollInterval: Duration.DurationInput,
  expectedMs: Option.Option<number>
): Schedule.Schedule<unknown, unknown> => {
  const sparse = stationPollSpacing(pollInterval)
  if (Option.isNone(expectedMs)) return Schedule.spaced(sparse)
  const dense = Duration.max(Duration.unsafeDivide(sparse, 5), Duration.millis(2))
  return Schedule.spaced(sparse).pipe(
    Schedule.upTo(Duration.millis(0.8 * expectedMs.value)),
    Schedule.andThen(Schedule.spaced(dense).pipe(Schedule.upTo(Duration.millis(0.4 * expectedMs.value)))),
    Schedule.andThen(Schedule.spaced(sparse))
  )
}

/** The failures that mean "the link went away" (refused, reset, cut mid-answer, no answer) rather than "the device said no". */
export const isLinkLost = (e: unknown): e is LinkLost =>
  Predicate.isTagged(e, "DeviceUnreachable") || Predicate.isTagged(e, "RpcTimeout") || Predicate.isTagged(e, "ResponseInvalid")

/**
 * A call whose link may go away because of the call itself (the AP is
 * disabled, the address moves): its answer, or none when the link was lost
 * first. Real firmware may drop the link before or after answering.
 */
export const answerUnlessLinkLost = <A, R>(call: Effect.Effect<A, RpcFailure, R>): Effect.Effect<Option.Option<A>, RpcFailure, R> =>
  call.pipe(
    Effect.map(Option.some),
    Effect.catchIf(isLinkLost, () => Effect.succeed(Option.none<A>()))
  )

/**
 * Polls WiFi.GetStatus over the AP until the station has an address.
 * `Some(ip)`: joined there. `None`: the AP link went away meanwhile (an
 * ESP32 that joins on another channel moves its AP with it), so where the
 * device is must be found on the production network. A station that never
 * gets an address (wrong password, network out of range) is
 * `DeviceNeverJoined` — with the AP still up, since it is disabled only after
 * a successful join.
 */
export const awaitStation = (
  target: DeviceTarget,
  settings: {
    readonly mac: string
    readonly ssid: string
    readonly rpc: CallOptions
    readonly pollInterval: Duration.DurationInput
    readonly join: Duration.DurationInput
    /** How long the shortest station join of this run took (stationPollSchedule). */
    readonly expectedJoinMs?: Option.Option<number> | undefined
  }
): Effect.Effect<Option.Option<string>, RpcFailure | DeviceNeverJoined, ShellyRpc> =>
  Methods.wifiGetStatus(target, settings.rpc).pipe(
    Effect.flatMap((status) =>
      status.status === "got ip" && typeof status.sta_ip === "string" && status.sta_ip.length > 0
        ? Effect.succeed(Option.some(status.sta_ip))
        : Effect.fail("connecting" as const)
    ),
    Effect.retry({
      schedule: stationPollSchedule(settings.pollInterval, settings.expectedJoinMs ?? Option.none()),
      while: (e) => e === "connecting"
    }),
    Effect.catchIf(isLinkLost, () => Effect.succeed(Option.none<string>())),
    Effect.timeoutFail({
      duration: settings.join,
      onTimeout: () => new DeviceNeverJoined({ mac: settings.mac, ssid: settings.ssid, waitedS: Duration.toSeconds(settings.join) })
    }),
    Effect.catchIf(
      (e): e is "connecting" => e === "connecting",
      () => Effect.dieMessage("unreachable: retried until timeout")
    )
  )

/**
 * Reboots a device at `target` (a call answered `restart_required: true`) and
 * waits until it answers there again after the restart: seen when a poll
 * failed in between (it was down) or its uptime went down. Bounded by `within`.
 */
export const rebootAndAwait = (
  target: DeviceTarget,
  options: { readonly rpc: CallOptions; readonly pollInterval: Duration.DurationInput; readonly within: Duration.DurationInput }
): Effect.Effect<boolean, RpcFailure, ShellyRpc> =>
  Effect.gen(function* () {
    const before = yield* Methods.sysGetStatus(target, options.rpc)
    const sentAt = yield* Clock.currentTimeMillis
    yield* Methods.reboot(target, undefined, options.rpc)
    let wentDown = false
    const back = Methods.sysGetStatus(target, options.rpc).pipe(
      Effect.tapError(() => Effect.sync(() => (wentDown = true))),
      Effect.flatMap((status) =>
        wentDown || (status.uptime ?? 0) < (before.uptime ?? 0) ? Effect.void : Effect.fail("still up" as const)
      ),
      Effect.retry(Schedule.spaced(devicePollSpacing(options.pollInterval)))
    )
    const done = yield* back.pipe(Effect.timeout(options.within), Effect.option)
    yield* Effect.logDebug(`reboot of ${target.host} took ${(yield* Clock.currentTimeMillis) - sentAt} ms`)
    return Option.isSome(done)
  })

/** Setup window after power-on on firmware 1.8+ (kb.shelly.cloud network design guide, FW 1.8 / EU RED). */
export const SETUP_WINDOW_S = 15 * 60

/** `1.8.0` and later (2.x included); beta tags such as `1.8.0-beta1` count as their release. */
export const hasSetupWindow = (ver: string): boolean => {
  const match = /^(\d+)\.(\d+)/.exec(ver)
  if (match === null) return false
  const major = Number(match[1])
  const minor = Number(match[2])
  return major > 1 || (major === 1 && minor >= 8)
}

/** Refused by firmware 1.8+ because the setup window has closed (the simulator's and, presumably, the device's -109 answer). */
export const isSetupWindowRefusal = (e: unknown): boolean =>
  (Predicate.isTagged(e, "RpcError") || Predicate.isTagged(e, "RpcHttp500")) &&
  /setup window/i.test(String((e as { readonly rpcMessage?: unknown }).rpcMessage ?? ""))
