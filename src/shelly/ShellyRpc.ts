import type { Duration, Effect, Redacted, Schema } from "effect"
import { Context } from "effect"

/** Where a device answers. `port` is 80 on real devices; simulators use a high port. */
export interface DeviceTarget {
  readonly host: string
  readonly port: number
  /** Device admin password (user is always `admin`); enables digest auth on 401. */
  readonly password?: Redacted.Redacted<string> | undefined
}

export interface CallOptions {
  /** Per-call timeout; defaults to the client's configured timeout. */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * `get`: `GET /rpc/<Method>?k=<compact JSON>` (the runbook's form);
   * `post`: `POST /rpc` with a JSON-RPC frame. Default `get`.
   */
  readonly transport?: "get" | "post" | undefined
  /**
   * Fail with `DeviceUnreachable` when the TCP handshake takes longer than
   * this (within `timeout`): the connect of the call doubles as a reachability
   * probe, so a live device costs one connection, not a probe plus a call.
   */
  readonly connectTimeout?: Duration.DurationInput | undefined
}

/**
 * The Shelly Gen2+ RPC client. One HTTP request per call (devices close every
 * connection). Errors are the `RpcFailure` union from `domain/errors/shelly.ts`.
 * Typed per-method helpers live in `shelly/methods.ts`.
 */
export interface ShellyRpcService {
  readonly call: <A, I>(
    target: DeviceTarget,
    method: string,
    params: Readonly<Record<string, unknown>> | undefined,
    resultSchema: Schema.Schema<A, I>,
    options?: CallOptions
  ) => Effect.Effect<A, import("../domain/errors/shelly.js").RpcFailure>
  /** `GET /shelly` — answers without auth; used for discovery and identity checks. */
  readonly getShelly: (
    target: DeviceTarget,
    options?: CallOptions
  ) => Effect.Effect<import("./schemas.js").ShellyIdentity, import("../domain/errors/shelly.js").RpcFailure>
  /** TCP connect probe to the HTTP port (in place of ICMP ping, which needs privileges). */
  readonly probe: (target: DeviceTarget, timeout: Duration.DurationInput) => Effect.Effect<boolean>
}

export class ShellyRpc extends Context.Tag("fleet-provision/ShellyRpc")<ShellyRpc, ShellyRpcService>() {}
