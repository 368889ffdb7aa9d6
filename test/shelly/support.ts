import { Effect } from "effect"
import type * as Net from "node:net"

/**
 * Listens on `host` at a free high port (the OS picks one) and closes the
 * server, destroying every connection still open, when the scope ends.
 */
export const listen = <S extends Net.Server>(host: string, make: () => S) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: S; readonly host: string; readonly port: number; readonly sockets: Set<Net.Socket> }, Error>(
      (resume) => {
        const server = make()
        const sockets = new Set<Net.Socket>()
        server.on("connection", (socket: Net.Socket) => {
          sockets.add(socket)
          socket.once("close", () => sockets.delete(socket))
        })
        server.once("error", (error) => resume(Effect.fail(error)))
        server.listen(0, host, () => {
          const address = server.address() as Net.AddressInfo
          resume(Effect.succeed({ server, host, port: address.port, sockets }))
        })
      }
    ),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  )
