/**
 * `provision stations`: every station of the shared database — host, ports
 * (and the step each is at), current batch, last seen, throughput, yield.
 * `provision report export`: the CSV/JSON files from the database.
 */
import { Command, Options } from "@effect/cli"
import { Path } from "@effect/platform"
import { Console, Effect, Layer, Option } from "effect"
import { FactoryConfigInvalid } from "../domain/errors/factory.js"
import { DatabaseUrlInvalid } from "../domain/errors/store.js"
import { exportFromStore } from "../factory/export.js"
import { staleAfterMs } from "../factory/config.js"
import { loadFactoryConfig } from "../factory/loadConfig.js"
import { pgLayer } from "../store/connect.js"
import { resolveDatabase } from "../store/databaseUrl.js"
import { listStations } from "../store/queries.js"
import { withSecretPassword } from "../store/databaseSecret.js"
import { DEFAULT_FACTORY_CONFIG } from "./flash.js"

const dbOptions = {
  config: Options.text("config").pipe(
    Options.withDescription("factory config file (its database.url is used when neither --database nor PROVISION_DATABASE_URL is set)"),
    Options.withDefault(DEFAULT_FACTORY_CONFIG)
  ),
  database: Options.text("database").pipe(Options.withDescription("postgres://USER:PASSWORD@HOST:PORT/DB"), Options.optional),
  secrets: Options.text("secrets").pipe(
    Options.withDescription("secrets file holding database.password, for a URL without one (default data/secrets.yaml)"),
    Options.optional
  ),
  json: Options.boolean("json").pipe(Options.withDescription("print one JSON document on stdout"))
}

/** The database to read: --database, PROVISION_DATABASE_URL, or the config's database.url — one is required here. */
const target = (o: { readonly config: string; readonly database: Option.Option<string>; readonly secrets: Option.Option<string> }) =>
  Effect.gen(function* () {
    const flag = Option.getOrUndefined(o.database)
    const env = process.env.PROVISION_DATABASE_URL
    // With the URL from the flag or the environment the config is optional, but
    // still read when present: its heartbeat_s says when a station counts as stale.
    const config =
      flag || env
        ? Option.getOrUndefined(
            yield* loadFactoryConfig(o.config).pipe(
              Effect.map((loaded) => loaded.config),
              Effect.option
            )
          )
        : (yield* loadFactoryConfig(o.config)).config
    const resolved = yield* resolveDatabase({ flag, env, config: config?.raw.database?.url, configFile: config?.file }).pipe(
      Effect.flatMap((t) => withSecretPassword(t, Option.getOrUndefined(o.secrets)))
    )
    if (!resolved) {
      return yield* new DatabaseUrlInvalid({
        source: `${o.config}`,
        problem: "no shared database configured (database.url, --database or PROVISION_DATABASE_URL)"
      })
    }
    return { resolved, staleMs: staleAfterMs(config?.raw) }
  })

const age = (s: number) => (s < 120 ? `${s.toFixed(1)}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`)

export const stationsCommand = Command.make("stations", dbOptions, (o) =>
  Effect.gen(function* () {
    const { resolved, staleMs } = yield* target(o)
    const stations = yield* listStations(staleMs).pipe(Effect.provide(Layer.fresh(pgLayer(resolved))))
    if (o.json) return yield* Console.log(JSON.stringify({ database: resolved.display, stations }, null, 2))
    for (const s of stations) {
      const ports = s.ports.map((p) => `${p.port}=${p.step}`).join(" ")
      yield* Console.log(
        `${s.state === "live" ? "●" : s.state === "stale" ? "✖" : "○"} ${s.stationId} @ ${s.host} (pid ${s.pid}) ${s.state} last_seen=${age(s.lastSeenSeconds)} batch=${s.currentBatch ?? "-"} ports=${s.ports.length} boards=${s.boards} passed=${s.passed} failed=${s.failed} throughput=${s.lastHour}/h yield=${s.yield === null ? "-" : `${(s.yield * 100).toFixed(1)}%`} interrupted=${s.interrupted}${ports ? `\n    ${ports}` : ""}`
      )
    }
    yield* Console.log(
      `Stations: total=${stations.length} live=${stations.filter((s) => s.state === "live").length} database=${resolved.display}`
    )
  })
).pipe(Command.withDescription("Stations of the shared database: host, ports, current batch, last seen, throughput, yield"))

const exportCommand = Command.make(
  "export",
  {
    ...dbOptions,
    station: Options.text("station").pipe(Options.withDescription("only this station_id"), Options.optional),
    day: Options.text("day").pipe(Options.withDescription("only this day, YYYYMMDD"), Options.optional),
    batch: Options.text("batch").pipe(Options.withDescription("only this batch id"), Options.optional),
    out: Options.text("out").pipe(Options.withDescription("directory for the files"), Options.withDefault("var/export"))
  },
  (o) =>
    Effect.gen(function* () {
      const path = yield* Path.Path
      const day = Option.getOrUndefined(o.day)
      if (day !== undefined && !/^\d{8}$/.test(day)) {
        return yield* new FactoryConfigInvalid({
          file: "command line",
          field: "--day",
          problem: `expected YYYYMMDD, got ${JSON.stringify(day)}`,
          fix: "give the day as in the CSV file name, e.g. --day 20261205"
        })
      }
      const { resolved } = yield* target(o)
      const summary = yield* exportFromStore(
        { stationId: Option.getOrUndefined(o.station), day, batchId: Option.getOrUndefined(o.batch) },
        path.resolve(o.out)
      ).pipe(Effect.provide(Layer.fresh(pgLayer(resolved))))
      const files = summary.files.map((f) => path.relative(process.cwd(), f))
      if (o.json) return yield* Console.log(JSON.stringify({ records: summary.records, files }, null, 2))
      for (const file of files) yield* Console.log(`● ${file}`)
      yield* Console.log(`Export summary: records=${summary.records} files=${files.length}`)
    })
).pipe(Command.withDescription("Write the seed's CSV/JSON files from the shared database for any station, day or batch"))

export const reportCommand = Command.make("report").pipe(
  Command.withDescription("Reports from the shared database"),
  Command.withSubcommands([exportCommand])
)
