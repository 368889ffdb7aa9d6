/**
 * Cases the simulator does not produce: a server that answers garbage, a frame
 * with the wrong id, a result of the wrong shape. Tiny node servers on this
 * file's loopback range (127.20.9.x), closed after each test.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Schedule, Schema } from "effect"
import * as Http from "node:http"
import { spawn } from "node:child_process"
import * as Net from "node:net"
import { ShellyRpc } from "../../src/shelly/ShellyRpc.js"
import { ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import * as Methods from "../../src/shelly/methods.js"
import { listen } from "./support.js"

const answering = (host: string, handler: Http.RequestListener) => listen(host, () => Http.createServer(handler))

/**
 * A port on `host` whose connects hang: a listener with a full accept queue
 * drops further SYNs (Linux), the case a powered-off device on a routed
 * subnet gives. Lives for the test's scope.
 */
const synsUnanswered = (host: string) =>
  Effect.gen(function* () {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn("python3", [
          "-c",
          `import socket,time\ns=socket.socket()\ns.bind(('${host}',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)`
        ])
      ),
      (p) => Effect.sync(() => p.kill())
    )
    const port = yield* Effect.promise(
      () => new Promise<number>((resolve) => child.stdout.once("data", (d) => resolve(Number(String(d).trim()))))
    )
    const filler = yield* Effect.acquireRelease(
      Effect.promise(
        () =>
          new Promise<Net.Socket>((resolve) => {
            const socket = Net.createConnection({ host, port }, () => resolve(socket))
          })
      ),
      (socket) => Effect.sync(() => socket.destroy())
    )
    expect(filler.readyState).toBe("open")
    return port
  })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value)}`)
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (failure === undefined) throw new Error(`expected a typed failure, got ${exit.cause._tag}`)
  return failure
}

describe("ShellyRpcLive against hand-made servers", () => {
  it.live("garbage body → ResponseInvalid with an excerpt", () =>
    Effect.gen(function* () {
      const server = yield* answering("127.20.9.1", (_req, res) => {
        res.writeHead(200, { "Content-Type": "application/json", Connection: "close" })
        res.end("<html>router login page</html>")
      })
      const exit = yield* Effect.exit(Methods.getDeviceInfo({ host: server.host, port: server.port }))
      const error = failureOf(exit)
      expect(error._tag).toBe("ResponseInvalid")
      expect(error.message).toContain(`${server.host}:${server.port}`)
      expect(error.message).toContain("Shelly.GetDeviceInfo")
      if (error._tag === "ResponseInvalid") {
        expect(error.reason).toBe("not JSON")
        expect(error.excerpt).toContain("router login page")
      }
    }).pipe(Effect.scoped, Effect.provide(ShellyRpcLive))
  )

  it.live("JSON of the wrong shape → ResponseInvalid naming the field", () =>
    Effect.gen(function* () {
      const server = yield* answering("127.20.9.2", (_req, res) => {
        res.writeHead(200, { Connection: "close" })
        res.end(JSON.stringify({ id: "x", mac: 12 }))
      })
      const error = failureOf(yield* Effect.exit(Methods.getDeviceInfo({ host: server.host, port: server.port })))
      expect(error._tag).toBe("ResponseInvalid")
      if (error._tag === "ResponseInvalid") expect(error.reason).toMatch(/mac|model|gen/)
    }).pipe(Effect.scoped, Effect.provide(ShellyRpcLive))
  )

  it.live("POST frame with another id → ResponseInvalid; frame error → RpcError", () =>
    Effect.gen(function* () {
      let calls = 0
      const server = yield* answering("127.20.9.3", (req, res) => {
        let body = ""
        req.on("data", (chunk) => (body += chunk))
        req.on("end", () => {
          const frame = JSON.parse(body) as { id: number; src: string; method: string }
          calls++
          res.writeHead(200, { Connection: "close" })
          res.end(
            JSON.stringify(
              calls === 1
                ? { id: frame.id + 100, src: "dev", dst: frame.src, result: {} }
                : { id: frame.id, src: "dev", dst: frame.src, error: { code: -109, message: "Reboot pending" } }
            )
          )
        })
      })
      const target = { host: server.host, port: server.port }
      const first = failureOf(yield* Effect.exit(Methods.checkForUpdate(target, { transport: "post" })))
      expect(first._tag).toBe("ResponseInvalid")
      const second = failureOf(yield* Effect.exit(Methods.checkForUpdate(target, { transport: "post" })))
      expect(second._tag).toBe("RpcError")
      if (second._tag === "RpcError") {
        expect(second.rpcCode).toBe(-109)
        expect(second.rpcMessage).toBe("Reboot pending")
      }
    }).pipe(Effect.scoped, Effect.provide(ShellyRpcLive))
  )

  it.live("sends Connection: close and no keep-alive; 429 retried with backoff (4 times), then RpcError 429 with the throttling hint", () =>
    Effect.gen(function* () {
      const seen: Array<string | undefined> = []
      const server = yield* answering("127.20.9.4", (req, res) => {
        seen.push(req.headers.connection)
        res.writeHead(429, { Connection: "close" })
        res.end(JSON.stringify({ code: 429, message: "Too many requests" }))
      })
      const error = failureOf(yield* Effect.exit(Methods.sysGetStatus({ host: server.host, port: server.port })))
      expect(error._tag).toBe("RpcError")
      if (error._tag === "RpcError") {
        expect(error.rpcCode).toBe(429)
        expect(error.hint).toContain("retries with backoff")
      }
      expect(seen).toEqual(["close", "close", "close", "close", "close"])
    }).pipe(Effect.scoped, Effect.provide(ShellyRpcLive))
  )

  it.live("accepts but never answers → RpcTimeout; nothing listening → DeviceUnreachable", () =>
    Effect.gen(function* () {
      const held: Array<Net.Socket> = []
      const server = yield* listen("127.20.9.5", () =>
        Net.createServer((socket) => {
          held.push(socket)
          socket.resume() // read to EOF so the client's hang-up shows as 'close'
        })
      )
      const rpc = yield* ShellyRpc
      const hung = failureOf(
        yield* Effect.exit(
          rpc.call({ host: server.host, port: server.port }, "Shelly.GetStatus", undefined, Schema.Unknown, { timeout: "200 millis" })
        )
      )
      expect(hung._tag).toBe("RpcTimeout")
      // the timeout must free the socket: the server sees the client hang up
      yield* Effect.promise(
        () => new Promise<void>((resolve) => (held[0]!.destroyed ? resolve() : held[0]!.once("close", () => resolve())))
      )
      const refused = failureOf(
        yield* Effect.exit(
          rpc.call({ host: "127.20.9.6", port: server.port }, "Shelly.GetStatus", undefined, Schema.Unknown, { timeout: "1 second" })
        )
      )
      expect(refused._tag).toBe("DeviceUnreachable")
      if (refused._tag === "DeviceUnreachable") expect(refused.reason).toBe("connection refused")
      expect(yield* rpc.probe({ host: server.host, port: server.port }, "250 millis")).toBe(true)
      expect(yield* rpc.probe({ host: "127.20.9.6", port: server.port }, "250 millis")).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(ShellyRpcLive))
  )

  it.live("connectTimeout: a SYN nobody answers → DeviceUnreachable; a slow answer after connect → RpcTimeout", () =>
    Effect.gen(function* () {
      const port = yield* synsUnanswered("127.20.9.7")
      const rpc = yield* ShellyRpc
      const target = { host: "127.20.9.7", port }
      const unanswered = failureOf(
        yield* Effect.exit(
          rpc.call(target, "Shelly.GetDeviceInfo", undefined, Schema.Unknown, { connectTimeout: "150 millis", timeout: "5 seconds" })
        )
      )
      expect(unanswered._tag).toBe("DeviceUnreachable")
      if (unanswered._tag === "DeviceUnreachable") expect(unanswered.reason).toBe("no connection within 150 ms")
      expect(yield* rpc.probe(target, "150 millis")).toBe(false)

      const held: Array<Net.Socket> = []
      const silent = yield* listen("127.20.9.8", () => Net.createServer((socket) => void held.push(socket.resume())))
      const slow = failureOf(
        yield* Effect.exit(
          rpc.call({ host: silent.host, port: silent.port }, "Shelly.GetDeviceInfo", undefined, Schema.Unknown, {
            connectTimeout: "150 millis",
            timeout: "400 millis"
          })
        )
      )
      expect(slow._tag).toBe("RpcTimeout")
    }).pipe(Effect.scoped, Effect.provide(ShellyRpcLive))
  )

  it.live(
    "over HTTPS too: connectTimeout bounds the TCP handshake, and a device that accepts but stalls the TLS handshake is dropped at the deadline (its socket closed)",
    () =>
      Effect.gen(function* () {
        const rpc = yield* ShellyRpc
        const port = yield* synsUnanswered("127.20.9.17")
        const unanswered = failureOf(
          yield* Effect.exit(
            rpc.call({ host: "127.20.9.17", port, tls: {} }, "Shelly.GetDeviceInfo", undefined, Schema.Unknown, {
              connectTimeout: "150 millis",
              timeout: "5 seconds"
            })
          )
        )
        expect(unanswered._tag).toBe("DeviceUnreachable")
        if (unanswered._tag === "DeviceUnreachable") expect(unanswered.reason).toBe("no connection within 150 ms")

        // Accepts the connection and never answers the ClientHello.
        const closed: Array<boolean> = []
        const stalls = yield* listen("127.20.9.18", () =>
          Net.createServer((socket) => {
            socket.resume()
            socket.once("close", () => void closed.push(true))
          })
        )
        const stalled = failureOf(
          yield* Effect.exit(
            rpc.call({ host: stalls.host, port: stalls.port, tls: {} }, "Shelly.GetDeviceInfo", undefined, Schema.Unknown, {
              connectTimeout: "150 millis",
              timeout: "300 millis"
            })
          )
        )
        expect(stalled._tag).toBe("RpcTimeout")
        // The client closed its half-open TLS socket: the device sees the connection end (not only when it gives up).
        yield* Effect.sync(() => closed.length).pipe(
          Effect.repeat({ until: (n) => n === 1, schedule: Schedule.spaced("20 millis"), times: 250 })
        )
        expect(closed).toEqual([true])
      }).pipe(Effect.scoped, Effect.provide(ShellyRpcLive))
  )
})
