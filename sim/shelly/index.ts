/**
 * # Shelly Gen2/Gen3 fleet simulator — API summary
 *
 * Every device is a real HTTP endpoint on its own loopback address, all on one
 * port. Wire behaviour follows `shared/reference/shelly-rpc.md` (see
 * "Fidelity" below). Three ways to use it:
 *
 * ## 1. Library (in-process)
 *
 * ```ts
 * import { startFleet, fleetScoped, makeFleet } from "../../sim/shelly/index.js"
 * const fleet = await startFleet({ devices: 20, baseIp: "127.10.1.1", port: 18080, timeScale: 0.01,
 *                                  faults: ["3=blackhole", "10%=update", "5=protected"] })
 * fleet.devices[0].ip            // "127.10.1.1" ; .port, .mac, .id, .app, .model, .fw, .name …
 * await fleet.writeInventory("data/ip_state.json", "flat")
 * await fleet.stop()
 * ```
 *
 * - `startFleet(options: FleetOptions): Promise<FleetHandle>` — rejects with `SimStartError`.
 * - `makeFleet(options): Effect<FleetHandle, SimStartError>` — caller stops it.
 * - `fleetScoped(options): Effect<FleetHandle, SimStartError, Scope>` — stopped when the scope closes.
 * - `loadScenario(path): Effect<Scenario, SimStartError>` — reads a YAML/JSON scenario file.
 *
 * ### FleetOptions (all optional)
 * | field | default | meaning |
 * |---|---|---|
 * | `devices` | scenario.devices ?? 10 | number of devices |
 * | `baseIp` | `127.0.1.1` | production address of device 1; next ones count up, skipping x.x.x.0 and x.x.x.255 (factory devices take no address) |
 * | `port` | 18080 | one HTTP port for every device address; on EADDRINUSE the next port is tried (`portAttempts`, default 20); `0` = the OS picks one |
 * | `seed` | scenario.seed ?? 1 | MACs, percentage picks, signal levels |
 * | `models` | `["S2PMG3","S1PMG3","Mini1PMG3","I4G3","Plus1PM"]` | apps or model codes, cycled over the devices |
 * | `faults` | `[]` | rules `SELECTOR=ITEM[,ITEM…]` (below), applied after the scenario's |
 * | `scenario` | none | a `Scenario` (from `loadScenario`) |
 * | `timeScale` | 1 | every device-side delay is multiplied by this (0.01 → 100× faster); `Sys.GetStatus` uptime counts device seconds |
 * | `delays` | `{bootMs:5000, updateMs:10000, joinTimeoutMs:20000, rebootLoopMs:90000, nonceLifetimeMs:3600000}` | nominal delays before scaling |
 * | `adminPassword` | `"sim-admin-pw"` | password of `protected` devices (user `admin`) |
 * | `network` | `{ssid:"ProdNet", password:"prod-wifi-pw"}` | the production WiFi devices may join |
 * | `apIp` | `127.0.33.1` | the "192.168.33.1" of the simulated AP link |
 * | `dhcpPool` | `{start:"127.0.200.1", end:"127.0.200.254"}` | addresses handed to devices joining the production WiFi |
 * | `control` | `{host:"127.0.0.1", port:0}` | control HTTP API; `false` = none |
 * | `mdns` | none | `{group?, port?, iface?, ttl?}`: an mDNS responder (sim/shelly/mdns.ts) on loopback; each device on the production network answers for its instance (PTR/SRV/TXT/A); `handle.mdns` = `{group, port, answered()}` |
 *
 * ### Rules (`faults` option, `--faults` flag, scenario `faults:`)
 * `SELECTOR=ITEM[,ITEM…]`. SELECTOR: `all`, `N%` (seeded pick; percentage rules
 * take disjoint devices, in order), `i` or `i-j` (1-based device numbers),
 * a production IPv4, or a MAC in any spelling.
 * ITEMs (faults): `offline`, `blackhole`, `slow:<ms>`, `http500_on_spaces`,
 * `fail:<Method>`, `wrong_mac`, `protected`, `ap_http_dead`, `reboot_loop`, `ota_no_return`, `ota_old_version`,
 * `https` / `https_new_cert` (the API over TLS on the device's port with test certificate A / B, sim/shelly/tlsCerts.ts).
 * ITEMs (traits): `update[:<ver>]` (pending stable update, default 1.7.5),
 * `beta[:<ver>]`, `factory` (factory state: AP mode, no production address),
 * `model:<App>`, `name:<text>` (device's own name), `friendly:<text>` (inventory friendly_name).
 *
 * ### FleetHandle
 * - `port: number`, `apIp: string`, `controlUrl: string | undefined`, `network: {ssid}`
 * - `devices: ReadonlyArray<DeviceView>` (snapshots, in device order) ; `device(key)` → `DeviceView | undefined`
 *   (key: MAC any spelling, device id, current IP, or 1-based number)
 * - `DeviceView`: `{ index, mac, id, ip (null when not on the production network), port, app, model, gen,
 *   fw, fwId, name, friendlyName, apSsid, online, mode: "sta"|"ap"|"joining"|"offline", faults: string[],
 *   pendingUpdate: {stable?, beta?}, authEnabled, reportedMac }`
 * - `state(key)` → `DeviceState | undefined`: the view plus `config` (the device's full Shelly.GetConfig, passwords
 *   replaced by `pass_set: true`), `rpcLog` (last 50 calls: `{method, params (passwords masked), via: "sta"|"ap", transport}`),
 *   `reboots`, `lastError`, `auth` (`{enabled, challenges: 401s sent, ncRefused: replayed/too-old nc, nonces: [{highestNc, uses}]}`).
 * - `setFaults(key, items: string[]): Promise<Either<DeviceView, string>>` (replaces faults; traits allowed)
 * - `addFaults(key, items)`, `clearFaults(key)`: same result type
 * - `setPendingUpdate(key, {stable?, beta?} | null)`, `setPassword(key, password | null)`, `powerCycle(key)`: same
 * - `scan(): ApInfo[]` — `{ssid, bssid, signal (dBm), security: "open"|"wpa2", mac?}` visible APs incl. the production SSID
 * - `connectAp(ssid, password?): Promise<Either<{ip, port, mac}, string>>` — routes `apIp` to that device
 * - `disconnectAp(): Promise<void>`; `apLink(): {ssid, mac} | null`
 * - `setNetwork({ssid, password})`
 * - `writeInventory(path, format: "flat" | "wrapped" = "flat", options?: {all?: boolean}): Promise<void>`
 *   writes `{ "<MAC>": { ip, model, app, gen, fw, hostname, id, port, friendly_name? } }` (`model` = model code,
 *   `app` = e.g. S2PMG3, `fw` = version, `hostname` = `id`; `port` only when not 80; `friendly_name` = the device's
 *   friendlyName: default "<Room> <n>", e.g. "Küche 1", or set by `friendly:<text>`)
 *   (wrapped: `{version:1, devices:{…}}`) for devices with a production address (all: also factory ones, ip null).
 *   Written to `<path>.sim-<pid>.tmp` and renamed.
 * - `stop(): Promise<void>` — closes every listener, socket, timer and the control server.
 *
 * ## 2. Child process: `provision sim shelly`
 * Flags: `--devices N --base-ip IP --port P --seed S --scenario FILE --faults RULE (repeatable)
 * --state-file PATH [--state-format flat|wrapped] --time-scale X --ap-ip IP --dhcp-start IP --dhcp-end IP
 * --wifi-ssid S --wifi-password P --admin-password P --control-host H --control-port P`.
 * Prints exactly one line on stdout when ready:
 *   `sim shelly ready port=<p> devices=<n> control=<url> base_ip=<ip> ap_ip=<ip>`
 * and runs until SIGTERM/SIGINT (then stops everything and exits 0).
 *
 * ## 3. Control HTTP API (JSON, on `controlUrl`)
 * - `GET /devices` → `DeviceView[]` ; `GET /devices/<key>` → `DeviceState` (404 unknown)
 * - `PUT /devices/<key>/faults {items}` ; `POST /devices/<key>/faults {items}` (add) ; `DELETE /devices/<key>/faults`
 * - `PUT /devices/<key>/pending-update {stable?, beta?} | null` ; `PUT /devices/<key>/password {password|null}`
 * - `POST /devices/<key>/power-cycle`
 * - `GET /wifi/scan` → `{aps: ApInfo[]}` ; `POST /wifi/connect {ssid, password?}` → `{ip, port, mac}` ;
 *   `POST /wifi/disconnect` ; `GET /wifi/link` → `{ssid, mac} | null` ; `PUT /wifi/network {ssid, password}`
 * - `POST /inventory {path, format?, all?}` ; `GET /health` → `{port, devices}`
 * Errors: 4xx `{error: "<message>"}`.
 *
 * ## Fidelity choices
 * - `Connection: close`, `Server: ShellyHTTP/1.0.0`, `Content-Type: application/json` on every response.
 * - More than 6 requests in flight on one device → HTTP 429 `{"code":-108,"message":"Too many requests"}` (all forms).
 * - `GET|POST /rpc/<Method>`: bare result (200) ; RPC error → 500 `{code,message}` ; unknown method → 404
 *   `{code:404,message:"No handler for <Method>"}`. `POST /rpc` frames: always 200 `{id,src,dst,result|error}`.
 * - Firmware 2.x auth (version 2.x or the `fw2` trait): base64 nonces, 4 nonce slots, `stale=true` on a correctly
 *   signed request with a dropped nonce, 429 after 20 challenges within 10 s (device time) for 5 s.
 * - Setup window (version >= 1.8 or the `setup_window` trait): *.SetConfig / Shelly.SetAuth over the AP without
 *   auth answer -109 once the device has been up 15 min (device time); a power cycle reopens it.
 * - Every request line is recorded (`state().requestLines`, last 100).
 * - Digest auth (SHA-256, qop=auth, realm = device id, user admin): fresh decimal nonce per 401, valid
 *   `delays.nonceLifetimeMs` × timeScale (1 h) and 30,000 uses, forgotten at reboot or password change; each `nc`
 *   accepted once per nonce, out of order within 32 below the highest; `Authorization` header (GET/POST) or the frame's `auth` object
 *   (HA2 = sha256("dummy_method:dummy_uri"), nc integer). Missing/invalid → 401, empty body, `WWW-Authenticate`.
 *   Open without auth: `GET /shelly`, Shelly.GetDeviceInfo, WiFi.ListAPClients. `GET|POST /rpc/<M>`: auth is checked
 *   before the query or body is parsed.
 * - `ws://<device>/rpc` (ws.ts): the same frames over a WebSocket; an unsigned call to a protected device answers
 *   error 401 whose message is the JSON challenge; firmware < 2.0 accepts one `auth` object repeatedly while its nonce
 *   lives (nc not tracked), 2.x tracks nc. `*.SetConfig` success → `NotifyStatus {ts, sys:{cfg_rev}}` to every client
 *   that sent a `src`.
 * - Models (models.ts, components.ts): per-model components and GetDeviceInfo keys (`profile`, `matter`, `provision`);
 *   Shelly.GetComponents `{components:[{key,status?,config?}], cfg_rev, offset, total}`; ids and AP SSIDs from
 *   src/shelly/identity.ts.
 * - `http500_on_spaces`: a GET query holding a space (`%20`, `+` or raw) → 500 `{code:-103}`.
 * - `fail:<M>`: M answers error -114 (GET: HTTP 500; frame: error).
 * - `slow:<ms>`: each request is answered after ms (not scaled by timeScale). `blackhole`: connections are accepted
 *   and never read. `offline`: no listener (refused), AP invisible. `wrong_mac`: identity (mac, id, realm, AP SSID) of
 *   a device whose MAC differs in the last byte (`reportedMac` in the view).
 * - Shelly.Update without a pending version for that stage → -109; while updating → -109.
 * - WiFi.SetConfig (sta, sta1, ap) is applied live, as on real firmware (result `{restart_required:false}`):
 *   a new station config joins after `staJoinMs` (WiFi.GetStatus "connecting" meanwhile, the AP stays up unless
 *   disabled), a static address or DHCP change moves the address at once, `ap.enable:false` drops the AP at once.
 *   The link change comes after the answer; with `drop_before_answer` before it (the answer is lost).
 *   Credentials that do not fit: "connecting" until joinTimeoutMs, then given up (AP back as fallback).
 *   `static_unreachable`: a static address is taken but not reachable (as with a wrong netmask/VLAN).
 *   BLE.SetConfig changing `enable` and MQTT.SetConfig changing anything answer `restart_required:true`
 *   (applied at the next boot); Sys/Cloud/WiFi false.
 *   After boot: sta/sta1 ssid+pass match the production network → joins (DHCP lease from the pool, sticky per MAC,
 *   or the static `ip`, loopback only); otherwise "joining" for joinTimeoutMs, then back to AP mode.
 * - Shelly.Update: after updateMs the device reboots (listener closed → refused) for bootMs, then runs the new version.
 * - Shelly.Update `{url}` (loopback http only, else -103): the device downloads the package, checks its manifest
 *   (model, size, sha256; `makeFirmwareImage` in ota.ts makes one) and installs the version it names; a failed
 *   download or check leaves it on the old version with `lastError` set. Faults `ota_no_return` (never back after
 *   the update's reboot) and `ota_old_version` (back on the old version) apply to every update.
 */
export { makeFirmwareImage } from "./ota.js"
export * from "./fleet.js"
export type { Scenario } from "./scenario.js"
export { loadScenario, parseScenarioText } from "./scenario.js"
export { modelApps, findModel } from "./models.js"
export { makeMdnsResponder } from "./mdns.js"
export type { MdnsResponder, MdnsResponderOptions } from "./mdns.js"
