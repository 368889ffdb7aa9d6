import { HttpClient, HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { Duration, Effect, Layer, type Redacted, Schedule, Schema } from "effect"
import { BackendRejected, BackendUnavailable } from "../domain/errors/factory.js"
import { Backend, type BackendService } from "./Backend.js"
import { BatchInfo, Registration, RegistrationResult } from "./registration.js"

export interface BackendOptions {
  /** e.g. `http://localhost:3002` (provisioning_service_url). */
  readonly url: string
  readonly token: Redacted.Redacted<string>
  /** Per request attempt. */
  readonly timeout?: Duration.DurationInput
  /** Retries after the first attempt on 5xx, 408/429, timeouts and refused connections. */
  readonly retries?: number
  readonly retryBase?: Duration.DurationInput
}

const RegisterResponse = Schema.Struct({ created: Schema.Boolean, registration: Schema.Struct({ device_id: Schema.String }) })
const BulkResponse = Schema.Struct({ results: Schema.Array(RegistrationResult) })
const BatchesResponse = Schema.Struct({ batches: Schema.Array(BatchInfo) })
const BulkBody = Schema.Struct({ batch_id: Schema.String, devices: Schema.Array(Registration) })

const isTransientStatus = (status: number) => status === 408 || status === 429 || status >= 500

export const makeBackend = (options: BackendOptions) =>
  Effect.gen(function* () {
    const base = options.url.replace(/\/+$/, "")
    const schedule = Schedule.exponential(options.retryBase ?? Duration.millis(250), 2).pipe(
      Schedule.jittered,
      Schedule.intersect(Schedule.recurs(options.retries ?? 3))
    )
    const client = (yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest(HttpClientRequest.prependUrl(base)),
      HttpClient.mapRequest(HttpClientRequest.bearerToken(options.token)),
      HttpClient.mapRequest(HttpClientRequest.acceptJson),
      HttpClient.transformResponse(Effect.timeout(options.timeout ?? Duration.seconds(10))),
      HttpClient.retryTransient({ schedule, mode: "both" })
    )

    /** Sends, then sorts the outcome into the two things an operator can act on. */
    const call = <A, I>(request: HttpClientRequest.HttpClientRequest, schema: Schema.Schema<A, I>) =>
      client.execute(request).pipe(
        Effect.catchAll((error) =>
          Effect.fail(
            error._tag === "TimeoutException"
              ? new BackendUnavailable({ url: base, detail: "no answer in time" })
              : new BackendUnavailable({
                  url: base,
                  detail:
                    error._tag === "RequestError"
                      ? `${error.reason}: ${error.cause instanceof Error ? error.cause.message : error.message}`
                      : error.message
                })
          )
        ),
        Effect.flatMap((response) =>
          response.status >= 200 && response.status < 300
            ? HttpClientResponse.schemaBodyJson(schema)(response).pipe(
                Effect.mapError(() => new BackendRejected({ url: base, status: response.status, detail: "unexpected response body" }))
              )
            : response.text.pipe(
                Effect.orElseSucceed(() => ""),
                Effect.flatMap((text) =>
                  Effect.fail(
                    isTransientStatus(response.status)
                      ? new BackendUnavailable({ url: base, detail: `HTTP ${response.status} after retries` })
                      : new BackendRejected({ url: base, status: response.status, detail: text.slice(0, 200) || `HTTP ${response.status}` })
                  )
                )
              )
        )
      )

    const encodeError = (error: { readonly reason: unknown }) =>
      new BackendRejected({
        url: base,
        status: 0,
        detail: `cannot encode request: ${String((error.reason as { _tag?: string })?._tag ?? "body error")}`
      })

    const service: BackendService = {
      url: base,
      register: (registration) =>
        HttpClientRequest.post("/api/admin/device-registrations").pipe(
          HttpClientRequest.setHeader("idempotency-key", registration.device_id),
          HttpClientRequest.schemaBodyJson(Registration)(registration),
          Effect.mapError(encodeError),
          Effect.flatMap((request) => call(request, RegisterResponse)),
          Effect.map((body) => ({ device_id: body.registration.device_id, created: body.created }))
        ),
      registerBulk: (batchId, registrations) =>
        HttpClientRequest.post("/api/admin/provisioning/bulk").pipe(
          HttpClientRequest.setHeader(
            "idempotency-key",
            `bulk-${batchId}-${registrations.map((r) => r.device_id).join(",")}`.slice(0, 200)
          ),
          HttpClientRequest.schemaBodyJson(BulkBody)({ batch_id: batchId, devices: registrations }),
          Effect.mapError(encodeError),
          Effect.flatMap((request) => call(request, BulkResponse)),
          Effect.map((body) => body.results)
        ),
      listBatches: call(HttpClientRequest.get("/api/admin/provisioning/batches"), BatchesResponse).pipe(Effect.map((body) => body.batches))
    }
    return service
  })

/** Needs an HttpClient (NodeHttpClient.layer in the CLI). */
export const BackendLive = (options: BackendOptions) => Layer.effect(Backend, makeBackend(options))
