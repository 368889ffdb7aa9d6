import { Command, Options } from "@effect/cli"
import { Console, Effect, Redacted } from "effect"
import { backendSim } from "./index.js"

/** `provision sim backend`: the provisioning backend simulator until SIGTERM/SIGINT. */
export const simBackendCommand = Command.make(
  "backend",
  {
    host: Options.text("host").pipe(Options.withDescription("loopback address to listen on"), Options.withDefault("127.0.0.1")),
    port: Options.integer("port").pipe(Options.withDescription("port (0 = any free port)"), Options.withDefault(3002)),
    token: Options.redacted("token").pipe(Options.withDescription("bearer token the simulator accepts (backend.token in secrets.yaml)")),
    failFirst: Options.integer("fail-first").pipe(
      Options.withDescription("answer the first N API requests with HTTP 500"),
      Options.withDefault(0)
    ),
    delay: Options.integer("delay-ms").pipe(
      Options.withDescription("delay every answer by this many ms (slow backend)"),
      Options.withDefault(0)
    )
  },
  (o) =>
    Effect.scoped(
      Effect.gen(function* () {
        const sim = yield* backendSim({ host: o.host, port: o.port, token: Redacted.value(o.token) })
        sim.failNext(o.failFirst)
        sim.setDelay(o.delay)
        yield* Console.log(`sim backend ready url=${sim.url}`)
        return yield* Effect.never
      })
    )
).pipe(
  Command.withDescription("Provisioning backend simulator (/api/admin/device-registrations, /provisioning/bulk, /provisioning/batches)")
)
