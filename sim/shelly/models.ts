/**
 * Device kinds the simulator can play, from the model table in
 * `shared/reference/shelly-rpc.md` §4 (model code, app, generation, id prefix)
 * plus the components their GetStatus/GetConfig carry.
 */
export interface ModelSpec {
  readonly app: string
  readonly model: string
  readonly gen: 2 | 3
  /** Lowercase prefix of the device id: `<prefix>-<mac lowercase>`. */
  readonly idPrefix: string
  readonly switches: number
  readonly inputs: number
  /** Firmware version a fresh simulated device runs. */
  readonly ver: string
}

const table: ReadonlyArray<ModelSpec> = [
  { app: "S2PMG3", model: "S3SW-002P16EU", gen: 3, idPrefix: "shelly2pmg3", switches: 2, inputs: 2, ver: "1.6.2" },
  { app: "S1PMG3", model: "S3SW-001P16EU", gen: 3, idPrefix: "shelly1pmg3", switches: 1, inputs: 1, ver: "1.6.2" },
  { app: "Mini1PMG3", model: "S3SW-001P8EU", gen: 3, idPrefix: "shelly1pmminig3", switches: 1, inputs: 1, ver: "1.6.2" },
  { app: "I4G3", model: "S3SN-0024X", gen: 3, idPrefix: "shellyi4g3", switches: 0, inputs: 4, ver: "1.6.2" },
  { app: "S1G3", model: "S3SW-001X16EU", gen: 3, idPrefix: "shelly1g3", switches: 1, inputs: 1, ver: "1.6.2" },
  { app: "PlugSG3", model: "S3PL-00112EU", gen: 3, idPrefix: "shellyplugsg3", switches: 1, inputs: 0, ver: "1.6.2" },
  { app: "Plus1PM", model: "SNSW-001P16EU", gen: 2, idPrefix: "shellyplus1pm", switches: 1, inputs: 1, ver: "1.4.4" },
  { app: "Plus1", model: "SNSW-001X16EU", gen: 2, idPrefix: "shellyplus1", switches: 1, inputs: 1, ver: "1.4.4" },
  { app: "Plus2PM", model: "SNSW-102P16EU", gen: 2, idPrefix: "shellyplus2pm", switches: 2, inputs: 2, ver: "1.4.4" },
  { app: "PlusI4", model: "SNSN-0024X", gen: 2, idPrefix: "shellyplusi4", switches: 0, inputs: 4, ver: "1.4.4" }
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

/** `YYYYMMDD-hhmmss/<ver>-g<hash>`, deterministic per version so reruns compare equal. */
export const fwIdFor = (ver: string): string => {
  let hash = 0x811c9dc5
  for (const ch of ver) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193) >>> 0
  return `20250508-110823/${ver}-g${hash.toString(16).padStart(8, "0").slice(0, 7)}`
}
