/**
 * `provision flash sync` with a shared database: replay the station's record
 * spool (records kept locally while the database was away; a replay of a
 * record already in is a no-op), move what this station's
 * file queue holds into the outbox, then deliver the outbox (any station's
 * registrations; `FOR UPDATE SKIP LOCKED`, so running it on several stations
 * at once sends every device once).
 */
import { Console, Effect, Layer } from "effect"
import { absorbFileQueue, drainOutbox } from "../factory/outbox.js"
import { pgLayer } from "../store/connect.js"
import type { DatabaseTarget } from "../store/databaseUrl.js"
import { makePgRecordStore, stationHost } from "../store/PgRecordStore.js"
import { SPOOL_FILE } from "./flashStore.js"
import { ExitCodes, ExitWith } from "./exit.js"

export const syncSharedOutbox = (options: { readonly target: DatabaseTarget; readonly json: boolean; readonly queueFile: string }) =>
  Effect.gen(function* () {
    const store = yield* makePgRecordStore({ display: options.target.display, spoolFile: SPOOL_FILE })
    const spool = yield* store.replay
    const absorbed = yield* absorbFileQueue(options.queueFile)
    const summary = yield* drainOutbox({ by: `${stationHost()}:${process.pid}` })
    if (options.json) {
      yield* Console.log(
        JSON.stringify({ store: options.target.display, spool: { file: SPOOL_FILE, ...spool }, absorbed, ...summary }, null, 2)
      )
    } else {
      yield* Console.log(`Spool: replayed=${spool.replayed} remaining=${spool.remaining} file=${SPOOL_FILE}`)
      if (spool.rejected > 0) {
        yield* Console.log(
          `✖ ${spool.rejected} spooled entr${spool.rejected === 1 ? "y" : "ies"} refused by the database, kept in ${spool.rejectedFile}: check the reason on each line, fix, and report it`
        )
      }
      for (const error of summary.errors) yield* Console.log(`✖ not delivered: ${error}`)
      yield* Console.log(
        `Sync summary: pending=${summary.delivered + summary.remaining} delivered=${summary.delivered} created=${summary.created} existing=${summary.existing} remaining=${summary.remaining} store=${options.target.display}`
      )
    }
    if (summary.remaining > 0 || spool.remaining > 0) return yield* new ExitWith({ exitCode: ExitCodes.devicesFailed })
  }).pipe(Effect.scoped, Effect.provide(Layer.fresh(pgLayer(options.target))))
