// Shared setup for the Stage 3 tests: a simulated fleet on this file's
// loopback block, a temp project dir (config.yaml + ip_state.json), and
// stage3Program run in-process on the real Live layers with captured output.
import { NodeContext } from "@effect/platform-node"
import { Effect, Layer, Option } from "effect"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type FleetHandle, type FleetOptions, startFleet } from "../../sim/shelly/index.js"
import { defaultStage3Flags, type Stage3Flags, stage3Program } from "../../src/app/stage3.js"
import { inventoryLayer, projectLockLayer } from "../../src/inventory/index.js"
import { ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import * as Output from "../../src/runtime/RunOutput.js"

export interface Project {
  readonly fleet: FleetHandle
  readonly dir: string
  readonly stateFile: string
  readonly configFile: string
  readonly runDir: string
  readonly writeConfig: (stage3Yaml: string) => void
  readonly state: () => Record<string, Record<string, unknown>>
  readonly editState: (edit: (devices: Record<string, Record<string, unknown>>) => void) => void
  readonly run: (flags?: Partial<Stage3Flags>) => Promise<RunOutput>
  readonly close: () => Promise<void>
}

export interface RunOutput {
  readonly code: number
  readonly out: ReadonlyArray<string>
  readonly err: ReadonlyArray<string>
  /** The device line for an IP (undefined when not printed). */
  readonly line: (ip: string) => string | undefined
}

/** Every device-side delay ×0.01: an update takes 100 ms, a reboot 50 ms. */
export const openProject = async (options: FleetOptions, format: "flat" | "wrapped" = "flat"): Promise<Project> => {
  const fleet = await startFleet({ port: 0, timeScale: 0.01, control: false, ...options })
  const dir = mkdtempSync(join(tmpdir(), "stage3-test-"))
  const stateFile = join(dir, "ip_state.json")
  const configFile = join(dir, "config.yaml")
  const runDir = join(dir, "run")
  await fleet.writeInventory(stateFile, format)

  const writeConfig = (stage3Yaml: string) =>
    writeFileSync(
      configFile,
      [
        "stage3:",
        `  ip_state_file: ${stateFile}`,
        `  device_port: ${fleet.port}`,
        `  logging:`,
        `    base_path: ${join(dir, "stage3.log")}`,
        ...stage3Yaml
          .split("\n")
          .filter((l) => l.trim() !== "")
          .map((l) => `  ${l}`),
        ""
      ].join("\n")
    )
  writeConfig("")

  const devicesOf = (doc: Record<string, unknown>) => (format === "wrapped" ? doc.devices : doc) as Record<string, Record<string, unknown>>
  const state = () => devicesOf(JSON.parse(readFileSync(stateFile, "utf8")))
  const editState = (edit: (devices: Record<string, Record<string, unknown>>) => void) => {
    const doc = JSON.parse(readFileSync(stateFile, "utf8"))
    edit(devicesOf(doc))
    writeFileSync(stateFile, JSON.stringify(doc, null, 2) + "\n")
  }

  const layer = Layer.mergeAll(ShellyRpcLive, inventoryLayer({ runDir }), projectLockLayer({ runDir })).pipe(
    Layer.provideMerge(NodeContext.layer)
  )
  const run = async (flags: Partial<Stage3Flags> = {}): Promise<RunOutput> => {
    const out: Array<string> = []
    const err: Array<string> = []
    const code = await Effect.runPromise(
      stage3Program({ ...defaultStage3Flags, config: Option.some(configFile), ...flags }).pipe(
        Effect.provide(Output.layer({ out: (l) => out.push(l), err: (l) => err.push(l) })),
        Effect.catchAll((e) => Effect.sync(() => (err.push(`error: ${e.message}`), -1))),
        Effect.provide(layer)
      )
    )
    return { code, out, err, line: (ip) => out.find((l) => l.includes(` @ ${ip} - `)) }
  }
  const close = async () => {
    await fleet.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  return { fleet, dir, stateFile, configFile, runDir, writeConfig, state, editState, run, close }
}

/** The methods a device was asked, oldest first (the simulator keeps the last 50). */
export const methodsCalled = (fleet: FleetHandle, n: number): ReadonlyArray<string> => fleet.state(n)!.rpcLog.map((entry) => entry.method)
