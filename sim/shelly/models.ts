/**
 * Device kinds the simulator can play, from the model table in
 * `shared/reference/shelly-rpc.md` §4 (model code, app, generation) plus the
 * components their GetStatus/GetConfig carry. Id prefix and AP SSID come from
 * the one identity table, `src/shelly/identity.ts`.
 *
 * Sources of the per-model facts (shapes only; the fixtures in
 * test/fixtures/shelly/ are written from the same sources and checked against
 * this table):
 * - Shelly API docs gen2 "Shelly" (GetDeviceInfo: `profile` on multi-profile
 *   devices), "Switch", "Input", "EM1"/"EM1Data", "Temperature", "Humidity",
 *   "Illuminance", "KNX", "BTHome", "Matter" component pages.
 * - aioshelly fixture `gen2_Shelly Plus 1PM_SNSW-001P16EU` (Gen2 keys);
 *   matterbridge-shelly `src/mock/shelly1pmg3-34B7DAC68344.json` (Gen3: `matter`,
 *   `provision` in GetDeviceInfo; `bthome`, `knx` components); a published
 *   1PM Gen4 dump (`"gen":4`, `"matter":true`, `matter` component).
 * - EM Mini Gen4 on 2.0.0: app `MiniEMG4`, `ver` 2.0.0, build
 *   `20260710-101108/2.0.0-g87fbfa4` (ioBroker.shelly#1543 quotes this build id).
 */
export type ComponentKind = "switch" | "switch_nopm" | "input" | "em1" | "em1data" | "temperature" | "humidity" | "illuminance"

export interface ModelSpec {
  readonly app: string
  readonly model: string
  /** 1 = first generation: `GET /shelly` in the Gen1 form and no RPC API (sim/shelly/gen1.ts). */
  readonly gen: 1 | 2 | 3 | 4
  /** Numbered components (`switch:0`…): kind and count. */
  readonly components: ReadonlyArray<readonly [ComponentKind, number]>
  /** Singleton services beyond ble/cloud/mqtt/sys/wifi/ws that the firmware carries. */
  readonly services: ReadonlyArray<"bthome" | "knx" | "matter" | "ui">
  /** GetDeviceInfo `profile` (multi-profile devices: switch or cover). */
  readonly profile?: "switch"
  /** GetDeviceInfo `matter` (Matter-capable firmware). */
  readonly matter?: boolean
  /** GetDeviceInfo `provision` (newer Gen3/Gen4 firmware). */
  readonly provision?: boolean
  /** Firmware version a fresh simulated device runs. */
  readonly ver: string
  /** Build date and hash of that version's `fw_id`, when a real one is published. */
  readonly build?: string
  /** Versions of its own line (Wall Display 2.7.4 is not the 2.x firmware of the relays). */
  readonly ownVersioning?: true
}

/** Firmware 2.x of the main line: nc tracked per nonce, no `ble.enable` (issue 11). */
export const runsFirmware2x = (model: ModelSpec, ver: string): boolean => model.ownVersioning !== true && Number.parseInt(ver, 10) >= 2

const gen3Services = ["bthome", "knx"] as const
const gen4Services = ["bthome", "knx", "matter"] as const

const table: ReadonlyArray<ModelSpec> = [
  {
    app: "S2PMG3",
    model: "S3SW-002P16EU",
    gen: 3,
    components: [
      ["input", 2],
      ["switch", 2]
    ],
    services: gen3Services,
    profile: "switch",
    matter: false,
    provision: true,
    ver: "1.6.2"
  },
  {
    app: "S1PMG3",
    model: "S3SW-001P16EU",
    gen: 3,
    components: [
      ["input", 1],
      ["switch", 1]
    ],
    services: gen3Services,
    matter: false,
    provision: true,
    ver: "1.6.2"
  },
  {
    app: "Mini1PMG3",
    model: "S3SW-001P8EU",
    gen: 3,
    components: [
      ["input", 1],
      ["switch", 1]
    ],
    services: gen3Services,
    matter: false,
    provision: true,
    ver: "1.6.2"
  },
  {
    app: "I4G3",
    model: "S3SN-0024X",
    gen: 3,
    components: [["input", 4]],
    services: gen3Services,
    matter: false,
    provision: true,
    ver: "1.6.2"
  },
  {
    app: "S1G3",
    model: "S3SW-001X16EU",
    gen: 3,
    components: [
      ["input", 1],
      ["switch_nopm", 1]
    ],
    services: gen3Services,
    matter: false,
    provision: true,
    ver: "1.6.2"
  },
  {
    app: "PlugSG3",
    model: "S3PL-00112EU",
    gen: 3,
    components: [["switch", 1]],
    services: gen3Services,
    matter: false,
    provision: true,
    ver: "1.6.2"
  },
  {
    app: "S1PMG4",
    model: "S4SW-001P16EU",
    gen: 4,
    components: [
      ["input", 1],
      ["switch", 1]
    ],
    services: gen4Services,
    matter: true,
    provision: true,
    ver: "1.7.1"
  },
  {
    app: "S2PMG4",
    model: "S4SW-002P16EU",
    gen: 4,
    components: [
      ["input", 2],
      ["switch", 2]
    ],
    services: gen4Services,
    profile: "switch",
    matter: true,
    provision: true,
    ver: "1.7.1"
  },
  {
    app: "MiniEMG4",
    model: "S4EM-001PXCEU16",
    gen: 4,
    components: [
      ["em1", 1],
      ["em1data", 1]
    ],
    services: gen4Services,
    matter: true,
    provision: true,
    ver: "2.0.0",
    build: "20260710-101108/2.0.0-g87fbfa4"
  },
  {
    app: "Plus1PM",
    model: "SNSW-001P16EU",
    gen: 2,
    components: [
      ["input", 1],
      ["switch", 1]
    ],
    services: [],
    ver: "1.4.4"
  },
  {
    app: "Plus1",
    model: "SNSW-001X16EU",
    gen: 2,
    components: [
      ["input", 1],
      ["switch_nopm", 1]
    ],
    services: [],
    ver: "1.4.4"
  },
  {
    app: "Plus2PM",
    model: "SNSW-102P16EU",
    gen: 2,
    components: [
      ["input", 2],
      ["switch", 2]
    ],
    services: [],
    profile: "switch",
    ver: "1.4.4"
  },
  { app: "PlusI4", model: "SNSN-0024X", gen: 2, components: [["input", 4]], services: [], ver: "1.4.4" },
  {
    app: "Pro4PM",
    model: "SPSW-004PE16EU",
    gen: 2,
    components: [
      ["input", 4],
      ["switch", 4]
    ],
    services: ["ui"],
    ver: "1.4.4"
  },
  {
    app: "WallDisplay",
    model: "SAWD-0A1XX10EU1",
    gen: 2,
    components: [
      ["input", 1],
      ["switch_nopm", 1],
      ["temperature", 1],
      ["humidity", 1],
      ["illuminance", 1]
    ],
    services: ["ui"],
    ver: "2.7.4",
    // A published Wall Display status dump: `"fw_id":"20260803-150127/2.7.4-b7b6bc07"` (no `g` before the hash).
    build: "20260803-150127/2.7.4-b7b6bc07",
    ownVersioning: true
  },
  // Shelly 1 (Gen1): only `GET /shelly` is modelled, to test that Gen1 is refused clearly.
  { app: "SHSW-1", model: "SHSW-1", gen: 1, components: [], services: [], ver: "1.14.0", build: "20230913-112003/v1.14.0-gcb84623" }
]

export const modelApps: ReadonlyArray<string> = table.map((m) => m.app)

/** The default fleet mix, cycled over the device list. */
export const defaultModelMix: ReadonlyArray<string> = ["S2PMG3", "S1PMG3", "Mini1PMG3", "I4G3", "Plus1PM"]

/** Looks a model up by app (`S2PMG3`), case-insensitively, or by model code (`S3SW-002P16EU`). */
export const findModel = (name: string): ModelSpec | undefined => {
  const wanted = name.trim().toLowerCase()
  return table.find((m) => m.app.toLowerCase() === wanted || m.model.toLowerCase() === wanted)
}

/** Version offered by a pending update when the rule does not name one. */
export const defaultUpdateVersion = "1.7.5"

/**
 * `YYYYMMDD-hhmmss/<ver>-g<hash>` (the real form, e.g. `20231219-133934/1.1.0-g34b5d4f`
 * in the aioshelly Plus 1PM fixture), deterministic per version so reruns compare equal.
 */
export const fwIdFor = (ver: string, build?: string): string => {
  if (build !== undefined && build.includes(`${ver}-`)) return build
  let hash = 0x811c9dc5
  for (const ch of ver) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193) >>> 0
  return `20250508-110823/${ver}-g${hash.toString(16).padStart(8, "0").slice(0, 7)}`
}
