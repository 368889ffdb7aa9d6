import type { Effect } from "effect"
import { Context } from "effect"
import type { BackendFailure } from "../domain/errors/factory.js"
import type { BatchInfo, Registration, RegistrationResult } from "./registration.js"

/** The provisioning service (runbook "API Endpoints"); idempotent per device id. */
export interface BackendService {
  readonly url: string
  /** `POST /api/admin/device-registrations`; a repeat returns the existing registration (`created: false`). */
  readonly register: (registration: Registration) => Effect.Effect<RegistrationResult, BackendFailure>
  /** `POST /api/admin/provisioning/bulk`: one result per device, each idempotent. */
  readonly registerBulk: (
    batchId: string,
    registrations: ReadonlyArray<Registration>
  ) => Effect.Effect<ReadonlyArray<RegistrationResult>, BackendFailure>
  /** `GET /api/admin/provisioning/batches` */
  readonly listBatches: Effect.Effect<ReadonlyArray<BatchInfo>, BackendFailure>
}

export class Backend extends Context.Tag("fleet-provision/Backend")<Backend, BackendService>() {}
