/**
 * The `/rpc` WebSocket channel of a simulated device: JSON-RPC frames
 * `{id, src, method, params, auth?}` in, `{id, src, dst, result|error}` out,
 * and `NotifyStatus` frames when the device's status changes.
 *
 * Sources: docs gen2/General/RPCChannels ("WebSocket" channel at `ws://<ip>/rpc`,
 * notifications to every client whose frame carried a `src`), docs
 * gen2/General/Notifications (`NotifyStatus` with `ts` and the changed keys of a
 * component), docs gen2/General/Authentication (the `auth` object, a 401 error
 * whose message is the JSON challenge), aioshelly fixture
 * `shellyplus2pm/Cover.Close_auth_failure` (the 401 frame's exact shape).
 *
 * The RFC 6455 framing is the `ws` package's: the project already ships it
 * (through @effect/platform-node) and it is the de-facto Node server, so a
 * hand-written framing layer here would be one more thing to get wrong
 * (masking, fragmentation, close handshake, ping/pong) with nothing gained.
 * `ws` only sees upgrades the fleet hands it; each device keeps its own
 * connections, which a reboot or a dropped AP closes like any socket.
 */
import type { IncomingMessage } from "node:http"
import type { Duplex } from "node:stream"
import { type WebSocket, WebSocketServer } from "ws"
import { issueNonce, verifyFrameAuth } from "./auth.js"
import type { Json, JsonObject, SimDevice } from "./device.js"
import { isJsonObject } from "./device.js"
import { masked } from "./http.js"
import { runsFirmware2x } from "./models.js"
import type { RpcEnv } from "./rpc.js"
import { dispatch, isOpenMethod, knownMethod } from "./rpc.js"

/** Same frame cap as the HTTP channel's body. */
const maxFrameBytes = 64 * 1024

interface Client {
  readonly socket: WebSocket
  /** The `src` of the client's first frame: where notifications go (null before it sent one). */
  dst: string | null
}

const parse = (text: string): Json | undefined => {
  try {
    return JSON.parse(text) as Json
  } catch {
    return undefined
  }
}

/** Firmware 2.0 tracks `nc` per nonce (RFC 7616); before it the count was not checked (see auth.ts). */
const tracksNc = (device: SimDevice): boolean => runsFirmware2x(device.model, device.ver)

/**
 * The 401 error of the frame channel: the message is the challenge as JSON text.
 * Numeric nonces go out as numbers (as in the aioshelly fixture); opaque ones
 * (firmware 2.x) as strings.
 */
const challengeMessage = (device: SimDevice): string => {
  device.authChallenges += 1
  const nonce = issueNonce(device)
  return JSON.stringify({
    auth_type: "digest",
    nonce: /^\d{1,15}$/.test(nonce) ? Number(nonce) : nonce,
    nc: 1,
    realm: device.reportedId,
    algorithm: "SHA-256"
  })
}

/** Methods whose success changes what `Shelly.GetStatus` reports: the changed keys, for `NotifyStatus`. */
const statusChange = (device: SimDevice, method: string): JsonObject | undefined => {
  if (method.endsWith(".SetConfig")) {
    const rev = device.config.sys.cfg_rev
    return { sys: { cfg_rev: typeof rev === "number" ? rev : 0 } }
  }
  return undefined
}

export interface WsRpc {
  /** Takes over an HTTP upgrade to `/rpc` for `device`; anything else is refused. */
  readonly upgrade: (device: SimDevice, via: "sta" | "ap", req: IncomingMessage, socket: Duplex, head: Buffer) => void
  readonly close: () => void
}

export const makeWsRpc = (env: RpcEnv): WsRpc => {
  const server = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes, perMessageDeflate: false })
  const clients = new WeakMap<SimDevice, Set<Client>>()

  const notify = (device: SimDevice, params: JsonObject): void => {
    const ts = Date.now() / 1000
    for (const client of clients.get(device) ?? []) {
      if (client.dst === null || client.socket.readyState !== client.socket.OPEN) continue
      client.socket.send(JSON.stringify({ src: device.reportedId, dst: client.dst, method: "NotifyStatus", params: { ts, ...params } }))
    }
  }

  const onFrame = (device: SimDevice, via: "sta" | "ap", client: Client, text: string): void => {
    const src = device.reportedId
    const frame = parse(text)
    if (!isJsonObject(frame)) {
      return client.socket.send(JSON.stringify({ id: null, src, error: { code: -103, message: "Invalid JSON-RPC frame" } }))
    }
    const id = frame.id ?? null
    const dst = typeof frame.src === "string" ? frame.src : null
    if (dst !== null && client.dst === null) client.dst = dst
    const reply = (payload: JsonObject): void =>
      client.socket.send(JSON.stringify({ id, src, ...(dst === null ? {} : { dst }), ...payload }))
    if (typeof frame.method !== "string" || frame.method.length === 0) {
      return reply({ error: { code: -103, message: "Argument 'method' is missing" } })
    }
    const params = frame.params === undefined || frame.params === null ? {} : frame.params
    if (!isJsonObject(params)) return reply({ error: { code: -103, message: "Argument 'params' is invalid" } })
    if (device.ha1 !== null && !isOpenMethod(knownMethod(frame.method))) {
      const signed = isJsonObject(frame.auth) && verifyFrameAuth(device, frame.auth, { trackNc: tracksNc(device) })
      if (!signed) return reply({ error: { code: 401, message: challengeMessage(device) } })
    }
    device.log({ method: frame.method, params: masked(params), via, transport: "ws", at: new Date().toISOString() })
    const outcome = dispatch(device, env, { method: frame.method, params, via })
    reply(outcome.ok ? { result: outcome.result } : { error: { code: outcome.code, message: outcome.message } })
    if (outcome.ok) {
      const change = statusChange(device, knownMethod(frame.method) ?? frame.method)
      if (change !== undefined) notify(device, change)
    }
  }

  return {
    upgrade: (device, via, req, socket, head) => {
      const path = (req.url ?? "/").split("?")[0]
      if (path !== "/rpc" || device.model.gen === 1) {
        socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
      }
      server.handleUpgrade(req, socket, head, (ws) => {
        const client: Client = { socket: ws, dst: null }
        let set = clients.get(device)
        if (set === undefined) clients.set(device, (set = new Set()))
        const own = set
        own.add(client)
        ws.on("message", (data, isBinary) => {
          if (!isBinary) onFrame(device, via, client, data.toString())
        })
        ws.on("close", () => own.delete(client))
        ws.on("error", () => ws.terminate())
      })
    },
    close: () => {
      for (const ws of server.clients) ws.terminate()
      server.close()
    }
  }
}
