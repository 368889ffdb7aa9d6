// Wifi layer for tests and the demo: drives the Shelly simulator's control
// API (`/wifi/*`). Joining a device's AP makes the simulator route its AP
// address (`stage1.ap_ip`, 127.0.33.1 in the demo) to that device.
import { HttpClient, HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { Duration, Effect, Layer, Option, Redacted, Ref, Schema } from "effect"
import { WifiCommandFailed, WifiConnectFailed } from "../domain/errors/wifi.js"
import { Wifi } from "./Wifi.js"
import type { AccessPoint, WifiConnection, WifiService } from "./Wifi.js"

export interface SimulatedWifiOptions {
  /** e.g. `http://127.0.0.1:40123` (the simulator's `controlUrl`). */
  readonly controlUrl: string
  readonly iface?: string | undefined
  /** What the interface is connected to before provisioning (restored afterwards). */
  readonly initial?: WifiConnection | undefined
  readonly timeout?: Duration.DurationInput | undefined
}

const SimAp = Schema.Struct({ ssid: Schema.String, bssid: Schema.String, signal: Schema.Number, security: Schema.String })
const ScanBody = Schema.Struct({ aps: Schema.Array(SimAp) })
const Problem = Schema.Struct({ error: Schema.String })

/** dBm → 0–100 quality, the way NetworkManager reports it. */
const quality = (dbm: number): number => Math.max(0, Math.min(100, Math.round(2 * (dbm + 100))))

export const makeSimulatedWifi = (options: SimulatedWifiOptions): Effect.Effect<WifiService, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const iface = options.iface ?? "wlan0"
    const timeout = options.timeout ?? "5 seconds"
    const state = yield* Ref.make(Option.fromNullable(options.initial))
    const url = (path: string) => `${options.controlUrl.replace(/\/$/, "")}${path}`

    const failed = (operation: string) => (error: { readonly message: string }) =>
      new WifiCommandFailed({ iface, operation, reason: error.message })

    const post = (operation: string, path: string, body: unknown, ssid?: string) =>
      HttpClientRequest.post(url(path)).pipe(
        HttpClientRequest.bodyJson(body),
        Effect.flatMap(client.execute),
        Effect.flatMap((response) =>
          response.status < 400
            ? Effect.void
            : HttpClientResponse.schemaBodyJson(Problem)(response).pipe(
                Effect.flatMap(({ error }) =>
                  Effect.fail(
                    ssid !== undefined
                      ? new WifiConnectFailed({ iface, ssid, reason: error })
                      : new WifiCommandFailed({ iface, operation, reason: error })
                  )
                )
              )
        ),
        Effect.scoped,
        Effect.timeout(timeout),
        Effect.catchTags({
          TimeoutException: failed(operation),
          RequestError: failed(operation),
          ResponseError: failed(operation),
          HttpBodyError: (error) => new WifiCommandFailed({ iface, operation, reason: String(error.reason._tag) }),
          ParseError: failed(operation)
        } as const)
      )

    const service: WifiService = {
      iface,
      scan: () =>
        client.get(url("/wifi/scan")).pipe(
          Effect.flatMap(HttpClientResponse.schemaBodyJson(ScanBody)),
          Effect.scoped,
          Effect.timeout(timeout),
          Effect.map(({ aps }) =>
            aps.map(
              (ap): AccessPoint => ({
                ssid: ap.ssid,
                bssid: ap.bssid.toUpperCase(),
                signal: quality(ap.signal),
                security: ap.security === "open" ? "open" : ap.security.toUpperCase()
              })
            )
          ),
          Effect.catchAll((error) => Effect.fail(failed("scan")(error)))
        ),
      connect: (network) =>
        Effect.gen(function* () {
          const body =
            network.password === undefined ? { ssid: network.ssid } : { ssid: network.ssid, password: Redacted.value(network.password) }
          yield* post("connect", "/wifi/connect", body, network.ssid)
          const connection = { ssid: network.ssid, profile: network.ssid }
          yield* Ref.set(state, Option.some(connection))
          return connection
        }),
      current: () => Ref.get(state),
      restore: (previous) =>
        Option.match(previous, {
          onNone: () => post("disconnect", "/wifi/disconnect", {}),
          onSome: (connection) => post("restore connection", "/wifi/connect", { ssid: connection.ssid }, connection.ssid)
        }).pipe(Effect.zipRight(Ref.set(state, previous)))
    }
    return service
  })

export const SimulatedWifiLive = (options: SimulatedWifiOptions): Layer.Layer<Wifi, never, HttpClient.HttpClient> =>
  Layer.effect(Wifi, makeSimulatedWifi(options))
