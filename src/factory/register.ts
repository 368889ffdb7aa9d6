import { Chunk, Effect } from "effect"
import type { OperatorError } from "../domain/errors/base.js"
import { Backend } from "./Backend.js"
import type { Registration } from "./registration.js"
import { RegistrationQueue } from "./RegistrationQueue.js"

export type RegistrationStatus = "registered" | "already_registered" | "queued"

export interface RegistrationOutcome {
  readonly status: RegistrationStatus
  /** Why it was queued (backend down, token refused …). */
  readonly problem?: OperatorError | undefined
}

/**
 * Registers one device; when the backend cannot take it, the registration
 * goes to the local queue instead — the board itself is fine, so it still
 * passes, and `provision flash sync` delivers the registration later.
 */
export const registerOrQueue = (registration: Registration) =>
  Effect.gen(function* () {
    const backend = yield* Backend
    const queue = yield* RegistrationQueue
    return yield* backend.register(registration).pipe(
      Effect.map((result): RegistrationOutcome => ({ status: result.created ? "registered" : "already_registered" })),
      Effect.catchAll((problem) => queue.enqueue(registration).pipe(Effect.as<RegistrationOutcome>({ status: "queued", problem })))
    )
  })

export interface SyncSummary {
  readonly pending: number
  readonly delivered: number
  readonly created: number
  readonly existing: number
  readonly remaining: number
  readonly unreadable: number
  readonly failures: ReadonlyArray<{ readonly batchId: string; readonly devices: number; readonly error: OperatorError }>
}

/**
 * Delivers the queue through the bulk endpoint, per batch in chunks; each
 * delivered chunk leaves the queue at once, so an interruption repeats at
 * most one chunk (harmless: registrations are idempotent per device id).
 */
export const syncQueue = (options: { readonly chunkSize?: number } = {}) =>
  Effect.gen(function* () {
    const backend = yield* Backend
    const queue = yield* RegistrationQueue
    const { entries, unreadable } = yield* queue.read
    // A device queued twice (flashed twice while offline) is sent once; the backend keeps the first.
    const unique = new Map<string, Registration>()
    for (const entry of entries) if (!unique.has(entry.device_id)) unique.set(entry.device_id, entry)
    const byBatch = new Map<string, Array<Registration>>()
    for (const entry of unique.values()) byBatch.set(entry.batch_id, [...(byBatch.get(entry.batch_id) ?? []), entry])

    let delivered = 0
    let created = 0
    let existing = 0
    const failures: Array<SyncSummary["failures"][number]> = []
    for (const [batchId, registrations] of byBatch) {
      for (const chunk of Chunk.chunksOf(Chunk.fromIterable(registrations), options.chunkSize ?? 50)) {
        const devices = Chunk.toReadonlyArray(chunk)
        const outcome = yield* backend.registerBulk(batchId, devices).pipe(Effect.either)
        if (outcome._tag === "Left") {
          failures.push({ batchId, devices: devices.length, error: outcome.left })
          continue
        }
        yield* queue.remove(new Set(devices.map((device) => device.device_id)))
        delivered += devices.length
        for (const result of outcome.right) result.created ? (created += 1) : (existing += 1)
      }
    }
    const after = yield* queue.read
    const summary: SyncSummary = {
      pending: unique.size,
      delivered,
      created,
      existing,
      remaining: after.entries.length,
      unreadable,
      failures
    }
    return summary
  })
