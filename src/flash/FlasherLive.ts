import { Effect, Layer } from "effect"
import { UnsupportedPlatform } from "../domain/errors/flash.js"
import { loadFlashers } from "./families.js"
import { Flasher, type FlasherService } from "./Flasher.js"

/** The flasher of every family in the registry (flash/families.ts), each built from the services it needs. */
const implementations = Effect.flatMap(Effect.promise(loadFlashers), (makers) => Effect.all(makers))

/** Dispatch over a given list (tests and the demo build one with tuned flashers). */
export const flasherFrom = (services: ReadonlyArray<FlasherService>) => {
  const supported = services.flatMap((service) => service.platform)
  return Flasher.of({
    forPlatform: (platform) => {
      const service = services.find((candidate) => candidate.platform.includes(platform))
      return service === undefined ? Effect.fail(new UnsupportedPlatform({ platform, supported })) : Effect.succeed(service)
    }
  })
}

/** Requires SerialPorts (and whatever the registered families need). */
export const FlasherLive = Layer.effect(Flasher, Effect.map(implementations, flasherFrom))
