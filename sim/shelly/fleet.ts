/**
 * The running fleet: one listener per device address (all on one port), the
 * AP link, device lifecycles (reboot, update, join, reboot loop) and the
 * control functions of `FleetHandle`. API summary: `index.ts`.
 */
import { Effect, Either, Scope } from "effect"
import type { IncomingMessage } from "node:http"
import { createServer as createHttpServer } from "node:http"
import type { Server as NetServer, Socket } from "node:net"
import { createServer as createNetServer } from "node:net"
import { createSecureContext, TLSSocket } from "node:tls"
import type { SecureContext } from "node:tls"
import { deviceCertA, deviceCertB } from "./tlsCerts.js"
import type { SimTlsIdentity } from "./tlsCerts.js"
import type { Duplex } from "node:stream"
import type { Ipv4 } from "../../src/domain/ipv4.js"
import { parseMac } from "../../src/domain/mac.js"
import { ha1For } from "../../src/shelly/digest.js"
import { firstFree, loopbackAddress } from "./addresses.js"
import { authState } from "./auth.js"
import { buildSeeds } from "./build.js"
import { startControlServer } from "./control.js"
import type { Json, JsonObject, PendingUpdate, WifiNetwork } from "./device.js"
import { isJsonObject, SimDevice, withoutSecrets } from "./device.js"
import { SimStartError } from "./errors.js"
import { answeredSockets, serveRequest } from "./http.js"
import { writeInventoryFile } from "./inventory.js"
import type { FleetHandle } from "./handle.js"
import type { ApConnection, ApInfo, DeviceMode, DeviceState, DeviceView } from "./view.js"
import type { ModelSpec } from "./models.js"
import { defaultModelMix, findModel } from "./models.js"
import type { Relink, RpcEnv, ScanResult } from "./rpc.js"
import { usableStaticIp } from "./rpc.js"
import type { Fault, Rule, RuleItem } from "./rules.js"
import { formatItem, isFault, parseItem, parseRule } from "./rules.js"
import type { Scenario } from "./scenario.js"
import type { MdnsResponder, MdnsResponderOptions } from "./mdns.js"
import { makeMdnsResponder } from "./mdns.js"
import { makeWsRpc } from "./ws.js"
import { otaLanding, updateFromUrl } from "./ota.js"

export interface Delays {
  /** Offline time of a reboot (listener closed). */
  readonly bootMs: number
  /** Download + flash time of Shelly.Update before its reboot. */
  readonly updateMs: number
  /** How long a device with wrong WiFi credentials tries before it returns to AP mode. */
  readonly joinTimeoutMs: number
  /**
   * How long a live WiFi.SetConfig takes to bring the station up (real
   * devices: "within seconds", no reboot).
   */
  readonly staJoinMs: number
  /** Period of the `reboot_loop` fault. */
  readonly rebootLoopMs: number
  /** How long a digest nonce stays valid (firmware 2.x: 1 h); a reboot forgets every nonce. */
  readonly nonceLifetimeMs: number
}

export interface FleetOptions {
  readonly devices?: number
  readonly baseIp?: string
  readonly port?: number
  readonly portAttempts?: number
  readonly seed?: number
  readonly models?: ReadonlyArray<string>
  readonly faults?: ReadonlyArray<string>
  readonly scenario?: Scenario
  readonly timeScale?: number
  readonly delays?: Partial<Delays>
  readonly adminPassword?: string
  readonly network?: WifiNetwork
  readonly apIp?: string
  readonly dhcpPool?: { readonly start: string; readonly end: string }
  readonly control?: { readonly host?: string; readonly port?: number } | false
  /** mDNS responder for the devices on the production network (sim/shelly/mdns.ts); default none. */
  readonly mdns?: MdnsResponderOptions | false
}

// The fleet's public types live in view.ts and handle.ts (control.ts and
// mdns.ts need them without importing this module: no import cycle).
export type { ApConnection, ApInfo, DeviceMode, DeviceState, DeviceView } from "./view.js"
export type { FleetHandle } from "./handle.js"

/** The TLS identity a device serves its API with (traits `https`, `https_new_cert`); none: plain HTTP. */
const tlsIdentity = (device: SimDevice): SimTlsIdentity | undefined =>
  device.has("https_new_cert") ? deviceCertB : device.has("https") ? deviceCertA : undefined

const tlsContexts = new Map<SimTlsIdentity, SecureContext>()
const tlsContext = (identity: SimTlsIdentity): SecureContext => {
  const known = tlsContexts.get(identity)
  if (known !== undefined) return known
  const made = createSecureContext({ cert: identity.cert, key: identity.key })
  tlsContexts.set(identity, made)
  return made
}

const defaultDelays: Delays = {
  bootMs: 5000,
  updateMs: 10_000,
  joinTimeoutMs: 20_000,
  staJoinMs: 2000,
  rebootLoopMs: 90_000,
  nonceLifetimeMs: 3_600_000
}
/** Spacing of a device's two mDNS announcements (RFC 6762 §8.3: one second), before the time scale. */
const announceRepeatMs = 1000
const productionBssid = "02:00:5e:10:00:01"
const listenBacklog = 32

type BindFailure = { readonly code: string; readonly message: string }

const listenOn = (server: NetServer, host: string, port: number): Effect.Effect<number, BindFailure> =>
  Effect.async<number, BindFailure>((resume) => {
    const onError = (e: NodeJS.ErrnoException) => {
      server.off("listening", onListening)
      resume(Effect.fail({ code: e.code ?? "EUNKNOWN", message: e.message }))
    }
    const onListening = () => {
      server.off("error", onError)
      const address = server.address()
      resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : port))
    }
    server.once("error", onError)
    server.once("listening", onListening)
    server.listen({ host, port, backlog: listenBacklog, exclusive: true })
  })

const closeServer = (server: NetServer): Promise<void> =>
  new Promise((resolve) => {
    if (!server.listening) return resolve()
    server.close(() => resolve())
  })

class Fleet implements RpcEnv {
  readonly devices: Array<SimDevice>
  private readonly byMac = new Map<string, SimDevice>()
  private readonly listeners = new Map<string, { server: NetServer; device: SimDevice }>()
  private apServer: NetServer | undefined
  private apRoute: SimDevice | undefined
  private readonly socketOwner = new WeakMap<Socket, { device: SimDevice; via: "sta" | "ap" }>()
  private readonly httpServer = createHttpServer({ requestTimeout: 0, keepAliveTimeout: 0 }, (req, res) => {
    const owner = this.socketOwner.get(req.socket)
    if (owner === undefined) return void res.destroy()
    serveRequest(this, owner.device, owner.via, req, res)
  })
  /** `ws://<device>/rpc` (sim/shelly/ws.ts) on the same sockets as HTTP. */
  private readonly wsRpc = makeWsRpc(this)
  private stopped = false
  port = 0
  controlUrl: string | undefined
  private controlStop: (() => Promise<void>) | undefined
  mdnsResponder: MdnsResponder | undefined
  private currentNetwork: WifiNetwork

  constructor(
    devices: Array<SimDevice>,
    private readonly delays: Delays,
    private readonly timeScale: number,
    readonly apIp: Ipv4,
    private readonly pool: { readonly start: Ipv4; readonly end: Ipv4 },
    private readonly adminPassword: string,
    network: WifiNetwork
  ) {
    this.devices = devices
    this.currentNetwork = network
    this.httpServer.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const owner = this.socketOwner.get(req.socket)
      if (owner === undefined || !owner.device.up) return void socket.destroy()
      this.wsRpc.upgrade(owner.device, owner.via, req, socket, head)
    })
    for (const d of devices) {
      this.byMac.set(d.mac, d)
      d.timeScale = timeScale
      d.nonceLifetimeMs = delays.nonceLifetimeMs
    }
  }

  // ---- RpcEnv ----

  network = (): WifiNetwork => this.currentNetwork

  scan = (self: SimDevice): ReadonlyArray<ScanResult> =>
    this.visibleAps()
      .filter((ap) => ap.mac !== self.mac)
      .map((ap, k) => ({
        ssid: ap.ssid,
        bssid: ap.bssid,
        auth: ap.security === "open" ? 0 : 3,
        channel: [1, 6, 11][k % 3]!,
        rssi: ap.signal
      }))

  reboot = (device: SimDevice, delayMs: number): void => {
    this.after(device, delayMs, () => {
      device.reboots += 1
      this.goOffline(device)
      this.after(device, this.delays.bootMs, () => void this.boot(device))
    })
  }

  /**
   * WiFi.SetConfig applied live, as real firmware does (no reboot): the
   * station (re)joins within `staJoinMs`, a new static address or a change
   * back to DHCP moves the device's address at once, and `ap.enable: false`
   * takes the AP down at once. The station part starts now; the link change
   * the caller sees (AP gone, old address gone) is returned, for the HTTP
   * layer to run around the answer.
   */
  applyWifi = (device: SimDevice, before: JsonObject, via: "sta" | "ap"): Relink => {
    const sta = (config: JsonObject, key: "sta" | "sta1") => JSON.stringify(config[key] ?? null)
    const staChanged = sta(before, "sta") !== sta(device.config.wifi, "sta") || sta(before, "sta1") !== sta(device.config.wifi, "sta1")
    let move: (() => void) | undefined
    if (staChanged) {
      const fits = this.fittingSta(device)
      if (device.staIp !== null && fits !== undefined) {
        // Joined and still on the same network: only the address can change, at once.
        const next = this.addressFor(device, fits)
        if (next !== device.staIp) move = () => void this.moveTo(device, next)
      } else {
        // Connecting from now on (the AP, if disabled, does not come back as fallback meanwhile).
        device.staConnecting = this.enabledStas(device).length > 0
        move = () => void this.liveJoin(device)
      }
    }
    const apGoes = this.apRoute === device && !device.apActive
    return {
      run: () => {
        move?.()
        if (!device.apActive && this.apRoute === device) void this.dropAp()
      },
      // The caller loses its link when it came over the AP that goes, or over the address that moves.
      cutsCaller: via === "ap" ? apGoes : move !== undefined
    }
  }

  update = (device: SimDevice, version: string): void => {
    device.updating = true
    this.after(device, this.delays.updateMs, () => this.flashAndReboot(device, version))
  }

  updateFromUrl = (device: SimDevice, url: string): void =>
    updateFromUrl(device, url, (version) => this.after(device, this.delays.updateMs, () => this.flashAndReboot(device, version)))

  /** The update's reboot; the OTA faults decide what comes back (ota.ts). */
  private flashAndReboot(device: SimDevice, version: string): void {
    const landing = otaLanding(device)
    if (landing === "no_return") {
      device.reboots += 1
      device.lastError = `rebooted to install ${version} and did not come back (ota_no_return)`
      this.goOffline(device)
      return
    }
    device.installOnBoot = landing === "new_version" ? version : null
    this.reboot(device, 0)
  }

  // ---- timers ----

  private after(device: SimDevice, nominalMs: number, run: () => void): void {
    if (this.stopped) return
    const timer = setTimeout(
      () => {
        device.timers?.delete(timer)
        if (!this.stopped) run()
      },
      Math.max(1, Math.round(nominalMs * this.timeScale))
    )
    if (device.timers === undefined) device.timers = new Set()
    device.timers.add(timer)
  }

  private clearTimers(device: SimDevice): void {
    if (device.timers === undefined) return
    for (const timer of device.timers) clearTimeout(timer)
    device.timers.clear()
  }

  // ---- connections ----

  private accept(socket: Socket, device: SimDevice | undefined, via: "sta" | "ap"): void {
    socket.on("error", () => {})
    if (device === undefined || !device.up || this.stopped) return void socket.destroy()
    if (device.sockets === undefined) device.sockets = new Set()
    const sockets = device.sockets
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
    // Owner recorded for dead sockets too, so dropAp can destroy them (else closing the AP listener waits forever).
    this.socketOwner.set(socket, { device, via })
    const dead = device.has("blackhole") || (via === "ap" && device.has("ap_http_dead"))
    if (dead) {
      // Accept and never answer: the client sees a timeout, not a refusal.
      // What it sends is read and dropped so that its hang-up is seen and the
      // socket freed; a paused socket would sit in CLOSE-WAIT for ever, and a
      // long-running simulator (demo, web UI, repeated benches) would run out
      // of file descriptors after a few thousand timed-out requests.
      socket.on("data", () => {})
      socket.once("end", () => socket.destroy())
      return
    }
    const tls = tlsIdentity(device)
    if (tls === undefined) return void this.httpServer.emit("connection", socket)
    // HTTPS on the device's own listener (a real device: port 443 beside 80; here one port per fleet).
    const secure = new TLSSocket(socket, { isServer: true, secureContext: tlsContext(tls), minVersion: "TLSv1.2" })
    secure.on("error", () => socket.destroy())
    // The TLS socket stands for the connection from here on (requests, answers, AP drop); destroying it closes the TCP one.
    sockets.delete(socket)
    sockets.add(secure)
    secure.on("close", () => sockets.delete(secure))
    this.socketOwner.set(secure, { device, via })
    // Handed to the HTTP server once the handshake is done, as node's https server does.
    secure.once("secure", () => this.httpServer.emit("connection", secure))
  }

  private newListener(device: SimDevice): NetServer {
    return createNetServer({ pauseOnConnect: false }, (socket) => this.accept(socket, device, "sta"))
  }

  /** Binds `ip` for `device`; records a failure on the device instead of failing. */
  private async bindAddress(device: SimDevice, ip: string): Promise<boolean> {
    if (this.stopped) return false
    const existing = this.listeners.get(ip)
    if (existing !== undefined) {
      if (existing.device === device) return true
      device.lastError = `address ${ip} is already used by device ${existing.device.mac}`
      return false
    }
    const server = this.newListener(device)
    this.listeners.set(ip, { server, device })
    const result = await Effect.runPromise(Effect.either(listenOn(server, ip, this.port)))
    if (Either.isLeft(result)) {
      this.listeners.delete(ip)
      device.lastError = `cannot listen on ${ip}:${this.port}: ${result.left.code}`
      return false
    }
    if (this.stopped || device.staIp !== ip || !device.up || device.has("offline")) {
      // The device went away while the bind was under way.
      this.listeners.delete(ip)
      await closeServer(server)
      return false
    }
    return true
  }

  private async unbindDevice(device: SimDevice): Promise<void> {
    const closing: Array<Promise<void>> = []
    for (const [ip, entry] of this.listeners) {
      if (entry.device !== device) continue
      this.listeners.delete(ip)
      closing.push(closeServer(entry.server))
    }
    if (this.apRoute === device) closing.push(this.dropAp())
    for (const socket of device.sockets ?? []) if (!answeredSockets.has(socket)) socket.destroy()
    await Promise.all(closing)
  }

  /** Closes the device's production listeners (not its AP) and cuts the requests that came in over them. */
  private async unbindAddresses(device: SimDevice): Promise<void> {
    const closing: Array<Promise<void>> = []
    for (const [ip, entry] of this.listeners) {
      if (entry.device !== device) continue
      this.listeners.delete(ip)
      closing.push(closeServer(entry.server))
    }
    for (const socket of device.sockets ?? []) {
      if (this.socketOwner.get(socket)?.via === "sta" && !answeredSockets.has(socket)) socket.destroy()
    }
    await Promise.all(closing)
  }

  isOnline(device: SimDevice): boolean {
    return device.staIp !== null && this.listeners.get(device.staIp)?.device === device
  }

  // ---- lifecycle ----

  private goOffline(device: SimDevice): void {
    device.up = false
    device.joining = false
    device.staConnecting = false
    device.joinAttempt += 1
    this.clearTimers(device)
    void this.unbindDevice(device)
  }

  private async boot(device: SimDevice): Promise<void> {
    device.up = true
    device.bootedAt = Date.now()
    device.nonces = undefined
    device.lastError = null
    if (device.installOnBoot !== null) {
      const installed = device.installOnBoot
      device.ver = installed
      const pending: PendingUpdate = {}
      if (device.pending.stable && device.pending.stable !== installed) pending.stable = device.pending.stable
      if (device.pending.beta && device.pending.beta !== installed) pending.beta = device.pending.beta
      device.pending = pending
      if (device.configTouched) {
        const sysDevice = device.config.sys.device
        if (isJsonObject(sysDevice)) sysDevice.fw_id = device.fwId
      }
    }
    device.installOnBoot = null
    device.updating = false
    if (device.has("reboot_loop")) this.reboot(device, this.delays.rebootLoopMs)
    await this.joinNetwork(device)
  }

  /** The sta/sta1 section whose SSID and password fit the production network, if any. */
  private fittingSta(device: SimDevice): JsonObject | undefined {
    const net = this.currentNetwork
    return this.enabledStas(device).find((sta) => sta.ssid === net.ssid && (typeof sta.pass === "string" ? sta.pass : "") === net.password)
  }

  private enabledStas(device: SimDevice): Array<JsonObject> {
    return [device.wifiSection("sta"), device.wifiSection("sta1")].filter(
      (sta) => sta.enable === true && typeof sta.ssid === "string" && sta.ssid.length > 0
    )
  }

  /**
   * The address `fits` gives the device: its static `ip` (the string, even
   * when the simulator cannot bind it), or its DHCP lease (allocated on first
   * use, sticky per MAC); null when the pool is exhausted.
   */
  private addressFor(device: SimDevice, fits: JsonObject): string | null {
    if (fits.ipv4mode === "static") return typeof fits.ip === "string" ? fits.ip : null
    if (device.lease === null) device.lease = this.allocateLease() ?? null
    return device.lease
  }

  /** Takes `ip` as the device's station address and binds it; records why when it cannot. */
  private async takeAddress(device: SimDevice, fits: JsonObject, ip: string | null): Promise<void> {
    if (ip === null) {
      device.staIp = null
      device.lastError = "DHCP pool exhausted"
      return
    }
    if (fits.ipv4mode === "static") {
      if (usableStaticIp(ip) === undefined) {
        device.staIp = null
        device.lastError = `static address ${ip} is not loopback; the simulator does not bind it`
        return
      }
      if (device.has("static_unreachable")) {
        // As with a netmask, gateway or VLAN that does not fit: the device
        // holds the address but nothing on the production network reaches it.
        device.staIp = ip
        device.lastError = `static address ${ip} is unreachable from the production network (static_unreachable)`
        return
      }
    }
    device.staIp = ip
    if (device.has("offline")) return
    if (await this.bindAddress(device, ip)) return this.announce(device)
    if (fits.ipv4mode === "static" && device.lease !== null && device.lease !== ip && device.up) {
      // Address conflict on a static address (something else answers there):
      // the device stays at its previous DHCP lease. A simulator choice — how
      // real firmware handles the conflict is not documented (unverified).
      const conflict = device.lastError
      device.staIp = device.lease
      if (await this.bindAddress(device, device.lease)) this.announce(device)
      device.lastError = `static address ${ip} in use (${conflict ?? "bind failed"}); still at ${device.lease}`
    }
  }

  /** A live address change: the old address goes away at once, the new one answers. */
  private async moveTo(device: SimDevice, next: string | null): Promise<void> {
    await this.unbindAddresses(device)
    const fits = this.fittingSta(device)
    if (fits === undefined) return
    await this.takeAddress(device, fits, next)
  }

  /**
   * A live station join after WiFi.SetConfig: connecting for `staJoinMs`
   * (the AP stays up beside it unless disabled), then on the network — or,
   * with credentials that do not fit, still connecting until `joinTimeoutMs`
   * and then giving up (the AP comes back as fallback if it was disabled).
   */
  private async liveJoin(device: SimDevice): Promise<void> {
    if (device.staIp !== null) {
      await this.unbindAddresses(device)
      device.staIp = null
    }
    const stas = this.enabledStas(device)
    if (stas.length === 0) {
      device.staConnecting = false
      return
    }
    device.staConnecting = true
    const attempt = ++device.joinAttempt
    this.after(device, this.delays.staJoinMs, () => {
      if (attempt !== device.joinAttempt) return
      const fits = this.fittingSta(device)
      if (fits !== undefined) {
        device.staConnecting = false
        void this.takeAddress(device, fits, this.addressFor(device, fits))
        return
      }
      this.after(device, Math.max(0, this.delays.joinTimeoutMs - this.delays.staJoinMs), () => {
        if (attempt !== device.joinAttempt) return
        device.staConnecting = false
        device.lastError = `could not join ${String(stas[0]!.ssid)}: wrong SSID or password`
      })
    })
  }

  /** After boot: join the production WiFi with sta/sta1 if the credentials fit, else AP mode. */
  private async joinNetwork(device: SimDevice): Promise<void> {
    device.staConnecting = false
    if (!device.configTouched) {
      device.staIp = device.lease
      if (device.staIp !== null && !device.has("offline") && (await this.bindAddress(device, device.staIp))) this.announce(device)
      return
    }
    const sections = this.enabledStas(device)
    const fits = this.fittingSta(device)
    if (fits === undefined) {
      device.staIp = null
      if (sections.length > 0) {
        device.joining = true
        this.after(device, this.delays.joinTimeoutMs, () => {
          device.joining = false
          device.lastError = `could not join ${String(sections[0]!.ssid)}: wrong SSID or password; back in AP mode`
        })
      }
      return
    }
    await this.takeAddress(device, fits, this.addressFor(device, fits))
  }

  /**
   * RFC 6762 §8.3: a host that comes up on a network announces its records,
   * at least twice, the second one second later (device time, so scaled).
   */
  private announce(device: SimDevice): void {
    const responder = this.mdnsResponder
    if (responder === undefined) return
    responder.announce(this.view(device))
    this.after(device, announceRepeatMs, () => this.mdnsResponder?.announce(this.view(device)))
  }

  private allocateLease(): string | undefined {
    const taken = new Set<string>()
    for (const d of this.devices) {
      if (d.lease !== null) taken.add(d.lease)
      if (d.staIp !== null) taken.add(d.staIp)
    }
    return firstFree(this.pool.start, this.pool.end, (ip) => taken.has(ip))
  }

  // ---- AP link ----

  visibleAps(): Array<ApInfo> {
    const aps: Array<ApInfo> = [{ ssid: this.currentNetwork.ssid, bssid: productionBssid, signal: -45, security: "wpa2" }]
    for (const d of this.devices) {
      if (!d.apActive) continue
      const open = !d.configTouched || d.wifiSection("ap").is_open !== false
      aps.push({ ssid: d.apSsid, bssid: d.apBssid, signal: d.rssi, security: open ? "open" : "wpa2", mac: d.mac })
    }
    return aps
  }

  async connectAp(ssid: string, password: string | undefined): Promise<Either.Either<ApConnection, string>> {
    if (ssid === this.currentNetwork.ssid) {
      await this.dropAp()
      return Either.right({ ssid, ip: null, port: this.port, mac: null })
    }
    const device = this.devices.find((d) => d.apActive && d.apSsid === ssid)
    if (device === undefined) return Either.left(`no access point named ${ssid} is visible`)
    const ap = device.configTouched ? device.wifiSection("ap") : {}
    if (ap.is_open === false && (typeof ap.pass !== "string" || ap.pass !== password)) {
      return Either.left(`wrong password for access point ${ssid}`)
    }
    if (this.apRoute !== undefined && this.apRoute !== device) await this.dropAp()
    this.apRoute = device
    if (this.apServer === undefined) {
      const server = createNetServer((socket) => this.accept(socket, this.apRoute, "ap"))
      this.apServer = server
      const bound = await Effect.runPromise(Effect.either(listenOn(server, this.apIp, this.port)))
      if (Either.isLeft(bound)) {
        this.apServer = undefined
        this.apRoute = undefined
        return Either.left(`cannot listen on the AP address ${this.apIp}:${this.port}: ${bound.left.code}`)
      }
    }
    return Either.right({ ssid, ip: this.apIp, port: this.port, mac: device.mac })
  }

  async dropAp(): Promise<void> {
    const previous = this.apRoute
    this.apRoute = undefined
    const server = this.apServer
    this.apServer = undefined
    if (previous !== undefined) {
      for (const socket of previous.sockets ?? []) {
        if (this.socketOwner.get(socket)?.via === "ap" && !answeredSockets.has(socket)) socket.destroy()
      }
    }
    if (server !== undefined) await closeServer(server)
  }

  apLink(): { ssid: string; mac: string } | null {
    return this.apRoute === undefined ? null : { ssid: this.apRoute.apSsid, mac: this.apRoute.mac }
  }

  setNetwork(network: WifiNetwork): void {
    this.currentNetwork = network
  }

  // ---- control ----

  find(key: string | number): SimDevice | undefined {
    if (typeof key === "number") return this.devices[key - 1]
    const trimmed = key.trim()
    if (/^\d+$/.test(trimmed)) return this.devices[Number(trimmed) - 1]
    const mac = parseMac(trimmed)
    if (Either.isRight(mac)) return this.byMac.get(mac.right)
    const lower = trimmed.toLowerCase()
    return this.devices.find((d) => d.id === lower || d.staIp === trimmed || d.reportedId === lower)
  }

  view(d: SimDevice): DeviceView {
    const online = this.isOnline(d)
    const mode: DeviceMode =
      !d.up || d.has("offline") ? "offline" : d.joining || (d.staConnecting && !online) ? "joining" : online ? "sta" : "ap"
    return {
      index: d.index,
      mac: d.mac,
      id: d.id,
      ip: d.staIp,
      port: this.port,
      app: d.model.app,
      model: d.model.model,
      gen: d.model.gen,
      fw: d.ver,
      fwId: d.fwId,
      name: d.name,
      friendlyName: d.friendlyName ?? null,
      apSsid: d.apSsid,
      online,
      mode,
      faults: d.faults.map(formatItem),
      pendingUpdate: { ...d.pending },
      authEnabled: d.authEnabled,
      reportedMac: d.reportedMac
    }
  }

  stateOf(d: SimDevice): DeviceState {
    const config = withoutSecrets({ ...d.config } as Json)
    return {
      ...this.view(d),
      config: isJsonObject(config) ? config : {},
      rpcLog: [...(d.rpcLog ?? [])],
      requestLines: [...(d.requestLines ?? [])],
      reboots: d.reboots,
      lastError: d.lastError,
      auth: authState(d)
    }
  }

  /** Applies items to a running device; `replace` drops its current faults first. */
  async applyItems(d: SimDevice, items: ReadonlyArray<RuleItem>, replace: boolean): Promise<Either.Either<DeviceView, string>> {
    if (items.some((i) => i._tag === "model")) return Either.left("model can only be chosen when the fleet starts")
    const wasOffline = d.has("offline")
    const wasProtected = d.has("protected")
    const wasLooping = d.has("reboot_loop")
    const faults: Array<Fault> = replace ? [] : [...d.faults]
    let factory = false
    for (const item of items) {
      if (isFault(item)) {
        if (!faults.some((f) => formatItem(f) === formatItem(item))) faults.push(item)
      } else if (item._tag === "update") d.pending = { ...d.pending, stable: item.version }
      else if (item._tag === "beta") d.pending = { ...d.pending, beta: item.version }
      else if (item._tag === "friendly") d.friendlyName = item.text
      else if (item._tag === "name") {
        const sysDevice = d.config.sys.device
        if (isJsonObject(sysDevice)) sysDevice.name = item.text
      } else if (item._tag === "factory") factory = true
    }
    d.faults = faults
    if (d.has("protected") && !wasProtected) d.ha1 = ha1For(d.reportedId, this.adminPassword)
    if (!d.has("protected") && wasProtected) d.ha1 = null
    // A loop already running re-arms itself at each boot; a removed one stops there.
    if (d.has("reboot_loop") && !wasLooping) this.reboot(d, this.delays.rebootLoopMs)
    if (factory) {
      d.factoryReset()
      this.reboot(d, 0)
    } else if (d.has("offline") && !wasOffline) {
      await this.unbindDevice(d)
    } else if (!d.has("offline") && wasOffline && d.up && d.staIp !== null) {
      if (await this.bindAddress(d, d.staIp)) this.announce(d)
    }
    return Either.right(this.view(d))
  }

  async powerCycle(d: SimDevice): Promise<void> {
    d.reboots += 1
    this.goOffline(d)
    this.after(d, this.delays.bootMs, () => void this.boot(d))
  }

  // ---- start / stop ----

  /** Binds every production address on one port, moving to the next port when one is taken. */
  bindAll(port: number, attempts: number): Effect.Effect<void, SimStartError> {
    const online = this.devices.filter((d) => d.staIp !== null && !d.has("offline"))
    const tryPort = (candidate: number): Effect.Effect<void, BindFailure> =>
      Effect.gen(this, function* () {
        let chosen = candidate
        const [first, ...rest] = online
        if (first !== undefined) {
          const server = this.newListener(first)
          this.listeners.set(first.staIp!, { server, device: first })
          chosen = yield* listenOn(server, first.staIp!, candidate)
        }
        this.port = chosen
        yield* Effect.forEach(
          rest,
          (d) =>
            Effect.suspend(() => {
              const server = this.newListener(d)
              this.listeners.set(d.staIp!, { server, device: d })
              return listenOn(server, d.staIp!, chosen)
            }),
          { concurrency: 256, discard: true }
        )
      }).pipe(Effect.tapError(() => Effect.promise(() => this.closeListeners())))
    const loop = (k: number): Effect.Effect<void, SimStartError> => {
      const candidate = port === 0 ? 0 : port + k
      return tryPort(candidate).pipe(
        Effect.catchAll((failure) =>
          failure.code === "EADDRINUSE" && k + 1 < attempts
            ? loop(k + 1)
            : Effect.fail(
                new SimStartError({
                  reason:
                    failure.code === "EADDRINUSE"
                      ? `ports ${port}..${port + attempts - 1} are all in use on the device addresses; choose another --port`
                      : `cannot listen on the device addresses (port ${candidate}): ${failure.message}`
                })
              )
        )
      )
    }
    return loop(0)
  }

  private async closeListeners(): Promise<void> {
    const servers = [...this.listeners.values()].map((entry) => entry.server)
    this.listeners.clear()
    await Promise.all(servers.map(closeServer))
  }

  startTimers(): void {
    for (const d of this.devices) if (d.has("reboot_loop")) this.reboot(d, this.delays.rebootLoopMs)
  }

  async startControl(host: string, port: number): Promise<Either.Either<void, string>> {
    const started = await startControlServer(this.handle(), host, port)
    if (Either.isLeft(started)) return Either.left(started.left)
    this.controlUrl = started.right.url
    this.controlStop = started.right.stop
    return Either.right(undefined)
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const d of this.devices) {
      this.clearTimers(d)
      for (const socket of d.sockets ?? []) socket.destroy()
    }
    this.wsRpc.close()
    await Promise.all([
      this.closeListeners(),
      this.dropAp(),
      this.controlStop?.() ?? Promise.resolve(),
      this.mdnsResponder?.stop() ?? Promise.resolve()
    ])
  }

  private handleValue: FleetHandle | undefined

  handle(): FleetHandle {
    if (this.handleValue !== undefined) return this.handleValue
    const fleet = this
    const withDevice = async (
      key: string | number,
      run: (d: SimDevice) => Promise<Either.Either<DeviceView, string>>
    ): Promise<Either.Either<DeviceView, string>> => {
      const d = fleet.find(key)
      return d === undefined ? Either.left(`no device ${String(key)} in this fleet`) : run(d)
    }
    const parseItems = (items: ReadonlyArray<string>) => Either.all(items.map(parseItem))
    this.handleValue = {
      get port() {
        return fleet.port
      },
      apIp: fleet.apIp,
      get mdns() {
        return fleet.mdnsResponder
      },
      get controlUrl() {
        return fleet.controlUrl
      },
      get network() {
        return { ssid: fleet.currentNetwork.ssid }
      },
      get devices() {
        return fleet.devices.map((d) => fleet.view(d))
      },
      device: (key) => {
        const d = fleet.find(key)
        return d === undefined ? undefined : fleet.view(d)
      },
      state: (key) => {
        const d = fleet.find(key)
        return d === undefined ? undefined : fleet.stateOf(d)
      },
      setFaults: (key, items) =>
        withDevice(key, (d) =>
          Either.match(parseItems(items), { onLeft: async (e) => Either.left(e), onRight: (parsed) => fleet.applyItems(d, parsed, true) })
        ),
      addFaults: (key, items) =>
        withDevice(key, (d) =>
          Either.match(parseItems(items), { onLeft: async (e) => Either.left(e), onRight: (parsed) => fleet.applyItems(d, parsed, false) })
        ),
      clearFaults: (key) => withDevice(key, (d) => fleet.applyItems(d, [], true)),
      setPendingUpdate: (key, pending) =>
        withDevice(key, async (d) => {
          d.pending = pending === null ? {} : { ...pending }
          return Either.right(fleet.view(d))
        }),
      setPassword: (key, password) =>
        withDevice(key, async (d) => {
          d.ha1 = password === null ? null : ha1For(d.reportedId, password)
          d.nonces = undefined
          return Either.right(fleet.view(d))
        }),
      powerCycle: (key) =>
        withDevice(key, async (d) => {
          await fleet.powerCycle(d)
          return Either.right(fleet.view(d))
        }),
      scan: () => fleet.visibleAps(),
      connectAp: (ssid, password) => fleet.connectAp(ssid, password),
      disconnectAp: () => fleet.dropAp(),
      apLink: () => fleet.apLink(),
      setNetwork: (network) => fleet.setNetwork(network),
      writeInventory: (path, format = "flat", options) =>
        writeInventoryFile(
          path,
          format,
          fleet.devices.filter((d) => options?.all === true || d.staIp !== null || d.lease !== null).map((d) => fleet.view(d))
        ),
      stop: () => fleet.stop()
    }
    return this.handleValue
  }
}

const resolveModels = (names: ReadonlyArray<string>): Either.Either<Array<ModelSpec>, string> =>
  Either.all(
    names.map((name) => {
      const model = findModel(name)
      return model
        ? Either.right(model)
        : Either.left(`unknown model ${name} (use an app such as S2PMG3 or a model code such as S3SW-002P16EU)`)
    })
  )

/** Starts a fleet; the caller must `stop()` it. */
export const makeFleet = (options: FleetOptions = {}): Effect.Effect<FleetHandle, SimStartError> =>
  Effect.gen(function* () {
    const fail = (reason: string) => new SimStartError({ reason })
    const scenario = options.scenario
    const count = options.devices ?? scenario?.devices ?? 10
    if (!Number.isInteger(count) || count < 1 || count > 60_000) return yield* Effect.fail(fail(`devices must be 1..60000, got ${count}`))
    const timeScale = options.timeScale ?? 1
    if (!(timeScale > 0)) return yield* Effect.fail(fail(`time scale must be > 0, got ${timeScale}`))
    const port = options.port ?? 18080
    if (!Number.isInteger(port) || port < 0 || port > 65535) return yield* Effect.fail(fail(`port must be 0..65535, got ${port}`))
    const address = (input: string, what: string) => Either.mapLeft(loopbackAddress(input, what), fail)
    const baseIp = yield* address(options.baseIp ?? "127.0.1.1", "base address")
    const apIp = yield* address(options.apIp ?? "127.0.33.1", "AP address")
    const poolStart = yield* address(options.dhcpPool?.start ?? "127.0.200.1", "DHCP pool start")
    const poolEnd = yield* address(options.dhcpPool?.end ?? "127.0.200.254", "DHCP pool end")
    const models = yield* Either.mapLeft(resolveModels(options.models ?? scenario?.models ?? defaultModelMix), fail)
    if (models.length === 0) return yield* Effect.fail(fail("models must name at least one model"))
    const flagRules = yield* Either.mapLeft(Either.all((options.faults ?? []).map(parseRule)), fail)
    const rules: Array<Rule> = [...(scenario?.rules ?? []), ...flagRules]
    const network = options.network ?? { ssid: "ProdNet", password: "prod-wifi-pw" }
    const seeds = yield* Either.mapLeft(
      buildSeeds({ count, seed: options.seed ?? scenario?.seed ?? 1, models, rules, baseIp, network }),
      fail
    )
    const devices = seeds.map((seed) => new SimDevice(seed))
    const adminPassword = options.adminPassword ?? "sim-admin-pw"
    for (const d of devices) if (d.has("protected")) d.ha1 = ha1For(d.reportedId, adminPassword)
    const fleet = new Fleet(
      devices,
      { ...defaultDelays, ...options.delays },
      timeScale,
      apIp,
      { start: poolStart, end: poolEnd },
      adminPassword,
      network
    )
    yield* fleet.bindAll(port, options.portAttempts ?? 20)
    if (options.control !== false) {
      const control = options.control ?? {}
      const started = yield* Effect.promise(() => fleet.startControl(control.host ?? "127.0.0.1", control.port ?? 0))
      if (Either.isLeft(started)) {
        yield* Effect.promise(() => fleet.stop())
        return yield* Effect.fail(fail(started.left))
      }
    }
    if (options.mdns !== undefined && options.mdns !== false) {
      const responder = yield* Effect.either(makeMdnsResponder(() => fleet.handle().devices, options.mdns))
      if (Either.isLeft(responder)) {
        yield* Effect.promise(() => fleet.stop())
        return yield* Effect.fail(responder.left)
      }
      fleet.mdnsResponder = responder.right
    }
    fleet.startTimers()
    return fleet.handle()
  })

/** Starts a fleet that stops when the scope closes. */
export const fleetScoped = (options: FleetOptions = {}): Effect.Effect<FleetHandle, SimStartError, Scope.Scope> =>
  Effect.acquireRelease(makeFleet(options), (fleet) => Effect.promise(() => fleet.stop()))

/** Promise form of `makeFleet` (rejects with SimStartError). */
export const startFleet = (options: FleetOptions = {}): Promise<FleetHandle> =>
  Effect.runPromise(Effect.either(makeFleet(options))).then((result) =>
    Either.isRight(result) ? result.right : Promise.reject(result.left)
  )

export { SimStartError } from "./errors.js"
export type { InventoryFormat } from "./inventory.js"
export type { PendingUpdate, WifiNetwork } from "./device.js"
