/**
 * Live `ShellyRpc` on node:http directly.
 *
 * Why not @effect/platform's HttpClient (DESIGN.md's default): Stage 3 makes
 * thousands of short calls and was CPU-bound in this client. Measured on
 * loopback (2,000 Shelly.GetDeviceInfo calls, 32 in flight, simulator in its
 * own process, busy 2-core machine): HttpClient with a per-call agent cost
 * 2.3–2.9 ms CPU per call, mostly fibers, fiber refs and scopes it sets up per
 * request plus the per-call Agent; this path (one `Effect.async` per
 * exchange, plain timers for the deadline) costs 1.0–1.3 ms, against
 * 0.7–0.8 ms for a bare node:http GET in the same run.
 *
 * Devices close every connection, so there is no agent at all: each request
 * opens its own socket (no pooling, no global connection cap — hundreds of
 * calls in flight do not queue), and we see whether the TCP connection was up
 * when a timeout struck — the difference between `DeviceUnreachable`
 * (nothing answered the SYN) and `RpcTimeout` (connected, no answer).
 * When time is up, or the call is interrupted, the request and its socket are destroyed.
 */
import { Duration, Effect, Either, Layer, ParseResult, Redacted, Schedule, Schema } from "effect"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Tls from "node:tls"
import { CertificateChanged } from "../domain/errors/certPin.js"
import { BadHttpResponse, ResponseTooLarge } from "../domain/errors/deviceResponse.js"
import {
  AuthRequired,
  DeviceUnreachable,
  ResponseInvalid,
  RpcError,
  RpcHttp500,
  type RpcFailure,
  RpcTimeout
} from "../domain/errors/shelly.js"
import {
  authorizationHeader,
  defaultNonceCacheOptions,
  freshCnonce,
  NonceCache,
  type NonceCacheOptions,
  type NonceUse,
  parseDigestChallenge
} from "./digest.js"
import { isUrlNormalPath, rpcGetPath } from "./query.js"
import {
  defaultResponseLimits,
  httpParserFailure,
  loadResponseLimits,
  parseDeviceJson,
  readBody,
  type ResponseLimits
} from "./responseBody.js"
import { type CallOptions, type DeviceTarget, type DeviceTls, ShellyRpc, type ShellyRpcService } from "./ShellyRpc.js"
import { refuseGen1, ShellyAnswer } from "./gen1.js"
import { ResponseFrame, RpcErrorBody } from "./schemas.js"

export interface ShellyRpcConfig {
  /** Timeout of a call (both exchanges when digest auth answers 401 first). */
  readonly defaultTimeout: Duration.DurationInput
  /** `src` of JSON-RPC frames; the device echoes it as `dst`. */
  readonly source: string
  /** Digest nonce reuse per device; defaults: 10,000 devices, 50 min, 30,000 uses per nonce. */
  readonly nonceCache?: Partial<NonceCacheOptions> | undefined
  /** Caps on answers (body, headers, JSON depth); defaults in responseBody.ts. */
  readonly limits?: ResponseLimits | undefined
  /**
   * Waits between tries while a device answers HTTP 429 (firmware 2.x
   * throttling); bounded, and within the call's timeout. Default: 100 ms
   * doubling, jittered, 4 retries.
   */
  readonly throttleRetry?: Schedule.Schedule<unknown, unknown> | undefined
}

/** 100, 200, 400, 800 ms (jittered): about 1.5 s of backing off before the 429 stands. */
export const defaultThrottleRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential(Duration.millis(100), 2).pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(4))
)

/** An exchange answered 429: retried by the throttle schedule, then returned as the call's answer. */
class Throttled {
  readonly _tag = "Throttled"
  constructor(readonly exchange: Exchange) {}
}

/** A signed request answered 401 `stale=true`: re-sign with the new challenge. */
class StaleNonce {
  readonly _tag = "StaleNonce"
}

/** Re-signs after `stale=true` at most this often per call (2.x nonce table churn); then the 401 stands. */
const STALE_RESIGNS = 2

export const defaultShellyRpcConfig: ShellyRpcConfig = { defaultTimeout: "5 seconds", source: "fleet-provision" }

const EXCERPT_CHARS = 160

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

const describeParseError = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const first = issues[0]
  if (first === undefined) return "unexpected shape"
  const path = first.path.length === 0 ? "result" : first.path.map(String).join(".")
  const more = issues.length > 1 ? ` (+${issues.length - 1} more)` : ""
  return `${path}: ${first.message}${more}`
}

const decodeErrorBody = Schema.decodeUnknownEither(RpcErrorBody)
const decodeFrame = Schema.decodeUnknown(ResponseFrame)

/** The body of an HTTP error answer: `{code,message}` when the device sent one. */
const errorBody = (body: string, maxDepth: number): RpcErrorBody | undefined =>
  Either.getOrUndefined(Either.flatMap(parseDeviceJson(body, maxDepth), decodeErrorBody))

const failForStatus = (ctx: CallContext, exchange: Exchange, maxDepth: number): RpcFailure => {
  const parsed = errorBody(exchange.body, maxDepth)
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

// Callers pass the same few result schemas over and over; building the
// decoder once per schema keeps that work off the per-call path. Decoding is
// synchronous (an Either, itself an Effect): no fiber work per result.
const decoders = new WeakMap<object, (value: unknown) => Either.Either<unknown, ParseResult.ParseError>>()
const decoderFor = <A, I>(schema: Schema.Schema<A, I>): ((value: unknown) => Either.Either<A, ParseResult.ParseError>) => {
  let decoder = decoders.get(schema)
  if (decoder === undefined) {
    decoder = Schema.decodeUnknownEither(schema as Schema.Schema<unknown, I>)
    decoders.set(schema, decoder)
  }
  return decoder as (value: unknown) => Either.Either<A, ParseResult.ParseError>
}

const decodeResult = <A, I>(
  ctx: CallContext,
  schema: Schema.Schema<A, I>,
  value: unknown,
  raw: string
): Either.Either<A, ResponseInvalid> =>
  Either.mapLeft(
    decoderFor(schema)(value),
    (error) => new ResponseInvalid({ ...ctx, reason: describeParseError(error), excerpt: excerpt(raw) })
  )

const parseBody = (ctx: CallContext, body: string, maxDepth: number): Effect.Effect<unknown, ResponseInvalid> =>
  // A method that returns nothing may answer with an empty body over GET.
  body.trim() === ""
    ? Effect.succeed(null)
    : Either.match(parseDeviceJson(body, maxDepth), {
        onLeft: (reason) => Effect.fail(new ResponseInvalid({ ...ctx, reason, excerpt: excerpt(body) })),
        onRight: Effect.succeed
      })

interface Outgoing {
  readonly method: "GET" | "POST"
  /** Path and query exactly as sent (and as signed by digest auth). */
  readonly path: string
  readonly body?: string | undefined
}

/** One call's state shared by its exchanges. */
interface Link {
  /** Whether the socket of the latest exchange finished the TCP handshake. */
  connected: boolean
  /** `performance.now()` by which the whole call must be done. */
  readonly deadline: number
  readonly timeoutMs: number
  /** `CallOptions.connectTimeout` in ms, per exchange. */
  readonly connectTimeoutMs: number | undefined
  readonly limits: ResponseLimits
}

/**
 * Runs `decide` after the I/O that is already waiting. When the event loop
 * lags (a busy machine, thousands of calls), libuv runs due timers before it
 * polls sockets, so a connect that succeeded in time can still be unseen when
 * the connect timer fires; one `setImmediate` lets the poll phase deliver it
 * first instead of calling a live device offline.
 */
const afterPendingIo = (decide: () => void) => void setImmediate(decide)

const timedOut = (ctx: CallContext, link: Link): RpcFailure =>
  link.connected
    ? new RpcTimeout({ ...ctx, timeoutMs: link.timeoutMs })
    : new DeviceUnreachable({ ...ctx, reason: `no connection within ${link.timeoutMs} ms` })

/**
 * A TLS connection for `exchange` whose certificate is checked against the
 * target's pin after the handshake (`ready`) or refused (`refused`). The
 * device's certificate is never one a CA vouches for, so the chain is not
 * verified: the pin is the check (DeviceTls). TLS 1.2 is what devices speak
 * (Shelly KB "Shelly TLS: Supported Certs and Config"); no SNI for an address.
 */
const pinnedTlsConnection = (
  tls: DeviceTls,
  ctx: CallContext,
  options: Net.NetConnectOpts,
  link: Link,
  on: {
    readonly ready: () => void
    readonly refused: (error: CertificateChanged) => void
    readonly failed: (cause: Error) => void
  }
): Tls.TLSSocket => {
  const { host, port } = options as Net.TcpNetConnectOpts
  const socket = Tls.connect({ host, port, rejectUnauthorized: false, minVersion: "TLSv1.2" })
  // Until the request has the socket, its errors (refused connect, a device rebooting
  // mid-handshake) are the request's to report; unheard they would crash the process.
  const early = (cause: Error) => on.failed(cause)
  socket.once("error", early)
  socket.once("connect", () => {
    link.connected = true
  })
  socket.once("secureConnect", () => {
    socket.off("error", early)
    const presented = socket.getPeerCertificate().fingerprint256
    tls.seen?.(presented)
    const pinned = tls.pinned
    if (pinned === undefined || pinned.sha256 === presented) return on.ready()
    socket.destroy()
    on.refused(new CertificateChanged({ device: ctx.device, mac: pinned.mac, pinned: pinned.sha256, presented, pinFile: pinned.file }))
  })
  return socket
}

/**
 * One HTTP exchange on its own socket. A failure before the answer's head is
 * `DeviceUnreachable`; one while its body streams is `ResponseInvalid`.
 * The call's deadline is a plain timer here rather than `Effect.timeout`:
 * that one forks two fibers per call, which was a measurable share of the
 * per-call CPU at Stage 3's call rates. Either way the request is destroyed
 * when time is up (and on interruption).
 */
const exchange = (
  target: DeviceTarget,
  ctx: CallContext,
  outgoing: Outgoing,
  authorization: string | undefined,
  link: Link
): Effect.Effect<Exchange, RpcFailure> =>
  Effect.async<Exchange, RpcFailure>((resume) => {
    let settled = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const settle = (result: Effect.Effect<Exchange, RpcFailure>) => {
      if (settled) return
      settled = true
      if (timer !== undefined) clearTimeout(timer)
      resume(result)
    }
    const headers: Record<string, string> = { Connection: "close" }
    if (outgoing.body !== undefined) {
      headers["Content-Type"] = "application/json"
      headers["Content-Length"] = String(Buffer.byteLength(outgoing.body))
    }
    if (authorization !== undefined) headers["Authorization"] = authorization
    let answered = false
    let request: Http.ClientRequest
    /**
     * The exchange's socket. A TLS one is handed to the request only after its
     * handshake and pin check, so until then the request cannot close it: every
     * way out (deadline, connect timeout, interruption) closes it here too, or a
     * device that accepts TCP and stalls the handshake keeps it open.
     */
    let socket: Net.Socket | undefined
    const abandon = () => {
      request.destroy()
      socket?.destroy()
    }
    /** `connectTimeout`: the TCP handshake (not TLS's, not the answer) must finish within it. */
    const armConnectTimer = (connecting: Net.Socket) => {
      if (link.connectTimeoutMs === undefined) return
      const connectTimer = setTimeout(
        () =>
          afterPendingIo(() => {
            if (link.connected) return
            settle(Effect.fail(new DeviceUnreachable({ ...ctx, reason: `no connection within ${link.connectTimeoutMs} ms` })))
            abandon()
          }),
        link.connectTimeoutMs
      )
      connecting.once("close", () => clearTimeout(connectTimer))
      connecting.once("connect", () => clearTimeout(connectTimer))
    }
    try {
      request = Http.request({
        host: target.host,
        port: target.port,
        method: outgoing.method,
        path: outgoing.path,
        headers,
        maxHeaderSize: link.limits.maxHeaderBytes,
        // No agent: devices close every connection, so pooling buys nothing.
        createConnection: (options, oncreate) => {
          link.connected = false
          if (target.tls !== undefined) {
            // The request is handed the socket only once its certificate passed: nothing is sent before.
            const tlsSocket = pinnedTlsConnection(target.tls, ctx, options as Net.NetConnectOpts, link, {
              ready: () => oncreate(null, tlsSocket),
              refused: (error) => {
                settle(Effect.fail(error))
                oncreate(error, tlsSocket)
              },
              failed: (cause) => oncreate(cause, tlsSocket)
            })
            socket = tlsSocket
            armConnectTimer(tlsSocket)
            return undefined
          }
          const plain = Net.createConnection(options as Net.NetConnectOpts)
          plain.once("connect", () => {
            link.connected = true
          })
          socket = plain
          armConnectTimer(plain)
          return plain
        }
      })
    } catch (cause) {
      settle(Effect.fail(new DeviceUnreachable({ ...ctx, reason: transportReason(cause) })))
      return
    }
    request.once("error", (cause) => {
      const parser = httpParserFailure(cause)
      settle(
        Effect.fail(
          parser?._tag === "HeadersTooLarge"
            ? new ResponseTooLarge({ ...ctx, part: "headers", limitBytes: link.limits.maxHeaderBytes })
            : parser !== undefined
              ? new BadHttpResponse({ ...ctx, reason: parser.reason })
              : answered
                ? new ResponseInvalid({ ...ctx, reason: `answer broke off: ${transportReason(cause)}`, excerpt: "" })
                : new DeviceUnreachable({ ...ctx, reason: transportReason(cause) })
        )
      )
    })
    request.once("response", (response) => {
      answered = true
      readBody(
        response,
        link.limits.maxBodyBytes,
        (body) => {
          const wwwAuthenticate = response.headers["www-authenticate"]
          settle(Effect.succeed({ status: response.statusCode ?? 0, wwwAuthenticate, body }))
        },
        () => {
          settle(Effect.fail(new ResponseTooLarge({ ...ctx, part: "body", limitBytes: link.limits.maxBodyBytes })))
          request.destroy()
        }
      )
      response.once("error", (cause) => {
        const parser = httpParserFailure(cause)
        settle(
          Effect.fail(
            parser?._tag === "BadHttp"
              ? new BadHttpResponse({ ...ctx, reason: parser.reason })
              : new ResponseInvalid({ ...ctx, reason: `answer broke off: ${transportReason(cause)}`, excerpt: "" })
          )
        )
      })
    })
    timer = setTimeout(
      () => {
        settle(Effect.fail(timedOut(ctx, link)))
        abandon()
      },
      Math.max(0, link.deadline - performance.now())
    )
    request.end(outgoing.body)
    return Effect.sync(() => {
      settled = true
      clearTimeout(timer)
      abandon()
    })
  })

export const makeShellyRpc = (config: ShellyRpcConfig = defaultShellyRpcConfig): ShellyRpcService => {
  let nextFrameId = 1
  const limits = config.limits ?? defaultResponseLimits

  // Per client instance, never module-wide: each layer build starts empty,
  // and its size is bounded however many devices one run meets.
  const nonces = new NonceCache({ ...defaultNonceCacheOptions, ...config.nonceCache })
  const throttleRetry = config.throttleRetry ?? defaultThrottleRetry
  /**
   * Authenticated calls go one at a time per device (host:port): each signs
   * with the cached nonce and the next `nc`, in order, instead of overlapping
   * calls each spending a fresh nonce (firmware 2.x keeps only a few and
   * answers `stale=true`, or throttles with 429, when they churn).
   */
  const deviceLocks = new Map<string, Effect.Semaphore>()
  const lockFor = (key: string): Effect.Semaphore => {
    let lock = deviceLocks.get(key)
    if (lock === undefined) {
      lock = Effect.unsafeMakeSemaphore(1)
      deviceLocks.set(key, lock)
      if (deviceLocks.size > (config.nonceCache?.maxEntries ?? defaultNonceCacheOptions.maxEntries)) {
        const oldest = deviceLocks.keys().next()
        if (oldest.done !== true) deviceLocks.delete(oldest.value)
      }
    }
    return lock
  }

  const sign = (outgoing: Outgoing, use: NonceUse, password: Redacted.Redacted<string>): string =>
    authorizationHeader({
      challenge: use.challenge,
      password: Redacted.value(password),
      httpMethod: outgoing.method,
      uri: outgoing.path,
      cnonce: freshCnonce(),
      nc: use.nc
    })

  /** Retries an exchange answered 429 on the throttle schedule; the last 429 stands as the answer. */
  // The retry machinery is entered only after a 429: Stage 3's thousands of
  // calls per run pay nothing for it (its per-call CPU is measured, README).
  const unlessThrottled = (attempt: Effect.Effect<Exchange, RpcFailure>): Effect.Effect<Exchange, RpcFailure> =>
    Effect.flatMap(attempt, (first) => {
      if (first.status !== 429) return Effect.succeed(first)
      // The schedule's first run replays this 429, so its first delay comes before the next try.
      let replay: Exchange | undefined = first
      const tryAgain = Effect.suspend((): Effect.Effect<Exchange, RpcFailure> => {
        const answered = replay
        replay = undefined
        return answered === undefined ? attempt : Effect.succeed(answered)
      })
      return tryAgain.pipe(
        Effect.flatMap(
          (answer): Effect.Effect<Exchange, RpcFailure | Throttled> =>
            answer.status === 429 ? Effect.fail(new Throttled(answer)) : Effect.succeed(answer)
        ),
        Effect.retry({ schedule: throttleRetry, while: (e) => e instanceof Throttled }),
        Effect.catchIf(
          (e): e is Throttled => e instanceof Throttled,
          (e) => Effect.succeed(e.exchange)
        )
      )
    })

  /**
   * Runs one call under one timeout. With a password and a cached nonce for
   * the device, the first exchange is signed already (nc one higher than the
   * last use); otherwise it goes out unsigned. A 401 to it (no nonce yet,
   * nonce expired, device rebooted, password changed) brings a fresh
   * challenge and one exchange signed with that; a 401 to that one is
   * `AuthRequired` — unless it says `stale=true` (firmware 2.x: the nonce was
   * dropped meanwhile), which is signed again with the newer nonce (twice at
   * most). So N calls to a protected device cost N + 1 exchanges instead of
   * 2N while the nonce lives. 429 answers are retried with backoff.
   */
  const run = (
    target: DeviceTarget,
    ctx: CallContext,
    outgoing: Outgoing,
    options: CallOptions | undefined
  ): Effect.Effect<Exchange, RpcFailure> => {
    const timeoutMs = Duration.toMillis(Duration.decode(options?.timeout ?? config.defaultTimeout))
    const connectTimeoutMs = options?.connectTimeout === undefined ? undefined : Duration.toMillis(Duration.decode(options.connectTimeout))
    return Effect.suspend(() => {
      const now = performance.now()
      const link: Link = { connected: false, deadline: now + timeoutMs, timeoutMs, connectTimeoutMs, limits }
      const password = target.password
      // `ctx.device` is the target's host:port, the device the nonce belongs to.
      const key = ctx.device
      if (password === undefined) {
        return Effect.flatMap(unlessThrottled(exchange(target, ctx, outgoing, undefined, link)), (only) =>
          only.status === 401
            ? Effect.fail(
                new AuthRequired({ ...ctx, passwordSent: false, realm: parseDigestChallenge(only.wwwAuthenticate)?.realm ?? null })
              )
            : Effect.succeed(only)
        )
      }
      const signedCall: Effect.Effect<Exchange, RpcFailure> = Effect.gen(function* () {
        const cached = nonces.next(key, performance.now())
        const upFront = cached === undefined ? undefined : sign(outgoing, cached, password)
        const first = yield* exchange(target, ctx, outgoing, upFront, link)
        if (first.status !== 401) return first
        let latest = first.wwwAuthenticate
        const signedAttempt = Effect.suspend((): Effect.Effect<Exchange, RpcFailure | StaleNonce> => {
          const challenge = parseDigestChallenge(latest)
          if (challenge === undefined) {
            nonces.forget(key)
            return Effect.fail(new AuthRequired({ ...ctx, passwordSent: upFront !== undefined, realm: null }))
          }
          const use = nonces.fresh(key, challenge, performance.now())
          return Effect.flatMap(
            exchange(target, ctx, outgoing, sign(outgoing, use, password), link),
            (answer): Effect.Effect<Exchange, RpcFailure | StaleNonce> => {
              if (answer.status !== 401) return Effect.succeed(answer)
              latest = answer.wwwAuthenticate
              return parseDigestChallenge(latest)?.stale === true
                ? Effect.fail(new StaleNonce())
                : Effect.fail(new AuthRequired({ ...ctx, passwordSent: true, realm: challenge.realm }))
            }
          )
        })
        return yield* signedAttempt.pipe(
          Effect.retry({ times: STALE_RESIGNS, while: (e) => e instanceof StaleNonce }),
          Effect.catchIf(
            (e): e is StaleNonce => e instanceof StaleNonce,
            () => Effect.fail(new AuthRequired({ ...ctx, passwordSent: true, realm: parseDigestChallenge(latest)?.realm ?? null }))
          )
        )
      })
      return lockFor(key).withPermits(1)(unlessThrottled(signedCall))
    })
  }

  /**
   * The path as a URL parser normalises it (what an HTTP client sends and
   * digest auth signs). `rpcGetPath` output is already in that form; only
   * other paths pay for a URL parse.
   */
  const requestPath = (target: DeviceTarget, path: string): string => {
    if (isUrlNormalPath(path)) return path
    const url = new URL(`http://${hostPort(target)}${path}`)
    return url.pathname + url.search
  }

  const getThen = <A, I>(
    target: DeviceTarget,
    ctx: CallContext,
    path: string,
    schema: Schema.Schema<A, I>,
    options: CallOptions | undefined
  ): Effect.Effect<A, RpcFailure> =>
    Effect.try({
      try: () => requestPath(target, path),
      catch: (cause) => new DeviceUnreachable({ ...ctx, reason: transportReason(cause) })
    }).pipe(
      Effect.flatMap((sent) => run(target, ctx, { method: "GET", path: sent }, options)),
      Effect.flatMap((exchange) =>
        exchange.status >= 200 && exchange.status < 300
          ? Effect.flatMap(parseBody(ctx, exchange.body, limits.maxJsonDepth), (value) => decodeResult(ctx, schema, value, exchange.body))
          : Effect.fail(failForStatus(ctx, exchange, limits.maxJsonDepth))
      )
    )

  const callGet = <A, I>(
    target: DeviceTarget,
    method: string,
    params: Readonly<Record<string, unknown>> | undefined,
    schema: Schema.Schema<A, I>,
    options: CallOptions | undefined
  ): Effect.Effect<A, RpcFailure> => getThen(target, { device: hostPort(target), method }, rpcGetPath(method, params), schema, options)

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
    return run(target, ctx, { method: "POST", path: "/rpc", body: frame }, options).pipe(
      Effect.flatMap((exchange) => {
        if (exchange.status < 200 || exchange.status >= 300) return Effect.fail(failForStatus(ctx, exchange, limits.maxJsonDepth))
        return parseBody(ctx, exchange.body, limits.maxJsonDepth).pipe(
          Effect.flatMap((value) =>
            Effect.mapError(
              decodeFrame(value),
              (error) =>
                new ResponseInvalid({
                  ...ctx,
                  reason: `not a JSON-RPC frame: ${describeParseError(error)}`,
                  excerpt: excerpt(exchange.body)
                })
            )
          ),
          Effect.flatMap((answer): Effect.Effect<A, RpcFailure> => {
            if (answer.id !== id) {
              return Effect.fail(
                new ResponseInvalid({
                  ...ctx,
                  reason: `frame id ${answer.id} does not match request id ${id}`,
                  excerpt: excerpt(exchange.body)
                })
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
    options?.transport === "post" ? callPost(target, method, params, schema, options) : callGet(target, method, params, schema, options)

  const getShelly: ShellyRpcService["getShelly"] = (target, options) => {
    const ctx = { device: hostPort(target), method: "GET /shelly" }
    // A Gen1 answer is a typed Gen1Unsupported, not an invalid response (gen1.ts).
    return Effect.flatMap(getThen(target, ctx, "/shelly", ShellyAnswer, options), (answer) => refuseGen1(ctx, answer))
  }

  // A plain timer for the same reason as in `exchange`: no fibers forked per probe.
  const probe: ShellyRpcService["probe"] = (target, timeout) =>
    Effect.async<boolean>((resume) => {
      const socket = Net.createConnection({ host: target.host, port: target.port })
      let finished = false
      const finish = (up: boolean) => {
        if (finished) return
        finished = true
        clearTimeout(timer)
        socket.destroy()
        resume(Effect.succeed(up))
      }
      const timer = setTimeout(() => afterPendingIo(() => finish(false)), Duration.toMillis(Duration.decode(timeout)))
      socket.once("connect", () => finish(true))
      socket.once("error", () => finish(false))
      return Effect.sync(() => {
        finished = true
        clearTimeout(timer)
        socket.destroy()
      })
    })

  return { call, getShelly, probe }
}

export const layer = (config: Partial<ShellyRpcConfig> = {}): Layer.Layer<ShellyRpc> =>
  Layer.effect(
    ShellyRpc,
    Effect.map(loadResponseLimits, (limits) => makeShellyRpc({ ...defaultShellyRpcConfig, limits, ...config }))
  )

/** The client with its defaults: 5 s per call, frames from `fleet-provision`. */
export const ShellyRpcLive: Layer.Layer<ShellyRpc> = layer()
