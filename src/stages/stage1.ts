/**
 * Stage 1 (stage1-runbook.md "Workflow"): factory AP → production WiFi.
 * Per device: wait for a factory AP → join it on the Pi's WiFi → read
 * Shelly.GetDeviceInfo + Sys.GetStatus (setup window check) (+ BLE.GetConfig:
 * what "BLE off" can send, stage1/bleOff.ts) → Cloud/BLE/MQTT
 * SetConfig, then SetAuth → WiFi last, applied live by the firmware (station,
 * wait for its address, then the AP off; stage1/liveWifi.ts) → restore the
 * Pi's WiFi → find the device at the address it reported, else on the
 * production network by MAC → reboot there only if a call answered
 * `restart_required` → record it in ip_state.json → put it on the reboot-loop
 * watch (stage1/rebootWatch.ts) and go on to the next device. The Pi's previous WiFi
 * is restored on every path out of the AP session, interruption included.
 * Without a reported address the device is found by whichever comes first: its
 * mDNS announcement (listened for from before the station joined) or a poll round (subnet
 * scan + mDNS browse), each confirmed by `GET /shelly`; once a device of the
 * run has been found by its announcement, the polls are spaced wider. In a run, the
 * ip_state.json writes go on in the background (stage1/serialWrites.ts) while
 * the next device's AP session runs; the run waits for them before its summary.
 */
import { Clock, Deferred, Duration, Effect, Exit, Fiber, Option, Predicate, Ref, Schedule, Scope } from "effect"
import type { Stream } from "effect"
import type { DeviceUnreachable, RpcFailure, RpcTimeout } from "../domain/errors/shelly.js"
import type { Redacted } from "effect"
import { isOperatorError } from "../domain/errors/base.js"
import type { OperatorError } from "../domain/errors/base.js"
import { ApNotFound, ApUnreachable, DeviceNeverJoined, RebootLoopDetected, SetupWindowClosed } from "../domain/errors/wifi.js"
import type { WifiError } from "../domain/errors/wifi.js"
import type { Ipv4 } from "../domain/ipv4.js"
import { parseMac } from "../domain/mac.js"
import type { Mac } from "../domain/mac.js"
import { Inventory } from "../inventory/Inventory.js"
import type { InventoryDocument, InventoryService } from "../inventory/Inventory.js"
import type { InventoryReadError, LockHeld, StateWriteError } from "../domain/errors/inventory.js"
import { finishBeforeInterrupt } from "./finishCurrent.js"
import { adoptDevice, markStage1 } from "./stage1/adoption.js"
import { makeRebootWatch } from "./stage1/rebootWatch.js"
import type { RebootWatch, UptimeAnswer, WatchedDevice, WatchReport } from "./stage1/rebootWatch.js"
import { announcedDevice, findByMac, subscribeAnnouncements } from "../shelly/discovery.js"
import type { DiscoveryOptions, Found } from "../shelly/discovery.js"
import type { DeviceInfo } from "../shelly/schemas.js"
import { sameMac } from "../shelly/identity.js"
import { ShellyRpc as ShellyRpcTag } from "../shelly/ShellyRpc.js"
import {
  answerUnlessLinkLost,
  awaitStation,
  hasSetupWindow,
  isSetupWindowRefusal,
  rebootAndAwait,
  SETUP_WINDOW_S
} from "./stage1/liveWifi.js"
import type { MdnsDevice } from "../shelly/mdns.js"
import { bleOffPatch } from "./stage1/bleOff.js"
import { certificateSession } from "./stage1/certificate.js"
import { makeSerialWrites } from "./stage1/serialWrites.js"
import type { SerialWrites } from "./stage1/serialWrites.js"
import * as Methods from "../shelly/methods.js"
import type { SetDeviceAuth } from "../credentials/stage1Auth.js"
import type { DeviceTarget, DeviceTls, ShellyRpc } from "../shelly/ShellyRpc.js"
import { Wifi } from "../wifi/Wifi.js"
import type { AccessPoint, WifiCredentials } from "../wifi/Wifi.js"

export interface Stage1Settings {
  /** The device's address on its own AP (192.168.33.1; 127.0.33.1 in the demo). */
  readonly apIp: string
  /** HTTP port of the devices (80 on real devices). */
  readonly devicePort: number
  readonly apSsidPattern: string
  readonly isFactoryAp: (ssid: string) => boolean
  readonly sta: WifiCredentials
  readonly sta1?: WifiCredentials | undefined
  readonly disable: { readonly cloud: boolean; readonly ble: boolean; readonly ap: boolean; readonly mqtt: boolean }
  readonly mqtt?:
    | {
        readonly server: string
        readonly clientId?: string | undefined
        readonly topicPrefix?: string | undefined
        readonly user?: string | undefined
        readonly password?: Redacted.Redacted<string> | undefined
      }
    | undefined
  readonly adminPassword?: Redacted.Redacted<string> | undefined
  /** `stage1.auth: per_device`: sets the device's own password in place of `adminPassword` (credentials/stage1Auth.ts). */
  readonly setDeviceAuth?: SetDeviceAuth | undefined
  readonly dryRun: boolean
  readonly loop: boolean
  readonly timeouts: {
    readonly apWait: Duration.DurationInput
    readonly rpc: Duration.DurationInput
    readonly join: Duration.DurationInput
  }
  /**
   * After the join, watch the device this long: restarting on its own in that
   * window is the runbook's reboot loop (about every 90 s on some I4 units).
   * The run does not wait for it: the device is polled whenever the Pi is on
   * the production network anyway, and at the end of the run for what is left
   * of its window. Zero or absent: no watch.
   */
  readonly stabilityWindow?: Duration.DurationInput | undefined
  /** How often to rescan for APs / the joined device. */
  readonly pollInterval: Duration.DurationInput
  /**
   * Spacing of the join polls once this run has found a device by its mDNS
   * announcement: mDNS demonstrably works on this network, and the subnet
   * scan (CPU and a burst of connects per round) is only the safety net for
   * an announcement the Pi did not hear. Default 4 × `pollInterval`.
   */
  readonly announcedPollInterval?: Duration.DurationInput | undefined
  /** Production addresses searched for the device after its reboot. */
  readonly productionIps: ReadonlyArray<Ipv4>
  /** Scan concurrency and per-host timeout, and the mDNS browse/listen settings (`mdns: false`: subnet scan only). */
  readonly discovery?: DiscoveryOptions | undefined
  /**
   * The devices serve their API over HTTPS: each one's certificate is pinned
   * for its MAC in `pinFile` on first contact and required from then on
   * (src/shelly/certPins.ts). Absent: plain HTTP, as factory firmware before 2.0.0 serves.
   */
  readonly tls?: { readonly pinFile: string } | undefined
  /** Record joined devices in ip_state.json (config `adopt`). */
  readonly adopt: boolean
  readonly ipStateFile: string
  /** Output sink for the runbook's lines. */
  readonly say: (line: string) => Effect.Effect<void>
}

export interface Stage1DeviceResult {
  readonly ssid: string
  readonly mac?: string | undefined
  readonly model?: string | undefined
  readonly ip?: string | undefined
  /** `unverified`: joined, but its reboot-loop watch did not run to the end (Ctrl+C, or no answer at the end). */
  readonly status: "ok" | "failed" | "dry_run" | "unverified"
  readonly error?: { readonly code: string; readonly message: string; readonly hint: string } | undefined
}

export interface Stage1Summary {
  readonly results: ReadonlyArray<Stage1DeviceResult>
}

/** The runbook-style summary; `unverified=N` only when some device's reboot-loop watch was cut short. */
export const summaryLine = (summary: Stage1Summary): string => {
  const count = (...statuses: ReadonlyArray<Stage1DeviceResult["status"]>) =>
    summary.results.filter((r) => statuses.includes(r.status)).length
  const unverified = count("unverified")
  return (
    `Stage 1 summary: total=${summary.results.length} ok=${count("ok", "dry_run")} failed=${count("failed")}` +
    (unverified > 0 ? ` unverified=${unverified}` : "")
  )
}

/** The runbook's "apply WiFi + disable cloud/ap/mqtt" line, naming what is actually disabled. */
export const applyLine = (disable: Stage1Settings["disable"]): string => {
  const off = (["cloud", "ble", "ap", "mqtt"] as const).filter((key) => disable[key])
  return off.length === 0 ? "[rpc: apply WiFi]" : `[rpc: apply WiFi + disable ${off.join("/")}]`
}

/** A watch with nothing to do: the run's polls cost nothing when the reboot-loop check is off. */
const noWatch: Pick<RebootWatch, "poll"> = { poll: Effect.void }

const isTagged = (u: unknown, tag: string): boolean => Predicate.isTagged(u, tag)

/**
 * Waits for a factory AP not handled yet in this run. The Pi is on the
 * production network meanwhile, so every scan round also polls the devices on
 * reboot-loop watch.
 */
const waitForAp = (
  settings: Stage1Settings,
  handled: ReadonlySet<string>,
  watch: Pick<RebootWatch, "poll">,
  prefetched: Ref.Ref<Option.Option<PrefetchedScan>>
) =>
  Effect.gen(function* () {
    const wifi = yield* Wifi
    const candidates = (aps: ReadonlyArray<AccessPoint>) =>
      aps.filter((ap) => settings.isFactoryAp(ap.ssid) && !handled.has(ap.ssid)).sort((a, b) => b.signal - a.signal)
    // The scan started while the previous device's station joined, when still fresh: no scan on the critical path.
    const early = yield* Ref.getAndSet(prefetched, Option.none())
    const now = yield* Clock.currentTimeMillis
    if (Option.isSome(early) && now - early.value.at <= PREFETCH_MAX_AGE_MS) {
      // A failed or interrupted scan is no answer: a fresh one below.
      const scanned = yield* Fiber.await(early.value.fiber)
      const best = Exit.isSuccess(scanned) ? candidates(scanned.value)[0] : undefined
      if (best !== undefined) return best
    }
    const next = Effect.zipRight(watch.poll, wifi.scan()).pipe(
      Effect.map(candidates),
      Effect.flatMap((aps) => (aps[0] === undefined ? Effect.fail("none" as const) : Effect.succeed(aps[0])))
    )
    const polled: Effect.Effect<AccessPoint, WifiError, ShellyRpc | Wifi> = next.pipe(
      Effect.retry({ schedule: Schedule.spaced(settings.pollInterval), while: (e) => e === "none" }),
      Effect.catchIf(
        (e): e is "none" => e === "none",
        () => Effect.dieMessage("unreachable: retried until found")
      )
    )
    // Loop mode waits for the next device until Ctrl+C (runbook error 4).
    if (settings.loop) return yield* polled
    return yield* polled.pipe(
      Effect.timeoutFail({
        duration: settings.timeouts.apWait,
        onTimeout: () =>
          new ApNotFound({ iface: wifi.iface, pattern: settings.apSsidPattern, waitedS: Duration.toSeconds(settings.timeouts.apWait) })
      })
    )
  })

/** A scan for the next AP running (or done) beside the current device, with the time it was started. */
interface PrefetchedScan {
  readonly fiber: Fiber.Fiber<ReadonlyArray<AccessPoint>, WifiError>
  readonly at: number
}

/**
 * Loop mode's look-ahead: where the next AP scan goes, and the run's scope it
 * runs in (it outlives the device that started it; the run's end interrupts it).
 */
interface Prefetch {
  readonly scans: Ref.Ref<Option.Option<PrefetchedScan>>
  readonly scope: Scope.Scope
}

/**
 * How old a scan taken during the previous device's reboot may be and still
 * choose the next AP: NetworkManager itself serves scan results up to 30 s
 * old without rescanning, so this is no staler than a plain scan.
 */
const PREFETCH_MAX_AGE_MS = 30_000

/** What the AP session leaves for the rest of the device's run. */
interface ConfiguredOverAp {
  readonly info: DeviceInfo
  /** Some call answered `restart_required: true`: reboot once the device is reachable on the production network. */
  readonly restartRequired: boolean
  /** Where the station got its address, as the device reported it over the AP (none: link lost before it said). */
  readonly staIp: Option.Option<string>
  /** Over HTTPS: the pinned certificate every later call must see. */
  readonly tls: DeviceTls | undefined
}

/**
 * The AP session. Firmware applies WiFi.SetConfig live, so the order matters:
 * every other setting first (Cloud, BLE, MQTT, then Shelly.SetAuth) while the
 * AP link is up; then the station; then, once the device reports an address,
 * `ap.enable: false` as the very last call — its link (and maybe its answer)
 * goes away with the AP, which is the expected outcome. Nothing is rebooted
 * here: settings that need it are rebooted at the production address.
 */
const configureOverAp = (
  settings: Stage1Settings,
  ap: AccessPoint,
  hooks: {
    /** Run just before the station call (e.g. have the mDNS listener ready before the device can announce itself). */
    readonly beforeStation?: Effect.Effect<void> | undefined
    /** Started once the station call is answered: work that overlaps the device's join (it must not fail or block). */
    readonly whileStationJoins?: Effect.Effect<void> | undefined
    /** The shortest station join of this run so far (ms), updated with this one's. */
    readonly stationJoins?: Ref.Ref<Option.Option<number>> | undefined
  } = {}
) =>
  Effect.gen(function* () {
    const certificate = certificateSession(settings.tls)
    const firstContact: DeviceTarget = {
      host: settings.apIp,
      port: settings.devicePort,
      password: settings.adminPassword,
      tls: certificate.firstContact
    }
    const options = { timeout: settings.timeouts.rpc }
    const device = `${settings.apIp}:${settings.devicePort}`
    // Joined but not answering is the runbook's "AP unreachable" (ConnectTimeout on Sys.GetStatus).
    const overAp = <A, E, R>(rpc: Effect.Effect<A, E | DeviceUnreachable | RpcTimeout, R>) =>
      rpc.pipe(
        Effect.catchIf(
          (e): e is DeviceUnreachable | RpcTimeout => isTagged(e, "DeviceUnreachable") || isTagged(e, "RpcTimeout"),
          (e) =>
            Effect.fail(
              new ApUnreachable({
                ssid: ap.ssid,
                device,
                reason: e._tag === "RpcTimeout" ? `no answer within ${e.timeoutMs} ms` : e.reason
              })
            )
        )
      )
    // BLE's config decides what "disable BLE" can send (stage1/bleOff.ts): read beside the other two.
    const [info, sys, ble] = yield* overAp(
      Effect.all(
        [
          Methods.getDeviceInfo(firstContact, options),
          Methods.sysGetStatus(firstContact, options),
          settings.disable.ble ? Effect.map(Methods.bleGetConfig(firstContact, options), Option.some) : Effect.succeedNone
        ],
        { concurrency: 3 }
      )
    )
    const bleOff = Option.flatMap(ble, (config) => Option.fromNullable(bleOffPatch(config)))
    yield* settings.say("[rpc: read device info]")
    // Over HTTPS: the certificate those reads saw is pinned for this MAC (or checked against its pin) before anything is sent.
    const tls = Option.getOrUndefined(yield* certificate.pin(info.mac, device))
    const target: DeviceTarget = { ...firstContact, tls }
    // Firmware 1.8+ takes setup over the AP only within 15 min of power-on: say so before writing anything.
    const windowClosed = new SetupWindowClosed({ mac: info.mac, ver: info.ver, uptimeS: sys.uptime ?? 0, windowS: SETUP_WINDOW_S })
    if (hasSetupWindow(info.ver) && (sys.uptime ?? 0) >= SETUP_WINDOW_S) return yield* Effect.fail(windowClosed)

    // Independent components: sent together (the device serves up to 6 RPC channels at once), in one round trip's time.
    const m = settings.mqtt
    const components: ReadonlyArray<Effect.Effect<{ readonly restart_required: boolean }, RpcFailure, ShellyRpc>> = [
      ...(settings.disable.cloud ? [Methods.cloudSetConfig(target, { enable: false }, options)] : []),
      ...Option.toArray(Option.map(bleOff, (patch) => Methods.bleSetConfig(target, patch, options))),
      ...(m !== undefined
        ? [
            Methods.mqttSetConfig(
              target,
              {
                enable: true,
                server: m.server,
                client_id: m.clientId ?? info.id,
                topic_prefix: m.topicPrefix ?? info.id,
                user: m.user ?? null,
                pass: m.password ?? null
              },
              options
            )
          ]
        : settings.disable.mqtt
          ? [Methods.mqttSetConfig(target, { enable: false }, options)]
          : [])
    ]
    // The window can also close during the session: a refusal that says so gets the same clear error.
    const answers = yield* Effect.all(components, { concurrency: "unbounded" }).pipe(
      Effect.catchIf(isSetupWindowRefusal, () => Effect.fail(windowClosed))
    )
    // After the components: from here on the device wants a signed request (the target carries the password).
    if (settings.setDeviceAuth !== undefined && !info.auth_en) yield* settings.setDeviceAuth(target, info, options)
    else if (settings.adminPassword !== undefined && !info.auth_en) yield* Methods.setAuth(target, info.id, settings.adminPassword, options)

    // WiFi last. The station first, with the AP left up, so a station that cannot join leaves the device reachable on its AP.
    yield* hooks.beforeStation ?? Effect.void
    const sta = { ssid: settings.sta.ssid, pass: settings.sta.password ?? null, enable: true, ipv4mode: "dhcp" as const }
    const sta1 = settings.sta1 && {
      ssid: settings.sta1.ssid,
      pass: settings.sta1.password ?? null,
      enable: true,
      ipv4mode: "dhcp" as const
    }
    const staAnswer = yield* answerUnlessLinkLost(Methods.wifiSetConfig(target, { sta, ...(sta1 && { sta1 }) }, options))
    // The station joins for seconds: the device's own time, which the next AP scan can use.
    yield* hooks.whileStationJoins ?? Effect.void
    // Even when that answer was lost, the AP may still be there to ask.
    const joinStarted = yield* Clock.currentTimeMillis
    const staIp = yield* awaitStation(target, {
      mac: info.mac,
      ssid: settings.sta.ssid,
      rpc: options,
      pollInterval: settings.pollInterval,
      join: settings.timeouts.join,
      expectedJoinMs: hooks.stationJoins === undefined ? undefined : yield* Ref.get(hooks.stationJoins)
    })
    if (hooks.stationJoins !== undefined && Option.isSome(staIp)) {
      const tookMs = (yield* Clock.currentTimeMillis) - joinStarted
      yield* Ref.update(hooks.stationJoins, (before) =>
        Option.some(
          Math.min(
            tookMs,
            Option.getOrElse(before, () => tookMs)
          )
        )
      )
    }
    const apAnswer =
      settings.disable.ap && Option.isSome(staIp)
        ? yield* answerUnlessLinkLost(Methods.wifiSetConfig(target, { ap: { enable: false } }, options))
        : Option.none<{ readonly restart_required: boolean }>()
    yield* settings.say(applyLine(settings.disable))
    const restartRequired = [...answers, ...Option.toArray(staAnswer), ...Option.toArray(apAnswer)].some((a) => a.restart_required)
    return { info, restartRequired, staIp, tls } satisfies ConfiguredOverAp
  })

/**
 * The device at the address it reported over the AP, when it answers there
 * with its own MAC: found at once, without a subnet scan.
 */
const atReportedAddress = (settings: Stage1Settings, mac: Mac, staIp: Option.Option<string>, tls: DeviceTls | undefined) =>
  Option.match(staIp, {
    onNone: () => Effect.succeed(Option.none<Found>()),
    onSome: (ip) =>
      Effect.flatMap(ShellyRpcTag, (rpc) =>
        rpc.getShelly({ host: ip, port: settings.devicePort, tls }, { timeout: settings.discovery?.timeout ?? settings.timeouts.rpc })
      ).pipe(
        Effect.map((identity) =>
          sameMac(identity.mac, mac) ? Option.some<Found>({ ip: ip as Ipv4, port: settings.devicePort, identity }) : Option.none<Found>()
        ),
        Effect.orElseSucceed(() => Option.none<Found>())
      )
  })

/**
 * Polls the production subnets until the device's MAC answers `GET /shelly`;
 * the Pi is back on the production network, so each round also polls the
 * devices on reboot-loop watch. An announcement of the device (when mDNS is
 * listened to) ends the wait at once, confirmed the same way; the polls stay
 * for networks without mDNS and for an announcement the Pi did not hear.
 */
const waitForJoin = (
  settings: Stage1Settings,
  mac: Mac,
  watch: Pick<RebootWatch, "poll">,
  announcements: Option.Option<Stream.Stream<MdnsDevice>>,
  /** Once a device of this run was found by its announcement: the longest wait for one (ms). */
  announcing: Ref.Ref<Option.Option<number>>,
  /** Over HTTPS: the device's pinned certificate, for the scan's and the announcement's `GET /shelly`. */
  tls: DeviceTls | undefined
) =>
  Effect.gen(function* () {
    const heard = yield* Ref.get(announcing)
    const spacing = Option.isSome(heard)
      ? (settings.announcedPollInterval ?? Duration.times(Duration.decode(settings.pollInterval), 4))
      : settings.pollInterval
    // Where announcements are heard, the scan is a safety net for one that got
    // lost: it starts once this device is overdue (1.5 × the longest wait for an
    // announced device so far), so its CPU and connect bursts do not delay the
    // announcement while the device is still rebooting.
    const overdue = Option.match(heard, {
      onNone: () => Duration.zero,
      onSome: (longestMs) => Duration.millis(Math.round(1.5 * longestMs))
    })
    const polled = Effect.zipRight(
      watch.poll,
      findByMac(mac, settings.productionIps, { port: settings.devicePort, ...settings.discovery, tls })
    ).pipe(
      Effect.flatMap(Option.match({ onNone: () => Effect.fail("absent" as const), onSome: Effect.succeed })),
      Effect.retry(Schedule.spaced(spacing)),
      Effect.delay(overdue)
    )
    const waitStarted = yield* Clock.currentTimeMillis
    const found = Option.match(announcements, {
      onNone: () => polled,
      onSome: (stream) =>
        Effect.raceFirst(
          polled,
          announcedDevice(stream, mac, { timeout: settings.discovery?.timeout, tls }).pipe(
            Effect.tap(() =>
              Effect.flatMap(Clock.currentTimeMillis, (now) =>
                Ref.update(announcing, (before) =>
                  Option.some(
                    Math.max(
                      now - waitStarted,
                      Option.getOrElse(before, () => 0)
                    )
                  )
                )
              )
            )
          )
        )
    })
    return yield* found.pipe(
      Effect.timeoutFail({
        duration: settings.timeouts.join,
        onTimeout: () => new DeviceNeverJoined({ mac, ssid: settings.sta.ssid, waitedS: Duration.toSeconds(settings.timeouts.join) })
      }),
      Effect.catchIf(
        (e): e is "absent" => e === "absent",
        () => Effect.dieMessage("unreachable: retried until timeout")
      )
    )
  })

const watchIsOn = (settings: Stage1Settings): boolean => Duration.toMillis(Duration.decode(settings.stabilityWindow ?? 0)) > 0

/** The device's uptime right after the join: the baseline of its reboot-loop watch. */
const uptimeAtJoin = (settings: Stage1Settings, ip: string, port: number, tls: DeviceTls | undefined) =>
  Effect.gen(function* () {
    const sentAt = yield* Clock.currentTimeMillis
    const status = yield* Methods.sysGetStatus(
      { host: ip, port, password: settings.adminPassword, tls },
      { timeout: settings.timeouts.rpc }
    ).pipe(Effect.option)
    const receivedAt = yield* Clock.currentTimeMillis
    return Option.map(status, (s): UptimeAnswer => ({ uptimeS: s.uptime, sentAt, receivedAt }))
  })

const toErrorInfo = (error: unknown): Stage1DeviceResult["error"] =>
  isOperatorError(error)
    ? { code: error.code, message: error.message, hint: error.hint }
    : { code: "unexpected", message: String(error), hint: "" }

type InventoryWriteError = InventoryReadError | StateWriteError | LockHeld

/** Where a run's ip_state.json writes go: in the background, in order; a failure is reported by the queue. */
export interface AdoptionWrites {
  readonly submit: (
    device: { readonly ssid: string; readonly mac: Mac },
    write: Effect.Effect<InventoryDocument, InventoryWriteError>
  ) => Effect.Effect<void>
}

/** What the devices of one run share. */
export interface RunContext {
  readonly writes?: AdoptionWrites | undefined
  /** Once a device of the run was found by its mDNS announcement: the longest wait for one (ms). */
  readonly announcing?: Ref.Ref<Option.Option<number>> | undefined
  /**
   * Loop mode: where the AP scan started while this device's station joins
   * goes, so the next device's AP is known when this one is done (a real
   * rescan takes seconds, and the join is the device's time anyway).
   */
  readonly prefetch?: Prefetch | undefined
  /** The shortest station join of the run (ms): when to poll WiFi.GetStatus densely (stage1/liveWifi.ts stationPollSchedule). */
  readonly stationJoins?: Ref.Ref<Option.Option<number>> | undefined
}

/**
 * One device, from its AP to the production network. Per-device failures
 * become a result; the caller goes on. With a `watch` (reboot-loop check on)
 * the joined device is recorded as `unverified` and put on watch instead of
 * being waited for; the watch settles it later. With `writes` the adoption is
 * queued there instead of written before returning.
 */
export const provisionOne = (settings: Stage1Settings, ap: AccessPoint, watch?: RebootWatch, run: RunContext = {}) =>
  Effect.gen(function* () {
    const { writes } = run
    const announcing = run.announcing ?? (yield* Ref.make(Option.none<number>()))
    const wifi = yield* Wifi
    // Listening from before the reboot (the device announces itself as soon
    // as it is back); the socket is opened while the Pi joins the AP.
    const subscribing = yield* Effect.forkScoped(subscribeAnnouncements(settings.discovery?.mdns, settings.productionIps))
    const previous = yield* wifi.current()
    const prefetch = run.prefetch
    // The scan runs in the run's scope: it outlives this device, the next waitForAp awaits it.
    const scanAhead =
      prefetch === undefined
        ? undefined
        : Effect.flatMap(Effect.forkIn(wifi.scan(), prefetch.scope), (fiber) =>
            Effect.flatMap(Clock.currentTimeMillis, (at) => Ref.set(prefetch.scans, Option.some({ fiber, at })))
          )
    const { info, restartRequired, staIp, tls } = yield* Effect.gen(function* () {
      yield* wifi.connect({ ssid: ap.ssid })
      yield* settings.say("[stage1: connected to Shelly AP]")
      return yield* configureOverAp(settings, ap, {
        beforeStation: Effect.asVoid(Fiber.join(subscribing)),
        whileStationJoins: scanAhead,
        stationJoins: run.stationJoins
      })
    }).pipe(
      // The Pi goes back to its own network whatever happened on the AP.
      Effect.ensuring(wifi.restore(previous).pipe(Effect.ignore))
    )
    const mac = parseMac(info.mac)
    if (mac._tag === "Left") return yield* Effect.dieMessage(`device reported an invalid MAC ${info.mac}`)
    const announcements = yield* Fiber.join(subscribing)
    const reported = yield* atReportedAddress(settings, mac.right, staIp, tls)
    const found = Option.isSome(reported)
      ? reported.value
      : yield* waitForJoin(settings, mac.right, watch ?? noWatch, announcements, announcing, tls)
    yield* settings.say(`[stage1: device joined WiFi at ${found.ip}]`)
    if (restartRequired) {
      // Only now, where the device is reachable again: the settings that take effect at boot (BLE, MQTT).
      yield* settings.say("[rpc: rebooting]")
      const back = yield* rebootAndAwait(
        { host: found.ip, port: found.port, password: settings.adminPassword, tls },
        { rpc: { timeout: settings.timeouts.rpc }, pollInterval: settings.pollInterval, within: settings.timeouts.join }
      )
      if (!back)
        return yield* Effect.fail(
          new DeviceNeverJoined({ mac: mac.right, ssid: settings.sta.ssid, waitedS: Duration.toSeconds(settings.timeouts.join) })
        )
      yield* settings.say(`[stage1: device back at ${found.ip} after its reboot]`)
    }
    const joinedAt = yield* Clock.currentTimeMillis
    const watched = watch !== undefined && watchIsOn(settings)
    const baseline = watched ? yield* uptimeAtJoin(settings, found.ip, found.port, tls) : Option.none<UptimeAnswer>()
    const status = watched ? "unverified" : "ok"
    if (settings.adopt) {
      const at = new Date(joinedAt).toISOString()
      const inventory = yield* Inventory
      const write = inventory.update(settings.ipStateFile, (doc) =>
        adoptDevice(doc, mac.right, { info, ip: found.ip, port: found.port, at, status })
      )
      if (writes === undefined) yield* write
      else yield* writes.submit({ ssid: ap.ssid, mac: mac.right }, write)
    }
    if (watched) yield* watch.add({ ssid: ap.ssid, mac: mac.right, ip: found.ip, port: found.port, tls }, joinedAt, baseline)
    return { ssid: ap.ssid, mac: mac.right, model: info.app, ip: found.ip, status } satisfies Stage1DeviceResult
  }).pipe(
    Effect.catchAll((error: OperatorError) =>
      settings
        .say(failureLine(ap.ssid, error))
        .pipe(Effect.as({ ssid: ap.ssid, status: "failed", error: toErrorInfo(error) } satisfies Stage1DeviceResult))
    ),
    Effect.scoped
  )

/** The runbook-style error line: what happened, then the fix. */
const failureLine = (ssid: string, error: { readonly message: string; readonly hint: string }) =>
  `[stage1: failed ${ssid}: ${error.message}${error.hint ? ` — ${error.hint}` : ""}]`

/**
 * How the reboot-loop watch's verdicts reach the operator: the device's line,
 * its result (the summary) and its ip_state.json entry.
 */
const watchReport = (
  settings: Stage1Settings,
  results: Ref.Ref<ReadonlyArray<Stage1DeviceResult>>,
  inventory: InventoryService,
  writes: SerialWrites,
  /** Its adoption write failed: the device stays failed whatever the watch finds. */
  writeFailed: (mac: Mac) => boolean
) => {
  const setResult = (mac: Mac, status: Stage1DeviceResult["status"], error?: Stage1DeviceResult["error"]) =>
    Ref.update(results, (all) => all.map((r) => (r.mac === mac && !writeFailed(mac) ? { ...r, status, error } : r)))
  const setEntry = (device: WatchedDevice, status: "ok" | "failed" | "unverified", error?: Stage1DeviceResult["error"]) =>
    !settings.adopt
      ? Effect.void
      : Effect.flatMap(Clock.currentTimeMillis, (now) =>
          writes.submit(
            inventory
              .update(settings.ipStateFile, (doc) => markStage1(doc, device.mac, { status, at: new Date(now).toISOString(), error }))
              .pipe(
                Effect.asVoid,
                Effect.catchAll((e) =>
                  settings.say(`[stage1: could not record ${device.mac} as ${status} in ${settings.ipStateFile}: ${e.message} — ${e.hint}]`)
                )
              )
          )
        )
  const report: WatchReport = {
    say: settings.say,
    rebooted: (device, verdict) => {
      const error = new RebootLoopDetected({ mac: device.mac, uptimeS: verdict.uptimeBeforeS })
      const info = toErrorInfo(error)
      return Effect.all(
        [settings.say(failureLine(device.ssid, error)), setResult(device.mac, "failed", info), setEntry(device, "failed", info)],
        { discard: true }
      )
    },
    stable: (device) => {
      const windowS = Duration.toSeconds(Duration.decode(settings.stabilityWindow ?? 0))
      return Effect.all(
        [
          settings.say(`[stage1: device at ${device.ip} stayed up ${windowS} s — no reboot loop]`),
          setResult(device.mac, "ok"),
          setEntry(device, "ok")
        ],
        { discard: true }
      )
    },
    unverified: (devices, why) =>
      Effect.gen(function* () {
        const error =
          why === "skipped"
            ? {
                code: "reboot_watch_skipped",
                message: "reboot-loop watch cut short by Ctrl+C",
                hint: "check that the device stays online (its uptime keeps growing) before Stage 2; one that restarts about every 90 s needs the 10 s reset (short press)"
              }
            : {
                code: "reboot_watch_no_answer",
                message: "did not answer at the end of its reboot-loop watch",
                hint: "check that the device is powered and online; one that restarts about every 90 s needs the 10 s reset (short press), then Stage 1 again"
              }
        if (why === "skipped")
          yield* settings.say(`[stage1: reboot-loop watch cut short by Ctrl+C — ${devices.length} device(s) unverified]`)
        for (const device of devices) {
          if (why === "silent") yield* settings.say(`[stage1: device at ${device.ip} ${error.message} — unverified]`)
          yield* setResult(device.mac, "unverified", error)
          yield* setEntry(device, "unverified", error)
        }
      })
  }
  return report
}

/** What an operator needs to know about a device whose work a second Ctrl+C cut off, by the last step it reached. */
const abortedResult = (ssid: string, lastLine: string): Stage1DeviceResult => {
  // From the WiFi call on, the device is configured (applied live) and may be on the production network already.
  const rebooted = lastLine.startsWith("[rpc: apply WiFi") || lastLine === "[rpc: rebooting]" || lastLine.startsWith("[stage1: device")
  return {
    ssid,
    status: "failed",
    error: {
      code: "interrupted",
      message: `aborted by Ctrl+C after ${lastLine || "[stage1: waiting for Shelly AP]"}`,
      hint: rebooted
        ? "the device was configured (and may have joined the production WiFi) but not recorded in ip_state.json: give it a 10 s reset (short press) and run Stage 1 again"
        : "the device may hold part of its configuration but has not left its AP; run Stage 1 again (its AP is still up, or comes back after a 10 s reset)"
    }
  }
}

/**
 * The whole run: one device (`loop: false`) or devices until interrupted.
 * `results` collects as devices finish, so an interrupted loop still reports
 * every device it completed. Interrupting the run (Ctrl+C) stops the wait for
 * the next AP at once, but lets a device in progress finish; `abort` (a second
 * Ctrl+C) cuts that device off too, with the Pi's WiFi restored and the device
 * reported as interrupted. Devices still on reboot-loop watch when the run
 * ends are watched for what is left of their window; `abort` (or, on the
 * normal path, interrupting) skips that wait and leaves them unverified.
 */
export const runStage1 = (
  settings: Stage1Settings,
  results: Ref.Ref<ReadonlyArray<Stage1DeviceResult>>,
  /** Completed: stop waiting for APs; a device in progress finishes first. */
  stop?: Deferred.Deferred<void>,
  /** Completed: also cut off the device in progress, and skip the end-of-run reboot-loop watch. */
  abort?: Deferred.Deferred<void>
) =>
  Effect.gen(function* () {
    const handled = new Set<string>()
    // A device whose adoption could not be written is failed, whether its result was recorded before the write failed or after.
    const writeFailures = new Map<string, NonNullable<Stage1DeviceResult["error"]>>()
    const withWriteFailure = (result: Stage1DeviceResult): Stage1DeviceResult => {
      const error = result.mac === undefined ? undefined : writeFailures.get(result.mac)
      return error === undefined ? result : { ...result, status: "failed", error }
    }
    const record = (result: Stage1DeviceResult) => Ref.update(results, (r) => [...r, withWriteFailure(result)])
    if (settings.dryRun) {
      // Dry run: look only (a scan changes nothing), no WiFi switching, no RPC writes.
      const wifi = yield* Wifi
      const aps = (yield* wifi.scan()).filter((ap) => settings.isFactoryAp(ap.ssid))
      for (const ap of aps) {
        yield* settings.say(`[stage1: dry-run: would provision ${ap.ssid}]`)
        yield* record({ ssid: ap.ssid, status: "dry_run" })
      }
      return
    }
    const stopping = stop ?? (yield* Deferred.make<void>())
    const writes = yield* makeSerialWrites
    const announcing = yield* Ref.make(Option.none<number>())
    const prefetchScans = yield* Ref.make(Option.none<PrefetchedScan>())
    const stationJoins = yield* Ref.make(Option.none<number>())
    // Closed at the end of the run: a look-ahead scan still running then is interrupted.
    const prefetchScope = yield* Scope.make()
    const adoptionWrites: AdoptionWrites = {
      submit: (device, write) =>
        writes.submit(
          write.pipe(
            Effect.asVoid,
            Effect.catchAll((error) =>
              Effect.sync(() => writeFailures.set(device.mac, toErrorInfo(error)!)).pipe(
                Effect.zipRight(Ref.update(results, (all) => all.map(withWriteFailure))),
                Effect.zipRight(settings.say(failureLine(device.ssid, error)))
              )
            )
          )
        )
    }
    const watch = watchIsOn(settings)
      ? yield* makeRebootWatch({
          window: settings.stabilityWindow ?? 0,
          pollInterval: settings.pollInterval,
          pollTimeout: Duration.min(Duration.decode(settings.timeouts.rpc), Duration.seconds(2)),
          concurrency: 8,
          password: settings.adminPassword,
          report: watchReport(settings, results, yield* Inventory, writes, (mac) => writeFailures.has(mac))
        })
      : undefined
    const devices = Effect.gen(function* () {
      do {
        yield* settings.say("[stage1: waiting for Shelly AP]")
        const waited = waitForAp(settings, handled, watch ?? noWatch, prefetchScans).pipe(Effect.map(Option.some))
        const ap = yield* Effect.raceFirst(waited, Deferred.await(stopping).pipe(Effect.as(Option.none<AccessPoint>())))
        if (Option.isNone(ap)) return
        const { ssid } = ap.value
        handled.add(ssid)
        const lastLine = yield* Ref.make("")
        const tracked: Stage1Settings = { ...settings, say: (line) => Effect.zipRight(Ref.set(lastLine, line), settings.say(line)) }
        // A failed device stays skipped in this run (a wrong password puts its AP back
        // up at once); after fixing it the operator runs Stage 1 again.
        yield* finishBeforeInterrupt(
          provisionOne(tracked, ap.value, watch, {
            writes: adoptionWrites,
            announcing,
            prefetch: settings.loop ? { scans: prefetchScans, scope: prefetchScope } : undefined,
            stationJoins
          }).pipe(
            Effect.tap(record),
            Effect.onInterrupt(() =>
              Effect.flatMap(Ref.get(lastLine), (line) => {
                const aborted = abortedResult(ssid, line)
                return Effect.zipRight(
                  record(aborted),
                  settings.say(`[stage1: aborted ${ssid}: ${aborted.error!.message} — ${aborted.error!.hint}]`)
                )
              })
            )
          ),
          {
            abort,
            onInterrupt: Deferred.succeed(stopping, undefined).pipe(
              Effect.zipRight(settings.say(`[stage1: stopping — finishing ${ssid} first${abort ? " (Ctrl+C again aborts it)" : ""}]`))
            )
          }
        )
      } while (settings.loop && !(yield* Deferred.isDone(stopping)))
    })
    // Ctrl+C (or a run-level error) while devices are still on watch: their
    // remaining window is waited for as part of stopping; only `abort` cuts it short.
    const watched =
      watch === undefined
        ? devices
        : devices.pipe(
            Effect.onExit((exit) => (Exit.isSuccess(exit) ? Effect.void : watch.finish(abort))),
            Effect.zipRight(watch.finish(abort))
          )
    // Every way out waits for the queued ip_state.json writes: the summary, exit code and lock release come after.
    yield* watched.pipe(Effect.ensuring(writes.flush), Effect.ensuring(Scope.close(prefetchScope, Exit.void)))
  })

export const failedResult = toErrorInfo
