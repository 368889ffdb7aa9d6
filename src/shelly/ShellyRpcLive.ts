/**
 * Live `ShellyRpc` over @effect/platform's HttpClient (node:http underneath).
 *
 * Devices close every connection, so each call gets its own non-keep-alive
 * agent: no pooled sockets, no global connection cap (hundreds of calls in
 * flight do not queue), and the agent tells us whether the TCP connection was
 * up when a timeout struck — the difference between `DeviceUnreachable`
 * (nothing answered the SYN) and `RpcTimeout` (connected, no answer).
 * A timeout interrupts the request, which aborts it and frees its socket.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import type { HttpClientError } from "@effect/platform/HttpClientError"
import { NodeHttpClient } from "@effect/platform-node"
import { Duration, Effect, Either, Layer, ParseResult, Redacted, Schema } from "effect"
import * as Http from "node:http"
import * as Https from "node:https"
import * as Net from "node:net"
import {
  AuthRequired,
  DeviceUnreachable,
  ResponseInvalid,
  RpcError,
  RpcHttp500,
  type RpcFailure,
  RpcTimeout
} from "../domain/errors/shelly.js"
import { authorizationHeader, freshCnonce, parseDigestChallenge } from "./digest.js"
import { rpcGetPath } from "./query.js"
import { type CallOptions, type DeviceTarget, ShellyRpc, type ShellyRpcService } from "./ShellyRpc.js"
import { ResponseFrame, RpcErrorBody, ShellyIdentity } from "./schemas.js"

export interface ShellyRpcConfig {
  /** Timeout of a call (both exchanges when digest auth answers 401 first). */
  readonly defaultTimeout: Duration.DurationInput
  /** `src` of JSON-RPC frames; the device echoes it as `dst`. */
  readonly source: string
}

export const defaultShellyRpcConfig: ShellyRpcConfig = { defaultTimeout: "5 seconds", source: "fleet-provision" }

const EXCERPT_CHARS = 160

/** An agent for one call that remembers whether its latest socket finished the TCP handshake. */
class CallAgent extends Http.Agent {
  connected = false
  constructor() {
    super({ keepAlive: false })
  }
  // Returning the socket (not using the callback) is how node's own agent hands it over.
  override createConnection(options: Http.ClientRequestArgs) {
    this.connected = false
    const socket = Net.createConnection(options as Net.NetConnectOpts)
    socket.once("connect", () => {
      this.connected = true
    })
    return socket
  }
}

// Never used (devices speak plain HTTP) but the HttpAgent service requires one.
const unusedHttpsAgent = new Https.Agent({ keepAlive: false })

const hostPort = (target: DeviceTarget): string =>
  target.host.includes(":") ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`

interface Exchange {
  readonly status: number
  readonly wwwAuthenticate: string | undefined
  readonly body: string
}

interface CallContext {
  readonly device: string
  readonly method: string
}

const excerpt = (text: string): string => (text.length > EXCERPT_CHARS ? `${text.slice(0, EXCERPT_CHARS)}…` : text)

const transportReason = (cause: unknown): string => {
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : undefined
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused"
    case "EHOSTUNREACH":
      return "host unreachable"
    case "ENETUNREACH":
      return "network unreachable"
    case "ETIMEDOUT":
      return "connect timed out"
    case "ECONNRESET":
      return "connection reset"
    case "EADDRNOTAVAIL":
      return "address not available"
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host name not resolved"
    default:
      return cause instanceof Error ? cause.message : String(cause)
  }
}

const parseJson = Schema.decodeUnknownEither(Schema.parseJson())

const describeParseError = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const first = issues[0]
  if (first === undefined) return "unexpected shape"
  const path = first.path.length === 0 ? "result" : first.path.map(String).join(".")
  const more = issues.length > 1 ? ` (+${issues.length - 1} more)` : ""
  return `${path}: ${first.message}${more}`
}

/** The body of an HTTP error answer: `{code,message}` when the device sent one. */
const errorBody = (body: string): RpcErrorBody | undefined =>
  Either.getOrUndefined(Either.flatMap(parseJson(body), Schema.decodeUnknownEither(RpcErrorBody)))

const failForStatus = (ctx: CallContext, exchange: Exchange): RpcFailure => {
  const parsed = errorBody(exchange.body)
  if (exchange.status === 500) {
    return new RpcHttp500({
      ...ctx,
      rpcCode: parsed?.code ?? null,
      rpcMessage: parsed?.message ?? (exchange.body === "" ? "empty body" : excerpt(exchange.body))
    })
  }
  if (exchange.status === 404) {
    return new RpcError({ ...ctx, rpcCode: parsed?.code ?? 404, rpcMessage: parsed?.message ?? `No handler for ${ctx.method}` })
  }
  return new RpcError({
    ...ctx,
    rpcCode: parsed?.code ?? exchange.status,
    rpcMessage: parsed?.message ?? `HTTP ${exchange.status}${exchange.body === "" ? "" : `: ${excerpt(exchange.body)}`}`
  })
}

const decodeResult = <A, I>(ctx: CallContext, schema: Schema.Schema<A, I>, value: unknown, raw: string) =>
  Effect.mapError(
    Schema.decodeUnknown(schema)(value),
    (error) => new ResponseInvalid({ ...ctx, reason: describeParseError(error), excerpt: excerpt(raw) })
  )

const parseBody = (ctx: CallContext, body: string): Effect.Effect<unknown, ResponseInvalid> =>
  // A method that returns nothing may answer with an empty body over GET.
  body.trim() === ""
    ? Effect.succeed(null)
    : Either.match(parseJson(body), {
        onLeft: () => Effect.fail(new ResponseInvalid({ ...ctx, reason: "not JSON", excerpt: excerpt(body) })),
        onRight: Effect.succeed
      })

export const makeShellyRpc = (config: ShellyRpcConfig = defaultShellyRpcConfig): ShellyRpcService => {
  let nextFrameId = 1

  /**
   * Runs one call: an exchange, and after a 401 with a password exactly one
   * more with a digest Authorization; the whole call under one timeout.
   */
  const run = (
    target: DeviceTarget,
    ctx: CallContext,
    build: () => HttpClientRequest.HttpClientRequest,
    options: CallOptions | undefined
  ): Effect.Effect<Exchange, RpcFailure> => {
    const timeout = Duration.decode(options?.timeout ?? config.defaultTimeout)
    return Effect.suspend(() => {
      const agent = new CallAgent()
      const client = NodeHttpClient.make.pipe(
        Effect.provideService(NodeHttpClient.HttpAgent, {
          [NodeHttpClient.HttpAgentTypeId]: NodeHttpClient.HttpAgentTypeId,
          http: agent,
          https: unusedHttpsAgent
        }),
        Effect.map(HttpClient.withTracerDisabledWhen(() => true))
      )

      const exchange = (request: HttpClientRequest.HttpClientRequest): Effect.Effect<Exchange, RpcFailure> =>
        Effect.flatMap(client, (http) => http.execute(request)).pipe(
          Effect.flatMap((response) =>
            Effect.map(response.text, (body) => ({
              status: response.status,
              wwwAuthenticate: response.headers["www-authenticate"],
              body
            }))
          ),
          Effect.mapError((error: HttpClientError): RpcFailure =>
            error._tag === "RequestError"
              ? new DeviceUnreachable({ ...ctx, reason: transportReason(error.cause) })
              : new ResponseInvalid({ ...ctx, reason: `answer broke off: ${transportReason(error.cause)}`, excerpt: "" })
          )
        )

      const withAuth = Effect.gen(function* () {
        const request = build()
        const first = yield* exchange(request)
        if (first.status !== 401) return first
        const challenge = parseDigestChallenge(first.wwwAuthenticate)
        if (target.password === undefined || challenge === undefined) {
          return yield* new AuthRequired({ ...ctx, passwordSent: false, realm: challenge?.realm ?? null })
        }
        const url = new URL(request.url)
        const authorization = authorizationHeader({
          challenge,
          password: Redacted.value(target.password),
          httpMethod: request.method,
          uri: url.pathname + url.search,
          cnonce: freshCnonce()
        })
        const second = yield* exchange(HttpClientRequest.setHeader(build(), "Authorization", authorization))
        if (second.status === 401) {
          return yield* new AuthRequired({ ...ctx, passwordSent: true, realm: challenge.realm })
        }
        return second
      })

      return withAuth.pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: (): RpcFailure =>
            agent.connected
              ? new RpcTimeout({ ...ctx, timeoutMs: Duration.toMillis(timeout) })
              : new DeviceUnreachable({ ...ctx, reason: `no connection within ${Duration.toMillis(timeout)} ms` })
        }),
        Effect.ensuring(Effect.sync(() => agent.destroy()))
      )
    })
  }

  const baseUrl = (target: DeviceTarget): string => `http://${hostPort(target)}`

  const callGet = <A, I>(
    target: DeviceTarget,
    method: string,
    params: Readonly<Record<string, unknown>> | undefined,
    schema: Schema.Schema<A, I>,
    options: CallOptions | undefined
  ): Effect.Effect<A, RpcFailure> => {
    const ctx = { device: hostPort(target), method }
    const url = `${baseUrl(target)}${rpcGetPath(method, params)}`
    return run(target, ctx, () => HttpClientRequest.get(url, { headers: { Connection: "close" } }), options).pipe(
      Effect.flatMap((exchange) =>
        exchange.status >= 200 && exchange.status < 300
          ? Effect.flatMap(parseBody(ctx, exchange.body), (value) => decodeResult(ctx, schema, value, exchange.body))
          : Effect.fail(failForStatus(ctx, exchange))
      )
    )
  }

  const callPost = <A, I>(
    target: DeviceTarget,
    method: string,
    params: Readonly<Record<string, unknown>> | undefined,
    schema: Schema.Schema<A, I>,
    options: CallOptions | undefined
  ): Effect.Effect<A, RpcFailure> => {
    const ctx = { device: hostPort(target), method }
    const id = nextFrameId++
    const frame = JSON.stringify({ id, src: config.source, method, ...(params === undefined ? {} : { params }) })
    const build = () =>
      HttpClientRequest.post(`${baseUrl(target)}/rpc`, { headers: { Connection: "close" } }).pipe(
        HttpClientRequest.bodyText(frame, "application/json")
      )
    return run(target, ctx, build, options).pipe(
      Effect.flatMap((exchange) => {
        if (exchange.status < 200 || exchange.status >= 300) return Effect.fail(failForStatus(ctx, exchange))
        return parseBody(ctx, exchange.body).pipe(
          Effect.flatMap((value) =>
            Effect.mapError(
              Schema.decodeUnknown(ResponseFrame)(value),
              (error) =>
                new ResponseInvalid({ ...ctx, reason: `not a JSON-RPC frame: ${describeParseError(error)}`, excerpt: excerpt(exchange.body) })
            )
          ),
          Effect.flatMap((answer): Effect.Effect<A, RpcFailure> => {
            if (answer.id !== id) {
              return Effect.fail(
                new ResponseInvalid({ ...ctx, reason: `frame id ${answer.id} does not match request id ${id}`, excerpt: excerpt(exchange.body) })
              )
            }
            if (answer.error !== undefined) {
              return answer.error.code === 401
                ? Effect.fail(new AuthRequired({ ...ctx, passwordSent: target.password !== undefined, realm: null }))
                : Effect.fail(new RpcError({ ...ctx, rpcCode: answer.error.code, rpcMessage: answer.error.message }))
            }
            return decodeResult(ctx, schema, answer.result ?? null, exchange.body)
          })
        )
      })
    )
  }

  const call: ShellyRpcService["call"] = (target, method, params, schema, options) =>
    options?.transport === "post"
      ? callPost(target, method, params, schema, options)
      : callGet(target, method, params, schema, options)

  const getShelly: ShellyRpcService["getShelly"] = (target, options) => {
    const ctx = { device: hostPort(target), method: "GET /shelly" }
    return run(target, ctx, () => HttpClientRequest.get(`${baseUrl(target)}/shelly`, { headers: { Connection: "close" } }), options).pipe(
      Effect.flatMap((exchange) =>
        exchange.status >= 200 && exchange.status < 300
          ? Effect.flatMap(parseBody(ctx, exchange.body), (value) => decodeResult(ctx, ShellyIdentity, value, exchange.body))
          : Effect.fail(failForStatus(ctx, exchange))
      )
    )
  }

  const probe: ShellyRpcService["probe"] = (target, timeout) =>
    Effect.async<boolean>((resume) => {
      const socket = Net.createConnection({ host: target.host, port: target.port })
      socket.once("connect", () => {
        socket.destroy()
        resume(Effect.succeed(true))
      })
      socket.once("error", () => {
        socket.destroy()
        resume(Effect.succeed(false))
      })
      return Effect.sync(() => socket.destroy())
    }).pipe(Effect.timeoutTo({ duration: timeout, onTimeout: () => false, onSuccess: (up) => up }))

  return { call, getShelly, probe }
}

export const layer = (config: Partial<ShellyRpcConfig> = {}): Layer.Layer<ShellyRpc> =>
  Layer.sync(ShellyRpc, () => makeShellyRpc({ ...defaultShellyRpcConfig, ...config }))

/** The client with its defaults: 5 s per call, frames from `fleet-provision`. */
export const ShellyRpcLive: Layer.Layer<ShellyRpc> = layer()
