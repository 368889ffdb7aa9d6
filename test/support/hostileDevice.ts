// A misbehaving "device": a raw TCP server on loopback that reads one HTTP
// request head and answers with whatever bytes a case needs (endless chunked
// bodies, a 1 GB Content-Length, a 64 KB header, garbage, 10⁵-deep JSON,
// terminal escapes in device strings). Every stream is bounded in bytes and
// time so a broken client under test cannot keep a test busy forever.
import * as Net from "node:net"

export type HostileBehaviour =
  | "endless_chunked"
  | "huge_body"
  | "big_header"
  | "header_flood"
  | "garbage"
  | "deep_json"
  | { readonly json: unknown }

/** Upper bound of bytes one connection may push (the client should stop far earlier). */
const MAX_PUSH = 64 * 1024 * 1024
const MAX_PUSH_MS = 15_000

const push = (socket: Net.Socket, piece: () => Buffer) => {
  let sent = 0
  const started = Date.now()
  const more = () => {
    while (!socket.destroyed && sent < MAX_PUSH && Date.now() - started < MAX_PUSH_MS) {
      const chunk = piece()
      sent += chunk.length
      if (!socket.write(chunk)) return void socket.once("drain", more)
    }
    socket.destroy()
  }
  more()
}

const head = (status: string, headers: ReadonlyArray<string>) =>
  Buffer.from(`HTTP/1.1 ${status}\r\n${headers.map((h) => `${h}\r\n`).join("")}\r\n`, "latin1")

const answer = (socket: Net.Socket, behaviour: HostileBehaviour) => {
  if (typeof behaviour === "object") {
    const body = Buffer.from(JSON.stringify(behaviour.json), "utf8")
    socket.end(
      Buffer.concat([head("200 OK", ["Content-Type: application/json", `Content-Length: ${body.length}`, "Connection: close"]), body])
    )
    return
  }
  switch (behaviour) {
    case "endless_chunked": {
      socket.write(head("200 OK", ["Content-Type: application/json", "Transfer-Encoding: chunked"]))
      const chunk = Buffer.from(`4000\r\n${"a".repeat(0x4000)}\r\n`, "latin1")
      return push(socket, () => chunk)
    }
    case "huge_body": {
      socket.write(head("200 OK", ["Content-Type: application/json", "Content-Length: 1000000000", "Connection: close"]))
      const chunk = Buffer.alloc(64 * 1024, 0x20)
      return push(socket, () => chunk)
    }
    case "big_header":
      return void socket.end(
        head("401 Unauthorized", [
          `WWW-Authenticate: Digest realm="${"x".repeat(64 * 1024)}", nonce="1"`,
          "Content-Length: 0",
          "Connection: close"
        ])
      )
    case "header_flood":
      return void socket.end(
        head("200 OK", [...Array.from({ length: 5000 }, (_, i) => `X-Flood-${i}: ${i}`), "Content-Length: 2", "Connection: close"])
      )
    case "garbage":
      return void socket.end(Buffer.from("\u0000\u0001SSH-2.0-not-http\r\n\r\n\u00ff\u00fe garbage", "latin1"))
    case "deep_json": {
      const depth = 100_000
      const body = Buffer.from("[".repeat(depth) + "]".repeat(depth), "latin1")
      return void socket.end(
        Buffer.concat([head("200 OK", ["Content-Type: application/json", `Content-Length: ${body.length}`, "Connection: close"]), body])
      )
    }
  }
}

export interface HostileDevice {
  readonly host: string
  readonly port: number
  /** Requests seen (method and path), oldest first. */
  readonly requests: Array<string>
  readonly close: () => Promise<void>
}

/** Listens on `host:port` (0 = any free port); `behaviour` may depend on the request path. */
export const startHostileDevice = (
  host: string,
  port: number,
  behaviour: HostileBehaviour | ((path: string) => HostileBehaviour)
): Promise<HostileDevice> =>
  new Promise((resolve, reject) => {
    const sockets = new Set<Net.Socket>()
    const requests: Array<string> = []
    const server = Net.createServer((socket) => {
      sockets.add(socket)
      socket.once("close", () => sockets.delete(socket))
      socket.on("error", () => socket.destroy())
      let seen = ""
      const onData = (data: Buffer) => {
        seen += data.toString("latin1")
        if (seen.length > 1024 * 1024) return void socket.destroy()
        const end = seen.indexOf("\r\n\r\n")
        if (end < 0) return
        socket.off("data", onData)
        const [method = "", path = ""] = seen.slice(0, seen.indexOf("\r\n")).split(" ")
        requests.push(`${method} ${path}`)
        answer(socket, typeof behaviour === "function" ? behaviour(path) : behaviour)
      }
      socket.on("data", onData)
    })
    server.once("error", reject)
    server.listen(port, host, () => {
      const address = server.address() as Net.AddressInfo
      resolve({
        host,
        port: address.port,
        requests,
        close: () =>
          new Promise((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })
