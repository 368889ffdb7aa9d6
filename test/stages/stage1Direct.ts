// Stage 1 in-process against a test project's simulated fleet and WiFi: the
// settings a test starts from and the layer it runs on (the real RPC client,
// the live inventory store, the simulator's WiFi over HTTP). Tests override
// what they are about (`over`).
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { Effect, Either, Layer, Redacted, Ref } from "effect"
import { join } from "node:path"
import type { FleetHandle } from "../../sim/shelly/index.js"
import { ssidMatcher } from "../../src/config/stage1.js"
import { inventoryLayer } from "../../src/inventory/index.js"
import { expandTargets } from "../../src/shelly/discovery.js"
import { ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import { runStage1 } from "../../src/stages/stage1.js"
import type { Stage1DeviceResult, Stage1Settings } from "../../src/stages/stage1.js"
import { SimulatedWifiLive } from "../../src/wifi/SimulatedWifi.js"
import type { ShellyProject } from "./shellyPathHarness.js"

/** Stage 1 settings for the project's fleet: production WiFi `ProdNet`, the block's DHCP range, results lines into `lines`. */
export const directStage1Settings = (
  p: ShellyProject,
  f: FleetHandle,
  lines: Array<string>,
  over: Partial<Stage1Settings> = {}
): Stage1Settings => ({
  apIp: f.apIp,
  devicePort: f.port,
  apSsidPattern: "Shelly*-*",
  isFactoryAp: Either.getOrThrow(ssidMatcher("Shelly*-*")),
  sta: { ssid: "ProdNet", password: Redacted.make("prod-wifi-pw") },
  disable: { cloud: true, ble: true, ap: true, mqtt: true },
  dryRun: false,
  loop: false,
  timeouts: { apWait: "2 seconds", rpc: "1 second", join: "3 seconds" },
  pollInterval: "20 millis",
  productionIps: Either.getOrThrow(expandTargets([`${p.addresses.dhcp.start}-${p.addresses.dhcp.end}`])),
  discovery: { timeout: "300 millis" },
  adopt: true,
  ipStateFile: join(p.dir, "data/ip_state.json"),
  say: (line) => Effect.sync(() => lines.push(line)),
  ...over
})

/** The layer Stage 1 runs on in these tests. */
export const directStage1Layer = (p: ShellyProject, f: FleetHandle) =>
  Layer.mergeAll(
    ShellyRpcLive,
    inventoryLayer({ runDir: join(p.dir, "var/run") }),
    SimulatedWifiLive({ controlUrl: f.controlUrl!, initial: { ssid: "ProdNet", profile: "ProdNet" } }).pipe(
      Layer.provide(NodeHttpClient.layer)
    )
  ).pipe(Layer.provideMerge(NodeContext.layer))

/** One Stage 1 run; its exit and the device results it recorded. */
export const runStage1Direct = async (p: ShellyProject, f: FleetHandle, settings: Stage1Settings) => {
  const results = Ref.unsafeMake<ReadonlyArray<Stage1DeviceResult>>([])
  const exit = await Effect.runPromiseExit(runStage1(settings, results).pipe(Effect.provide(directStage1Layer(p, f))))
  return { exit, results: Ref.get(results).pipe(Effect.runSync) }
}
