import { Effect, type Scope } from "effect"
import { type BackendSim, type BackendSimOptions, startBackendSim } from "./server.js"

export * from "./server.js"

/** The simulator for a scope: closed (connections dropped, port freed) when the scope ends. */
export const backendSim = (options: BackendSimOptions): Effect.Effect<BackendSim, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: () => startBackendSim(options), catch: (e) => (e instanceof Error ? e : new Error(String(e))) }),
    (sim) => Effect.promise(() => sim.close())
  )
