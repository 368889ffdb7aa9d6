import type { Duration, Effect, Redacted, Schema } from "effect"
import { Context } from "effect"

/** Where a device answers. `port` is 80 on real devices; simulators use a high port. */
export interface DeviceTarget {
  readonly host: string
  readonly port: number
  /** Device admin password (user is always `admin`); enables digest auth on 401. */
  readonly password?: Redacted.Redacted<string> | undefined
  /** Talk HTTPS instead of HTTP (devices with a server certificate; port 443 on real ones). */
  readonly tls?: DeviceTls | undefined
}

/**
 * A device's certificate is not one a public CA vouches for (Shelly's internal
 * PKI or self-signed: src/shelly/certPins.ts), so it is checked against a pin
 * instead. With `pinned`, each connection's certificate is compared after the
 * TLS handshake and before a byte of the request goes out; another one fails
 * the call with `CertificateChanged`. Without, any certificate is taken (first use).
 */
export interface DeviceTls {
  readonly pinned?: { readonly sha256: string; readonly mac: string; readonly file: string } | undefined
  /** Told the SHA-256 fingerprint (`AB:CD:…`) of every certificate the device presents. */
  readonly seen?: ((sha256: string) => void) | undefined
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
