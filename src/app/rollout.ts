/**
 * A staged Stage 3 rollout as a whole run: wave by wave over `runStage3`,
 * each wave's results written to ip_state.json (with a `stage3.rollout`
 * mark per device) and the rollout's progress to its state file, both by
 * safe write, before the next wave starts. A wave ends when every device in
 * it is verified or has failed; more than `haltAfter` failures halt the
 * rollout and leave the later waves untouched. `--resume` reads the state
 * file and the marks and continues with the devices that have no result in
 * this rollout yet, so no device is updated twice.
 */
import { FileSystem, Path } from "@effect/platform"
import { Clock, Effect, Either, Schema } from "effect"
import { RolloutStateInvalid } from "../domain/errors/firmware.js"
import type { InventoryDevice, InventoryDocument, Json } from "../inventory/Inventory.js"
import { Inventory } from "../inventory/Inventory.js"
import { mergeRecord } from "../inventory/edit.js"
import { safeWriteFile } from "../runtime/safeWrite.js"
import { applyStage3Results, runStage3, type Stage3DeviceOutcome, type Stage3Settings } from "../stages/stage3.js"
import { parseWaves, planWaves, rolloutMarkOf, RolloutState, type WaveState } from "../stages/stage3/rollout.js"

export interface RolloutPlan {
  readonly spec: string
  readonly haltAfter: number
  readonly groupBy: string | undefined
}

export interface RolloutRequest {
  /** The selected devices (a new rollout) or the inventory (resume: the plan's MACs are looked up in it). */
  readonly devices: ReadonlyArray<InventoryDevice>
  readonly settings: Stage3Settings
  /** A new rollout, or `resume`. */
  readonly plan: RolloutPlan | "resume"
  readonly stateFile: string
  readonly ipStateFile: string
  readonly startedAt: string
  /** What it installs, recorded in the state for the operator and the web UI. */
  readonly target: Readonly<Record<string, string>>
  readonly channel: string
  readonly onResult: (result: Stage3DeviceOutcome) => Effect.Effect<void>
  /** Rollout lines (`[rollout] …`), or JSON objects with `--json`. */
  readonly out: (line: string) => void
  /** Warnings (stderr), so `--json` output stays JSON Lines. */
  readonly err: (line: string) => void
  readonly json: boolean
}

export interface RolloutOutcome {
  readonly results: ReadonlyArray<Stage3DeviceOutcome>
  readonly state: RolloutState
  readonly halted: boolean
}

const decodeState = Schema.decodeUnknownEither(Schema.parseJson(RolloutState))

/** The state file, or undefined when there is none. */
export const loadRolloutState = (file: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.map((t): string | undefined => t),
      Effect.catchIf(
        (e) => e._tag === "SystemError" && e.reason === "NotFound",
        () => Effect.succeed(undefined)
      ),
      Effect.mapError((e) => new RolloutStateInvalid({ path: file, reason: e.message, fix: "check the file's permissions" }))
    )
    if (text === undefined) return undefined
    const decoded = decodeState(text)
    if (Either.isLeft(decoded)) {
      return yield* new RolloutStateInvalid({
        path: file,
        reason: `not a rollout state (${decoded.left.message.split("\n")[0]})`,
        fix: `restore it from ${file}.bak, or move it away to start a new rollout`
      })
    }
    return decoded.right
  })

const writeState = (file: string, state: RolloutState) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    yield* fs.makeDirectory(path.dirname(file), { recursive: true }).pipe(Effect.ignore)
    yield* safeWriteFile(file, `${JSON.stringify(state, null, 2)}\n`)
  })

/** ip_state.json after a wave: the Stage 3 results plus each device's `stage3.rollout` mark. */
export const applyWave = (
  document: InventoryDocument,
  results: ReadonlyArray<Stage3DeviceOutcome>,
  lastRun: string,
  rolloutId: string,
  wave: number
): InventoryDocument => {
  const applied = applyStage3Results(document, results, lastRun)
  const byMac = new Map(results.map((r) => [r.mac as string, r]))
  return {
    ...applied,
    devices: applied.devices.map((device) => {
      const result = byMac.get(device.mac)
      if (result === undefined) return device
      const mark: { [key: string]: Json } = { id: rolloutId, wave, result: result.failed ? "failed" : "ok" }
      return { ...device, record: mergeRecord(device.record, { stage3: { rollout: mark } }) }
    })
  }
}

const now = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

export const runRollout = (request: RolloutRequest) =>
  Effect.gen(function* () {
    const inventory = yield* Inventory
    const dryRun = request.settings.dryRun
    const say = (text: string, json: Record<string, Json>) =>
      request.out(request.json ? JSON.stringify({ type: "rollout", ...json }) : text)

    // --- the plan: new, or the one being resumed --------------------------------
    let state: RolloutState
    const previous = yield* loadRolloutState(request.stateFile)
    if (request.plan === "resume") {
      if (previous === undefined) {
        return yield* new RolloutStateInvalid({
          path: request.stateFile,
          reason: "no rollout to resume",
          fix: "start one with --rollout 5%,25%,100%"
        })
      }
      if (previous.status === "done") {
        return yield* new RolloutStateInvalid({
          path: request.stateFile,
          reason: `rollout ${previous.id} is already done`,
          fix: "start a new one with --rollout (without --resume)"
        })
      }
      state = { ...previous, status: "running", halt_reason: null }
      say(`[rollout ${state.id}] resuming (${previous.status}); waves ${state.waves_spec}, halt after ${state.halt_after}`, {
        event: "resume",
        id: state.id,
        was: previous.status
      })
    } else {
      const percents = parseWaves(request.plan.spec)
      if (Either.isLeft(percents)) {
        return yield* new RolloutStateInvalid({
          path: request.stateFile,
          reason: `--rollout: ${percents.left}`,
          fix: "give waves as --rollout 5%,25%,100%"
        })
      }
      if (previous !== undefined && previous.status !== "done" && !dryRun) {
        request.err(
          `warning: rollout ${previous.id} (${previous.status}) in ${request.stateFile} is replaced by a new one; --resume would have continued it`
        )
      }
      const waves = planWaves(request.devices, percents.right, request.plan.groupBy)
      state = {
        version: 1,
        id: request.startedAt,
        status: "running",
        waves_spec: percents.right.map((p) => `${p}%`).join(","),
        halt_after: request.plan.haltAfter,
        group_by: request.plan.groupBy ?? null,
        target: { ...request.target },
        channel: request.channel,
        ip_state_file: request.ipStateFile,
        started_at: request.startedAt,
        updated_at: request.startedAt,
        halt_reason: null,
        waves: waves.map(
          (devices, i): WaveState => ({
            index: i + 1,
            devices: devices.map((d) => d.mac),
            status: "pending",
            ok: 0,
            failed: 0,
            failures: []
          })
        )
      }
      say(
        `[rollout ${state.id}] ${state.waves.length} waves (${state.waves_spec}) over ${request.devices.length} devices, halt after ${state.halt_after} failed in a wave`,
        {
          event: "plan",
          id: state.id,
          waves: state.waves.map((w) => w.devices.length),
          halt_after: state.halt_after
        }
      )
    }
    const save = (s: RolloutState) =>
      dryRun ? Effect.void : Effect.flatMap(now, (at) => writeState(request.stateFile, { ...s, updated_at: at }))
    yield* save(state)

    // --- the waves ------------------------------------------------------------
    const byMac = new Map(request.devices.map((d) => [d.mac as string, d]))
    const all: Array<Stage3DeviceOutcome> = []
    const total = state.waves.length
    let halted = false
    for (let i = 0; i < total && !halted; i++) {
      const wave = state.waves[i]!
      if (wave.status === "done" || wave.status === "halted") continue
      // Resume: only devices without a result in this rollout (a crash mid-wave leaves some unmarked).
      const current = request.plan === "resume" ? yield* inventory.load(request.ipStateFile) : undefined
      const marked = new Set((current?.devices ?? []).filter((d) => rolloutMarkOf(d)?.id === state.id).map((d) => d.mac as string))
      const todo = wave.devices
        .filter((mac) => !marked.has(mac))
        .map((mac) => byMac.get(mac))
        .filter((d) => d !== undefined)
      const missing = wave.devices.filter((mac) => !marked.has(mac) && !byMac.has(mac))
      for (const mac of missing) request.err(`warning: ${mac} of wave ${wave.index} is no longer in ${request.ipStateFile}; skipped`)
      state = withWave(state, i, { ...wave, status: "running" })
      yield* save(state)
      say(
        `[rollout] wave ${wave.index}/${total}: ${todo.length} devices${todo.length < wave.devices.length ? ` (${wave.devices.length - todo.length} already done)` : ""}`,
        {
          event: "wave_start",
          wave: wave.index,
          devices: todo.length
        }
      )

      const results = yield* runStage3(todo, request.settings, request.onResult)
      all.push(...results)
      if (!dryRun && results.length > 0) {
        yield* inventory.update(request.ipStateFile, (doc) => applyWave(doc, results, request.startedAt, state.id, wave.index))
      }
      const failures = results
        .filter((r) => r.failed)
        .map((r) => ({ mac: r.mac as string, ip: r.ip, error: r.errors[0] ?? `OTA=${r.ota}` }))
      const ok = wave.ok + results.length - failures.length
      const failed = wave.failed + failures.length
      halted = failures.length > state.halt_after
      state = withWave(state, i, {
        ...wave,
        status: halted ? "halted" : "done",
        ok,
        failed,
        failures: [...wave.failures, ...failures]
      })
      say(`[rollout] wave ${wave.index}/${total} ${halted ? "failed" : "done"}: ok=${ok} failed=${failed}`, {
        event: "wave_end",
        wave: wave.index,
        ok,
        failed
      })
      if (halted) {
        const untouched = state.waves.slice(i + 1).reduce((n, w) => n + w.devices.length, 0)
        const reason = `${failures.length} failed in wave ${wave.index}/${total}, more than --halt-after ${state.halt_after}`
        state = { ...state, status: "halted", halt_reason: reason }
        say(`[rollout] HALTED: ${reason}; ${untouched} devices in later waves untouched`, {
          event: "halted",
          wave: wave.index,
          reason,
          untouched,
          failures: failures.map((f) => ({ ...f }))
        })
        if (!request.json) for (const f of failures) request.out(`  ${f.mac} @ ${f.ip}: ${f.error}`)
        if (!dryRun && !request.json) request.out(`[rollout] continue with: provision stage3 --resume   (failed devices: --retry-failed)`)
      }
      yield* save(state)
    }
    if (!halted) {
      state = { ...state, status: "done" }
      yield* save(state)
      const updated = all.filter((r) => r.ota === "updated").length
      say(`[rollout] done: ${total} waves, ${all.length} devices, updated=${updated} failed=${all.filter((r) => r.failed).length}`, {
        event: "done",
        devices: all.length,
        updated
      })
    }
    return { results: all, state, halted } satisfies RolloutOutcome
  })

const withWave = (state: RolloutState, index: number, wave: WaveState): RolloutState => ({
  ...state,
  waves: state.waves.map((w, i) => (i === index ? wave : w))
})
