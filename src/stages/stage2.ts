/**
 * Stage 2 (issue 4 §4): every adopted device not yet placed gets its planned
 * (or next free) static address and its name. The firmware applies the
 * address live (no reboot), so the name goes first and the address last. A
 * placement counts only after the same MAC answers at the new address;
 * otherwise the device is looked for by MAC, put back on DHCP and marked
 * failed — and if it is nowhere to be found its planned address stays taken.
 * Devices go one at a time, so two devices can never be given the same free
 * address. The check at the new address is polled, and (with mDNS) also
 * answered at once by the device's announcement, listened for from before the move.
 */
import { Clock, Duration, Effect, Option, Schedule } from "effect"
import type { Stream } from "effect"
import type { Redacted } from "effect"
import type { Stage2Network } from "../config/stage2.js"
import { describeError, isOperatorError } from "../domain/errors/base.js"
import type { Ipv4 } from "../domain/ipv4.js"
import { ipv4ToNumber, numberToIpv4 } from "../domain/ipv4.js"
import type { Mac } from "../domain/mac.js"
import type { InventoryDevice, InventoryDocument } from "../inventory/Inventory.js"
import { setDeviceFields } from "../inventory/edit.js"
import { announcedDevice, findByMac, subscribeAnnouncements } from "../shelly/discovery.js"
import { answerUnlessLinkLost, rebootAndAwait } from "./stage1/liveWifi.js"
import { sameMac } from "../shelly/identity.js"
import type { BrowseOptions, MdnsDevice } from "../shelly/mdns.js"
import * as Methods from "../shelly/methods.js"
import { ShellyRpc } from "../shelly/ShellyRpc.js"
import { finishBeforeInterrupt } from "./finishCurrent.js"
import type { DeviceTarget, DeviceTls } from "../shelly/ShellyRpc.js"
import { certificateOf, type DevicePins } from "./devicePins.js"

export interface PlanEntry {
  readonly ip?: Ipv4 | undefined
  readonly name?: string | undefined
  readonly room?: string | undefined
}

export interface Stage2Settings {
  readonly network: Stage2Network
  readonly devicePort: number
  readonly password?: Redacted.Redacted<string> | undefined
  /** HTTPS with the per-MAC certificate pins of `stage1.https` (src/stages/devicePins.ts); absent: plain HTTP. */
  readonly https?: DevicePins | undefined
  readonly dryRun: boolean
  readonly namingPattern: string
  readonly plan: ReadonlyMap<Mac, PlanEntry>
  readonly timeouts: { readonly rpc: Duration.DurationInput; readonly verify: Duration.DurationInput }
  readonly pollInterval: Duration.DurationInput
  /** TCP probe used to see whether a free address is really free. */
  readonly probeTimeout: Duration.DurationInput
  /**
   * mDNS of the production network (group, port, interface), listened to for
   * the device's announcement at its new address when the `Mdns` service is
   * provided; `false` or absent: polling only.
   */
  readonly mdns?: BrowseOptions | false | undefined
}

export interface Stage2DeviceResult {
  readonly mac: Mac
  readonly app: string
  readonly fromIp: string
  readonly ip?: string | undefined
  readonly name?: string | undefined
  readonly status: "ok" | "failed" | "dry_run"
  readonly error?: string | undefined
  readonly model?: string | undefined
  readonly fw?: string | undefined
  readonly hostname?: string | undefined
}

const str = (device: InventoryDevice, field: string): string | undefined => {
  const v = device.record[field]
  return typeof v === "string" && v !== "" ? v : undefined
}

/** Adopted (Stage 1 ok, or any device with an address) and not placed by Stage 2 yet. */
export const needsPlacement = (device: InventoryDevice): boolean => {
  const stage2 = device.record["stage2"]
  const placed =
    typeof stage2 === "object" && stage2 !== null && !Array.isArray(stage2) && (stage2 as Record<string, unknown>)["status"] === "ok"
  // Stage 1 keeps a device it found in a reboot loop on record (stage1.status failed); it is not placed.
  const stage1 = device.record["stage1"]
  const stage1Failed =
    typeof stage1 === "object" && stage1 !== null && !Array.isArray(stage1) && (stage1 as Record<string, unknown>)["status"] === "failed"
  return !placed && !stage1Failed && str(device, "ip") !== undefined
}

/** `{app}-{mac6}` → `S2PMG3-D4E5F6`. */
export const expandName = (pattern: string, values: Readonly<Record<string, string>>): string =>
  pattern.replace(/\{([^}]*)\}/g, (_, key: string) => values[key] ?? "")

const deviceTarget = (settings: Stage2Settings, host: string, tls?: DeviceTls): DeviceTarget => ({
  host,
  port: settings.devicePort,
  password: settings.password,
  tls
})

/** Next pool address not in the inventory, not taken in this run and not answering. */
const nextFree = (settings: Stage2Settings, taken: Set<string>) =>
  Effect.gen(function* () {
    const rpc = yield* ShellyRpc
    const { start, end } = settings.network.pool
    for (let n = ipv4ToNumber(start); n <= ipv4ToNumber(end); n++) {
      const ip = numberToIpv4(n)
      if (taken.has(ip)) continue
      if (yield* rpc.probe(deviceTarget(settings, ip), settings.probeTimeout)) continue
      return Option.some(ip)
    }
    return Option.none<Ipv4>()
  })

/**
 * Polls `GET /shelly` at `ip` until it reports `mac`; an announcement of `mac`
 * at `ip` is checked the same way at once instead of at the next poll.
 */
const verifyAt = (
  settings: Stage2Settings,
  ip: string,
  mac: Mac,
  announcements: Option.Option<Stream.Stream<MdnsDevice>>,
  tls: DeviceTls | undefined
) => {
  const timeout = Duration.millis(500)
  const polled = Effect.flatMap(ShellyRpc, (rpc) => rpc.getShelly(deviceTarget(settings, ip, tls), { timeout })).pipe(
    Effect.flatMap((identity) => (sameMac(identity.mac, mac) ? Effect.succeed(identity) : Effect.fail("other device" as const))),
    Effect.retry(Schedule.spaced(settings.pollInterval))
  )
  const verified = Option.match(announcements, {
    onNone: () => polled,
    onSome: (stream) =>
      Effect.raceFirst(
        polled,
        Effect.map(announcedDevice(stream, mac, { ip, timeout, tls }), (found) => found.identity)
      )
  })
  return verified.pipe(Effect.timeout(settings.timeouts.verify), Effect.option)
}

const describe = (error: unknown): string =>
  isOperatorError(error)
    ? // A refused certificate says its fix on the line (hint): nothing else tells the operator what to do.
      error._tag === "CertificateChanged" || error._tag === "CertPinFileInvalid"
      ? describeError(error)
      : error.message
    : String(error)

/** Subnet addresses searched for a device lost after its static-address call: the ones named, then the pool. */
const searchAddresses = (settings: Stage2Settings, first: ReadonlyArray<string>): Array<Ipv4> => {
  const out = new Set<Ipv4>(first as ReadonlyArray<Ipv4>)
  const { start, end } = settings.network.pool
  for (let n = ipv4ToNumber(start); n <= ipv4ToNumber(end) && out.size < 4096; n++) out.add(numberToIpv4(n))
  return [...out]
}

/**
 * Finds the device by MAC (`GET /shelly` across the addresses) and switches
 * it back to DHCP there; the address it was found at, or none.
 */
const revertWhereFound = (
  settings: Stage2Settings,
  mac: Mac,
  first: ReadonlyArray<string>,
  options: { readonly timeout: Duration.DurationInput },
  tls: DeviceTls | undefined
) =>
  findByMac(mac, searchAddresses(settings, first), { port: settings.devicePort, timeout: Duration.millis(500), mdns: false, tls }).pipe(
    Effect.flatMap(
      Option.match({
        onNone: () => Effect.succeed(Option.none<string>()),
        onSome: (found) =>
          answerUnlessLinkLost(Methods.wifiSetConfig(deviceTarget(settings, found.ip, tls), { sta: { ipv4mode: "dhcp" } }, options)).pipe(
            Effect.as(Option.some<string>(found.ip)),
            Effect.orElseSucceed(() => Option.none<string>())
          )
      })
    )
  )

/** Places one device; `taken` holds every address in use (updated on success). */
export const placeDevice = (device: InventoryDevice, settings: Stage2Settings, taken: Set<string>) =>
  Effect.gen(function* () {
    const fromIp = str(device, "ip")!
    const app = str(device, "app") ?? str(device, "model") ?? "device"
    const plan = settings.plan.get(device.mac)
    const base: Pick<Stage2DeviceResult, "mac" | "app" | "fromIp"> = { mac: device.mac, app, fromIp }
    const options = { timeout: settings.timeouts.rpc }
    // Over HTTPS: held to its pin from the first call, or read with any certificate and pinned once it proved its MAC.
    const certificate = certificateOf(settings.https, device.mac)
    const firstContact = deviceTarget(settings, fromIp, certificate?.tls)
    // Three independent first steps at once: the free address, the device's identity at its
    // current address, and the mDNS subscription (listening from before the reboot: the
    // device announces itself as soon as it is back). A dry run only looks for the address.
    const [ip, identity, announcements] = yield* Effect.all(
      [
        plan?.ip !== undefined ? Effect.succeed(Option.some(plan.ip)) : nextFree(settings, taken),
        settings.dryRun
          ? Effect.succeed(Option.none())
          : Effect.map(Effect.either(Methods.getDeviceInfo(firstContact, options)), Option.some),
        settings.dryRun ? Effect.succeed(Option.none()) : subscribeAnnouncements(settings.mdns, [settings.network.pool.start])
      ],
      { concurrency: "unbounded" }
    )
    if (Option.isNone(ip)) return { ...base, status: "failed", error: "address pool exhausted" } satisfies Stage2DeviceResult
    const name =
      plan?.name ??
      expandName(settings.namingPattern, {
        app,
        model: str(device, "model") ?? "",
        mac: device.mac,
        mac6: device.mac.slice(6),
        id: str(device, "id") ?? "",
        room: plan?.room ?? "",
        ip_last: ip.value.split(".")[3]!
      })
    // Taken in a dry run too: the next device is shown the address it would really get.
    taken.add(ip.value)
    if (settings.dryRun || Option.isNone(identity)) return { ...base, ip: ip.value, name, status: "dry_run" } satisfies Stage2DeviceResult
    const net = settings.network
    // Firmware applies WiFi.SetConfig live: the name first (at the current
    // address), then the static address, which moves the device at once — the
    // link of that call, and maybe its answer, goes with it (expected).
    const applied = yield* Effect.gen(function* () {
      const info = yield* identity.value
      if (!sameMac(info.mac, device.mac)) return yield* Effect.fail(`another device (${info.mac}) answers at ${fromIp}`)
      const tls = certificate === undefined ? undefined : yield* certificate.confirm(`${fromIp}:${settings.devicePort}`)
      const current = deviceTarget(settings, fromIp, tls)
      const named = yield* Methods.setDeviceName(current, name, options)
      const moved = yield* answerUnlessLinkLost(
        Methods.wifiSetConfig(
          current,
          { sta: { ipv4mode: "static", ip: ip.value, netmask: net.netmask, gw: net.gateway, nameserver: net.dns ?? net.gateway } },
          options
        )
      )
      return { info, tls, restartRequired: named.restart_required || Option.exists(moved, (m) => m.restart_required) }
    }).pipe(Effect.either)
    if (applied._tag === "Left") {
      taken.delete(ip.value)
      return { ...base, status: "failed", error: describe(applied.left) } satisfies Stage2DeviceResult
    }
    // Looked for at the new address at once (same MAC).
    const { tls } = applied.right
    const verified = yield* verifyAt(settings, ip.value, device.mac, announcements, tls)
    if (Option.isNone(verified)) {
      // Not there: find it by MAC and put it back on DHCP. Until it is found
      // elsewhere its planned address stays taken — it may hold it.
      const reverted = yield* revertWhereFound(settings, device.mac, [ip.value, fromIp], options, tls)
      const waited = Duration.format(Duration.decode(settings.timeouts.verify))
      if (Option.isSome(reverted)) {
        taken.delete(ip.value)
        return {
          ...base,
          status: "failed",
          error: `did not answer at ${ip.value} within ${waited}; found at ${reverted.value} by MAC and reverted to DHCP`
        } satisfies Stage2DeviceResult
      }
      return {
        ...base,
        status: "failed",
        error: `did not answer at ${ip.value} within ${waited} and was not found by MAC on the subnet; ${ip.value} stays reserved (the device may hold it) — check the netmask/gateway, or reach the device on its AP after a 10 s reset`
      } satisfies Stage2DeviceResult
    }
    if (applied.right.restartRequired) {
      const back = yield* rebootAndAwait(deviceTarget(settings, ip.value, tls), {
        rpc: options,
        pollInterval: settings.pollInterval,
        within: settings.timeouts.verify
      }).pipe(Effect.orElseSucceed(() => false))
      if (!back)
        return {
          ...base,
          ip: ip.value,
          status: "failed",
          error: `placed at ${ip.value}, but did not come back after the reboot its settings need`
        } satisfies Stage2DeviceResult
    }
    taken.delete(fromIp)
    const info = verified.value
    return { ...base, ip: ip.value, name, status: "ok", model: info.model, fw: info.ver, hostname: info.id } satisfies Stage2DeviceResult
  }).pipe(Effect.scoped)

/**
 * Places the devices one at a time. Interrupted (Ctrl+C), the device in
 * progress is finished first (a device left at a new static address without
 * a record would be lost); `onResult` has seen every finished device, so the
 * caller can record them.
 */
export const runStage2 = (
  devices: ReadonlyArray<InventoryDevice>,
  allDevices: ReadonlyArray<InventoryDevice>,
  settings: Stage2Settings,
  onResult: (result: Stage2DeviceResult) => Effect.Effect<void> = () => Effect.void
) =>
  Effect.gen(function* () {
    const taken = new Set(allDevices.map((d) => str(d, "ip")).filter((ip): ip is string => ip !== undefined))
    const results: Array<Stage2DeviceResult> = []
    for (const device of devices) {
      const result = yield* finishBeforeInterrupt(placeDevice(device, settings, taken).pipe(Effect.tap(onResult)))
      results.push(result)
    }
    return results
  })

/** Writes the outcomes into the document (failed devices keep their address). */
export const applyStage2Results = (doc: InventoryDocument, results: ReadonlyArray<Stage2DeviceResult>, at: string): InventoryDocument =>
  results.reduce(
    (current, r) =>
      r.status === "ok"
        ? setDeviceFields(current, r.mac, {
            ip: r.ip!,
            hostname: r.hostname!,
            model: r.model!,
            fw: r.fw!,
            friendly_name: r.name!,
            stage2: { status: "ok", at, from_ip: r.fromIp }
          })
        : r.status === "failed"
          ? setDeviceFields(current, r.mac, { stage2: { status: "failed", at, error: r.error ?? "" } })
          : current,
    doc
  )

export const stage2Line = (r: Stage2DeviceResult): string =>
  r.status === "ok"
    ? `● ${r.app} @ ${r.ip} - IP=static (was ${r.fromIp}) | Name=ok (${r.name})`
    : r.status === "dry_run"
      ? `● ${r.app} @ ${r.fromIp} - IP=would_set ${r.ip} | Name=would_set (${r.name})`
      : `● ${r.app} @ ${r.fromIp} - IP=failed | ERR=${r.error}`

export const stage2Summary = (results: ReadonlyArray<Stage2DeviceResult>): string => {
  const failed = results.filter((r) => r.status === "failed").length
  return `Stage 2 summary: total=${results.length} ok=${results.length - failed} failed=${failed}`
}

export const stage2Timestamp = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())
