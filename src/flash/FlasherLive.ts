import { Effect, Layer } from "effect"
import { UnsupportedPlatform } from "../domain/errors/flash.js"
import { makeEspFlasher } from "./esp/EspFlasher.js"
import { makeAvrFlasher } from "./avr/AvrFlasher.js"
import { makeStm32Flasher } from "./stm32/Stm32Flasher.js"
import { makeRp2040FlasherNode } from "./rp2040/Rp2040Flasher.js"
import { Flasher, type FlasherService } from "./Flasher.js"

/**
 * The flasher of every board family, by platform. Each family registers one
 * line here: an Effect building its FlasherService from the services it needs.
 */
const implementations = Effect.all([
  makeEspFlasher(),
  makeAvrFlasher(),
  makeStm32Flasher(),
  makeRp2040FlasherNode()
  // add other families here, one line each: makeAvrFlasher(), makeStm32Flasher(), makeRp2040Flasher()
])

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
