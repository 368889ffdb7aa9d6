/**
 * The device components of a simulated model (`switch:0`, `input:0`, `em1:0`,
 * `bthome`, `matter`…) as Shelly.GetStatus / Shelly.GetConfig /
 * Shelly.GetComponents carry them. Shapes from the Shelly API docs component
 * pages (gen2/ComponentsAndServices: Switch, Input, EM1, EM1Data, Temperature,
 * Humidity, Illuminance, BTHome, KNX, Matter, UI) and the published dumps named
 * in models.ts; values are plausible idle readings.
 */
import type { JsonObject } from "./device.js"
import type { ComponentKind, ModelSpec } from "./models.js"

const energy = (): JsonObject => ({ total: 0, by_minute: [0, 0, 0], minute_ts: Math.floor(Date.now() / 60_000) * 60 })

const statusOf = (kind: ComponentKind, id: number): JsonObject => {
  switch (kind) {
    case "switch":
      return {
        id,
        source: "init",
        output: false,
        apower: 0,
        voltage: 229.8,
        freq: 50,
        current: 0,
        aenergy: energy(),
        ret_aenergy: energy(),
        temperature: { tC: 41.2, tF: 106.2 }
      }
    case "switch_nopm":
      return { id, source: "init", output: false, temperature: { tC: 38.4, tF: 101.1 } }
    case "input":
      return { id, state: false }
    case "em1":
      return { id, current: 0.027, voltage: 230.1, act_power: 0, aprt_power: 6.2, pf: 0, freq: 50, calibration: "factory" }
    case "em1data":
      return { id, total_act_energy: 0, total_act_ret_energy: 0 }
    case "temperature":
      return { id, tC: 21.6, tF: 70.9 }
    case "humidity":
      return { id, rh: 44.2 }
    case "illuminance":
      return { id, lux: 120, illumination: "twilight" }
  }
}

const configOf = (kind: ComponentKind, id: number, model: ModelSpec): JsonObject => {
  switch (kind) {
    case "switch":
    case "switch_nopm": {
      const hasInput = model.components.some(([k]) => k === "input")
      const base: JsonObject = { id, name: null }
      if (hasInput) base.in_mode = "follow"
      Object.assign(base, {
        initial_state: hasInput ? "match_input" : "restore_last",
        auto_on: false,
        auto_on_delay: 60,
        auto_off: false,
        auto_off_delay: 60
      })
      if (kind === "switch") {
        Object.assign(base, { power_limit: 4480, voltage_limit: 280, autorecover_voltage_errors: false, current_limit: 16 })
      }
      return base
    }
    case "input":
      return { id, name: null, type: "switch", enable: true, invert: false, factory_reset: true }
    case "em1":
      return { id, name: null, ct_type: "50A", reverse: false }
    case "em1data":
      return { id }
    case "temperature":
      return { id, name: null, report_thr_C: 1, offset_C: 0 }
    case "humidity":
      return { id, name: null, report_thr: 1, offset: 0 }
    case "illuminance":
      return { id, name: null, dark_thr: 30, bright_thr: 200 }
  }
}

const serviceStatus: Record<ModelSpec["services"][number], () => JsonObject> = {
  bthome: () => ({}),
  knx: () => ({}),
  matter: () => ({ num_fabrics: 0, commissionable: true }),
  ui: () => ({})
}

const serviceConfig: Record<ModelSpec["services"][number], () => JsonObject> = {
  bthome: () => ({}),
  knx: () => ({ enable: false, ia: "15.15.255", routing: { addr: "224.0.23.12:3671" } }),
  matter: () => ({ enable: true }),
  ui: () => ({ idle_brightness: 30 })
}

/** The model's components beyond the system services, keyed as in GetStatus (`switch:0`, `matter`…). */
export const modelComponents = (model: ModelSpec, kind: "status" | "config"): JsonObject => {
  const out: JsonObject = {}
  for (const service of model.services) out[service] = kind === "status" ? serviceStatus[service]() : serviceConfig[service]()
  for (const [component, count] of model.components) {
    const key = component === "switch_nopm" ? "switch" : component
    for (let id = 0; id < count; id++) out[`${key}:${id}`] = kind === "status" ? statusOf(component, id) : configOf(component, id, model)
  }
  return out
}
