// The database side of the live line dashboard: its own pool, the overview
// and search queries, and a stream that re-reads the overview after each
// burst of `provision_line` notifications (LISTEN/NOTIFY).
import { PgClient } from "@effect/sql-pg"
import { Context, Duration, Effect, Layer, Schedule, Stream } from "effect"
import { DatabaseError } from "../domain/errors/store.js"
import { causeText, pgLayer } from "../store/connect.js"
import type { DatabaseTarget } from "../store/databaseUrl.js"
import { LINE_CHANNEL } from "../store/PgRecordStore.js"
import { findBoard, lineOverview } from "../store/queries.js"
import type { LineDashboard } from "./line.js"

/** Opens its own pool for the life of the scope. */
export const makeLineDashboard = (target: DatabaseTarget, staleMs: number) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(pgLayer(target, { applicationName: "provision web" }))
    const sql = Context.get(context, PgClient.PgClient)
    const run = <A, E>(operation: string, effect: Effect.Effect<A, E, PgClient.PgClient>) =>
      effect.pipe(
        Effect.provideService(PgClient.PgClient, sql),
        Effect.timeout(Duration.seconds(5)),
        Effect.mapError((error) => new DatabaseError({ operation, detail: causeText(error) }))
      )
    const overview = run("line overview", lineOverview(staleMs))
    const ticks = Stream.merge(
      sql.listen(LINE_CHANNEL).pipe(Stream.mapError((error) => new DatabaseError({ operation: "listen", detail: causeText(error) }))),
      // Stale stations turn stale without a NOTIFY; a slow refresh catches that.
      Stream.fromSchedule(Schedule.spaced(Duration.seconds(5)))
    )
    const dashboard: LineDashboard = {
      label: target.display,
      overview,
      search: (query) => run("board search", findBoard(query)) as Effect.Effect<ReadonlyArray<Record<string, unknown>>, DatabaseError>,
      events: Stream.concat(
        Stream.fromEffect(overview),
        ticks.pipe(
          Stream.debounce(Duration.millis(300)),
          Stream.mapEffect(() => overview)
        )
      )
    }
    return dashboard
  })
