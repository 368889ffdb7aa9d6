/**
 * Demo section: the factory line on a shared PostgreSQL — two stations as two
 * `provision flash` processes writing into one database, then `provision
 * stations` and `provision report export` over it. The database is a
 * throwaway cluster (initdb + pg_ctl, as the tests use) removed at the end;
 * without PostgreSQL installed the section says so (the factory section above
 * ran on files).
 */
import { Path } from "@effect/platform"
import { Console, Effect } from "effect"
import { execFile } from "node:child_process"
import { pgAvailable, startPgCluster } from "../../../sim/postgres/cluster.js"
import { emulatedLine } from "./factoryLine.js"

/** Runs this CLI again as a child process (the same bin the demo runs from). */
const cli = (cwd: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.async<{ code: number; stdout: string; stderr: string }>((resume) => {
    const child = execFile(
      process.execPath,
      [process.argv[1]!, ...args],
      { cwd, timeout: 180_000, env: { ...process.env, NO_COLOR: "1", ...env } },
      (error, stdout, stderr) =>
        resume(Effect.succeed({ code: error ? (typeof error.code === "number" ? error.code : 70) : 0, stdout, stderr }))
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

export const sharedStoreSection = {
  title: "Factory line on a shared PostgreSQL: two stations, two processes, one database",
  run: ({ dir }: { readonly dir: string }) =>
    Effect.scoped(
      Effect.gen(function* () {
        const path = yield* Path.Path
        if (!pgAvailable()) {
          yield* Console.log(
            "PostgreSQL is not installed here (Debian package `postgresql`): the factory line above ran on files only — the embedded default."
          )
          return
        }
        const cluster = yield* Effect.acquireRelease(
          Effect.promise(() => startPgCluster()),
          (c) => Effect.sync(() => c.destroy())
        )
        const url = cluster.createDatabase("factory")
        const shown = url.replace(/:[^:@/]+@/, ":***@")
        yield* Console.log(`PostgreSQL ${shown} (a throwaway cluster, removed at the end of this section)`)
        const root = path.resolve(dir, "shared-store")
        const line = yield* emulatedLine({
          dir: root,
          stations: [
            {
              id: "station_a",
              boardType: "esp32",
              boards: [
                { chip: "esp32", mac: "24:0a:c4:60:00:01" },
                { chip: "esp32", mac: "24:0a:c4:60:00:02" }
              ]
            },
            {
              id: "station_b",
              boardType: "esp8266",
              boards: [
                { chip: "esp8266", mac: "18:fe:34:60:00:01" },
                { chip: "esp8266", mac: "18:fe:34:60:00:02", faults: ["selftest_fail:mem"] }
              ]
            }
          ]
        })
        const flash = (station: string, host: string) =>
          cli(root, ["flash", "--config", line.configFile, "--secrets", line.secretsFile, "--before", "no_reset", "--station", station], {
            PROVISION_DATABASE_URL: url,
            PROVISION_STATION_HOST: host
          })
        yield* Console.log(`$ PROVISION_DATABASE_URL=${shown} provision flash --station station_a   # and station_b, at the same time`)
        const [a, b] = yield* Effect.all([flash("station_a", "bench-a"), flash("station_b", "bench-b")], { concurrency: "unbounded" })
        for (const [name, r] of [
          ["station_a", a],
          ["station_b", b]
        ] as const) {
          yield* Console.log(
            `[${name}] (exit code ${r.code})\n${r.stdout
              .trim()
              .split("\n")
              .map((l) => `  ${l}`)
              .join("\n")}`
          )
        }
        yield* Console.log(`\n$ provision stations`)
        const stations = yield* cli(root, ["stations"], { PROVISION_DATABASE_URL: url })
        yield* Console.log(stations.stdout.trim() || stations.stderr.trim())
        yield* Console.log(`\n$ provision report export --out var/export`)
        const exported = yield* cli(root, ["report", "export", "--out", "var/export"], { PROVISION_DATABASE_URL: url })
        yield* Console.log(exported.stdout.trim() || exported.stderr.trim())
      })
    )
}
