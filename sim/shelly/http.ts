/**
 * HTTP transport of a simulated device: `GET /shelly`, `GET|POST /rpc/<Method>`,
 * `POST /rpc` frames, digest auth, the 6-request limit and per-request faults.
 * Connection-level faults (offline, blackhole) are decided before a request
 * exists, in `fleet.ts`.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Socket } from "node:net"
import { challengeHeader, signedWithStaleNonce, throttled, verifyFrameAuth, verifyHeader } from "./auth.js"
import type { Json, JsonObject, SimDevice } from "./device.js"
import { isJsonObject } from "./device.js"
import { gen1Shelly } from "./gen1.js"
import type { RpcEnv, RpcOutcome } from "./rpc.js"
import { deviceInfo, dispatch, isOpenMethod, knownMethod } from "./rpc.js"

/** "At most 6 non-persistent RPC channels may be open at once" (docs RPCChannels). */
export const maxInFlight = 6
const maxBodyBytes = 64 * 1024

/** Sockets whose response is complete; a reboot lets them finish instead of cutting them. */
export const answeredSockets = new WeakSet<Socket>()

/**
 * Headers of current firmware: `Server: ShellyHTTP/1.0.0`, no Date (a 1 Mini Gen3's
 * answer headers as its own HTTP.GET reports them, in a published Shelly script;
 * older captures show `Mongoose/6.18`).
 */
const baseHeaders = {
  Server: "ShellyHTTP/1.0.0",
  "Content-Type": "application/json",
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Headers": "*",
  Connection: "close"
} as const

const send = (res: ServerResponse, status: number, body: Json | undefined, extra: Record<string, string> = {}): void => {
  if (res.writableEnded || res.destroyed) return
  const text = body === undefined ? "" : JSON.stringify(body)
  // Mongoose sends no Date header.
  res.sendDate = false
  res.writeHead(status, { ...baseHeaders, ...extra, "Content-Length": String(Buffer.byteLength(text)) })
  answeredSockets.add(res.socket as Socket)
  res.end(text)
}

/**
 * 401 with a fresh challenge — `stale=true` (2.x) when the request was signed
 * correctly with a nonce that is gone — or, while a 2.x device throttles,
 * 429 "Too many requests" (shared/reference §1 error table, HA core#177257).
 */
const sendChallenge = (res: ServerResponse, device: SimDevice, req: IncomingMessage, httpMethod: string): void => {
  if (throttled(device)) return send(res, 429, { code: 429, message: "Too many requests" })
  const stale = signedWithStaleNonce(device, req.headers.authorization, httpMethod)
  send(res, 401, undefined, { "WWW-Authenticate": challengeHeader(device, stale) })
}

/** Mongoose decodes query values form-style (`+` is a space), then JSON, else a plain string. */
const decodeComponent = (text: string): string => {
  const spaced = text.replace(/\+/g, " ")
  try {
    return decodeURIComponent(spaced)
  } catch {
    return spaced
  }
}

export const parseQueryParams = (query: string): JsonObject => {
  const params: JsonObject = {}
  for (const pair of query.split("&")) {
    if (pair.length === 0) continue
    const eq = pair.indexOf("=")
    const key = decodeComponent(eq < 0 ? pair : pair.slice(0, eq))
    const raw = eq < 0 ? "" : decodeComponent(pair.slice(eq + 1))
    try {
      params[key] = JSON.parse(raw) as Json
    } catch {
      params[key] = raw
    }
  }
  return params
}

export const masked = (value: Json): Json => {
  if (Array.isArray(value)) return value.map(masked)
  if (!isJsonObject(value)) return value
  const out: JsonObject = {}
  for (const [k, v] of Object.entries(value)) out[k] = k === "pass" || k === "ha1" ? (v === null ? null : "***") : masked(v)
  return out
}

const readBody = (req: IncomingMessage): Promise<string | undefined> =>
  new Promise((resolve) => {
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBodyBytes) {
        resolve(undefined)
        req.destroy()
      } else chunks.push(chunk)
    })
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", () => resolve(undefined))
  })

const parseJson = (text: string): Json | undefined => {
  try {
    return JSON.parse(text) as Json
  } catch {
    return undefined
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Answers, running the call's link change (AP down, address moved) after the
 * answer has been written, or before it with `drop_before_answer` (then the
 * caller's connection is cut and the answer never arrives).
 */
const answerThenRelink = (device: SimDevice, res: ServerResponse, outcome: RpcOutcome, answer: () => void): void => {
  const relink = outcome.ok ? outcome.relink : undefined
  if (relink === undefined) return answer()
  if (relink.cutsCaller && device.has("drop_before_answer")) {
    relink.run()
    if (!res.destroyed) res.destroy()
    return
  }
  res.once("finish", relink.run)
  answer()
}

/**
 * Serves one request for `device`. `via` says whether it arrived over the
 * device's AP link or its production address (WiFi.GetStatus differs).
 */
export const serveRequest = (env: RpcEnv, device: SimDevice, via: "sta" | "ap", req: IncomingMessage, res: ServerResponse): void => {
  if (device.inFlight >= maxInFlight) {
    send(res, 429, { code: -108, message: "Too many requests" })
    return
  }
  device.inFlight += 1
  res.on("close", () => {
    device.inFlight -= 1
  })
  void handle(env, device, via, req, res)
}

const handle = async (env: RpcEnv, device: SimDevice, via: "sta" | "ap", req: IncomingMessage, res: ServerResponse): Promise<void> => {
  const target = req.url ?? "/"
  const q = target.indexOf("?")
  const path = q < 0 ? target : target.slice(0, q)
  const query = q < 0 ? "" : target.slice(q + 1)
  const httpMethod = (req.method ?? "GET").toUpperCase()
  device.logRequestLine(`${httpMethod} ${target}`)
  const body = httpMethod === "POST" ? await readBody(req) : ""
  const slow = device.slowMs()
  if (slow > 0) await delay(slow)
  if (res.destroyed) return
  if (body === undefined) return send(res, 413, { code: -103, message: "Request too large" })

  if (device.model.gen === 1) {
    // Gen1 firmware has no /rpc; unknown paths answer 404 (Shelly API docs gen1).
    return path === "/shelly" && httpMethod === "GET" ? send(res, 200, gen1Shelly(device)) : send(res, 404, undefined)
  }
  if (path === "/shelly" && httpMethod === "GET") return send(res, 200, deviceInfo(device))

  if (path === "/rpc" && httpMethod === "POST") return serveFrame(env, device, via, req, res, body)

  if (path.startsWith("/rpc/") && (httpMethod === "GET" || httpMethod === "POST")) {
    const method = decodeComponent(path.slice(5))
    // Auth before the body or query is parsed: a protected device answers 401 to an unsigned call whatever it carries.
    if (device.ha1 !== null && !isOpenMethod(knownMethod(method)) && !verifyHeader(device, req.headers.authorization, httpMethod, target)) {
      return sendChallenge(res, device, req, httpMethod)
    }
    let params: JsonObject
    if (httpMethod === "GET") {
      if (device.has("http500_on_spaces") && /(%20|\+| )/i.test(query)) {
        return send(res, 500, { code: -103, message: "Failed to parse params: unexpected space" })
      }
      params = parseQueryParams(query)
    } else {
      const parsed = body.trim().length === 0 ? {} : parseJson(body)
      if (!isJsonObject(parsed)) return send(res, 500, { code: -103, message: "Invalid params: expected a JSON object" })
      params = parsed
    }
    device.log({ method, params: masked(params), via, transport: httpMethod === "GET" ? "get" : "post", at: new Date().toISOString() })
    const outcome: RpcOutcome = dispatch(device, env, { method, params, via })
    return answerThenRelink(device, res, outcome, () =>
      outcome.ok
        ? send(res, 200, outcome.result)
        : send(res, outcome.code === 404 ? 404 : 500, { code: outcome.code, message: outcome.message })
    )
  }

  send(res, 404, { code: 404, message: `No handler for ${path}` })
}

const serveFrame = (env: RpcEnv, device: SimDevice, via: "sta" | "ap", req: IncomingMessage, res: ServerResponse, body: string): void => {
  const src = device.reportedId
  const frame = parseJson(body)
  if (!isJsonObject(frame)) {
    return send(res, 200, { id: null, src, error: { code: -103, message: "Invalid JSON-RPC frame" } })
  }
  const id = frame.id ?? null
  const dst = typeof frame.src === "string" ? frame.src : null
  const reply = (payload: JsonObject): void => send(res, 200, { id, src, ...(dst === null ? {} : { dst }), ...payload })
  if (typeof frame.method !== "string" || frame.method.length === 0) {
    return reply({ error: { code: -103, message: "Argument 'method' is missing" } })
  }
  const params = frame.params === undefined || frame.params === null ? {} : frame.params
  if (!isJsonObject(params)) return reply({ error: { code: -103, message: "Argument 'params' is invalid" } })
  if (device.ha1 !== null && !isOpenMethod(knownMethod(frame.method))) {
    const viaHeader = req.headers.authorization !== undefined && verifyHeader(device, req.headers.authorization, "POST", req.url ?? "/rpc")
    const viaFrame = isJsonObject(frame.auth) && verifyFrameAuth(device, frame.auth)
    if (!viaHeader && !viaFrame) return sendChallenge(res, device, req, "POST")
  }
  device.log({ method: frame.method, params: masked(params), via, transport: "frame", at: new Date().toISOString() })
  const outcome = dispatch(device, env, { method: frame.method, params, via })
  answerThenRelink(device, res, outcome, () =>
    reply(outcome.ok ? { result: outcome.result } : { error: { code: outcome.code, message: outcome.message } })
  )
}
