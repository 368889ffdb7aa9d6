/**
 * The control HTTP API (JSON) over a running fleet: what tests, the e2e suite
 * and the simulated WiFi layer use from another process. Routes: `index.ts`.
 */
import { Either, ParseResult, Schema } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import { createServer } from "node:http"
import type { FleetHandle } from "./handle.js"

const ItemsBody = Schema.Struct({ items: Schema.Array(Schema.String) })
const PendingBody = Schema.NullOr(Schema.Struct({ stable: Schema.optional(Schema.String), beta: Schema.optional(Schema.String) }))
const PasswordBody = Schema.Struct({ password: Schema.NullOr(Schema.String) })
const ConnectBody = Schema.Struct({ ssid: Schema.String, password: Schema.optional(Schema.String) })
const NetworkBody = Schema.Struct({ ssid: Schema.String, password: Schema.String })
const InventoryBody = Schema.Struct({
  path: Schema.String,
  format: Schema.optional(Schema.Literal("flat", "wrapped")),
  all: Schema.optional(Schema.Boolean)
})

type Reply = { readonly status: number; readonly body: unknown }

const json = (status: number, body: unknown): Reply => ({ status, body })
const problem = (status: number, error: string): Reply => json(status, { error })

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", () => resolve(""))
  })

const decode = <A, I>(schema: Schema.Schema<A, I>, text: string): Either.Either<A, string> =>
  Either.flatMap(
    Either.try({ try: () => (text.trim() === "" ? null : JSON.parse(text)) as unknown, catch: () => "body is not JSON" }),
    (value) => Either.mapLeft(Schema.decodeUnknownEither(schema)(value), (e) => ParseResult.TreeFormatter.formatErrorSync(e))
  )

const fromEither = <A>(result: Either.Either<A, string>, status = 200): Reply =>
  Either.match(result, { onLeft: (e) => problem(e.startsWith("no device") ? 404 : 400, e), onRight: (v) => json(status, v) })

const route = async (fleet: FleetHandle, method: string, path: string, body: string): Promise<Reply> => {
  const parts = path
    .split("/")
    .filter((p) => p.length > 0)
    .map(decodeURIComponent)
  const [head, key, sub] = parts
  if (method === "GET" && path === "/health") return json(200, { port: fleet.port, devices: fleet.devices.length })
  if (head === "devices") {
    if (key === undefined) return method === "GET" ? json(200, fleet.devices) : problem(405, "use GET /devices")
    if (sub === undefined) {
      const state = fleet.state(key)
      return state === undefined ? problem(404, `no device ${key} in this fleet`) : json(200, state)
    }
    const withBody = <A, I>(schema: Schema.Schema<A, I>, run: (a: A) => Promise<Reply>): Promise<Reply> =>
      Either.match(decode(schema, body), { onLeft: async (e) => problem(400, e), onRight: run })
    switch (`${method} ${sub}`) {
      case "PUT faults":
        return withBody(ItemsBody, async (b) => fromEither(await fleet.setFaults(key, b.items)))
      case "POST faults":
        return withBody(ItemsBody, async (b) => fromEither(await fleet.addFaults(key, b.items)))
      case "DELETE faults":
        return fromEither(await fleet.clearFaults(key))
      case "PUT pending-update":
        return withBody(PendingBody, async (b) => fromEither(await fleet.setPendingUpdate(key, b)))
      case "PUT password":
        return withBody(PasswordBody, async (b) => fromEither(await fleet.setPassword(key, b.password)))
      case "POST power-cycle":
        return fromEither(await fleet.powerCycle(key))
    }
  }
  if (head === "wifi") {
    switch (`${method} ${key}`) {
      case "GET scan":
        return json(200, { aps: fleet.scan() })
      case "POST connect":
        return Either.match(decode(ConnectBody, body), {
          onLeft: async (e) => problem(400, e),
          onRight: async (b) =>
            Either.match(await fleet.connectAp(b.ssid, b.password), { onLeft: (e) => problem(409, e), onRight: (c) => json(200, c) })
        })
      case "POST disconnect":
        await fleet.disconnectAp()
        return json(200, { ok: true })
      case "GET link":
        return json(200, fleet.apLink())
      case "PUT network":
        return Either.match(decode(NetworkBody, body), {
          onLeft: (e) => problem(400, e),
          onRight: (b) => {
            fleet.setNetwork(b)
            return json(200, { ssid: b.ssid })
          }
        })
    }
  }
  if (method === "POST" && head === "inventory" && key === undefined) {
    return Either.match(decode(InventoryBody, body), {
      onLeft: async (e) => problem(400, e),
      onRight: async (b) => {
        try {
          await fleet.writeInventory(b.path, b.format ?? "flat", { all: b.all ?? false })
          return json(200, { path: b.path })
        } catch (e) {
          return problem(500, `cannot write ${b.path}: ${e instanceof Error ? e.message : String(e)}`)
        }
      }
    })
  }
  return problem(404, `no control route ${method} ${path}`)
}

export const startControlServer = (
  fleet: FleetHandle,
  host: string,
  port: number
): Promise<Either.Either<{ readonly url: string; readonly stop: () => Promise<void> }, string>> =>
  new Promise((resolve) => {
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      void (async () => {
        const body = await readBody(req)
        const url = new URL(req.url ?? "/", "http://control")
        const reply = await route(fleet, (req.method ?? "GET").toUpperCase(), url.pathname, body)
        const text = JSON.stringify(reply.body)
        res.writeHead(reply.status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), Connection: "close" })
        res.end(text)
      })()
    })
    server.once("error", (e: NodeJS.ErrnoException) =>
      resolve(Either.left(`cannot start the control API on ${host}:${port}: ${e.code ?? e.message}`))
    )
    server.listen({ host, port }, () => {
      const address = server.address()
      const actual = typeof address === "object" && address !== null ? address.port : port
      resolve(
        Either.right({
          url: `http://${host}:${actual}`,
          stop: () =>
            new Promise<void>((done) => {
              server.closeAllConnections()
              server.close(() => done())
            })
        })
      )
    })
  })
