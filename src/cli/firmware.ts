/**
 * `provision firmware add FILE --model M --fw-version V` and `provision firmware
 * list [--json]`: the local firmware cache (src/firmware/cache.ts) that pinned
 * Stage 3 updates send devices to. Exit codes: 0 ok, 2 bad input (cache
 * unchanged), 4 the cache index cannot be written.
 */
import { Args, Command, Options } from "@effect/cli"
import { Clock, Console, Effect, Option } from "effect"
import { loadAppConfig } from "../config/index.js"
import { addFirmware, DEFAULT_FIRMWARE_DIR, loadFirmwareIndex } from "../firmware/cache.js"

const dirOption = Options.text("dir").pipe(
  Options.optional,
  Options.withDescription("Cache folder (default stage3.ota.firmware_dir from config, else var/firmware).")
)
const configOption = Options.text("config").pipe(Options.optional, Options.withDescription("Config file (default data/config.yaml)."))

/** `--dir`, else the config's `stage3.ota.firmware_dir`; no config file at all → the default folder. */
const cacheDir = (dir: Option.Option<string>, config: Option.Option<string>) =>
  Option.isSome(dir)
    ? Effect.succeed(dir.value)
    : loadAppConfig(Option.getOrUndefined(config)).pipe(
        Effect.map((loaded) => loaded.value.stage3.ota.firmware_dir),
        Effect.catchTag("ConfigMissing", (e) => (Option.isSome(config) ? Effect.fail(e) : Effect.succeed(DEFAULT_FIRMWARE_DIR)))
      )

const add = Command.make(
  "add",
  {
    file: Args.file({ name: "FILE", exists: "yes" }).pipe(Args.withDescription("The firmware file (as downloaded from the vendor).")),
    model: Options.text("model").pipe(Options.withDescription("Model it is for: app (S2PMG3) or model code (S3SW-002P16EU).")),
    version: Options.text("fw-version").pipe(
      Options.withDescription(
        "(`--version` is the CLI's own flag.) Its version as the device reports it (Shelly.GetDeviceInfo ver), e.g. 1.7.5."
      )
    ),
    dir: dirOption,
    config: configOption
  },
  (f) =>
    Effect.gen(function* () {
      const dir = yield* cacheDir(f.dir, f.config)
      const now = new Date(yield* Clock.currentTimeMillis).toISOString()
      const { entry, added } = yield* addFirmware({ file: f.file, model: f.model, version: f.version, dir, now })
      yield* Console.log(
        `${added ? "added" : "already cached"}: ${entry.model} ${entry.version} sha256=${entry.sha256} size=${entry.size} → ${dir}/${entry.file}`
      )
    })
).pipe(Command.withDescription("Record a firmware file (model, version, sha256) in the local cache under var/firmware/."))

const list = Command.make(
  "list",
  {
    json: Options.boolean("json").pipe(Options.withDescription("A JSON array instead of the table.")),
    dir: dirOption,
    config: configOption
  },
  (f) =>
    Effect.gen(function* () {
      const dir = yield* cacheDir(f.dir, f.config)
      const entries = yield* loadFirmwareIndex(dir)
      if (f.json) return yield* Console.log(JSON.stringify(entries, null, 2))
      if (entries.length === 0)
        return yield* Console.log(`no firmware cached in ${dir} (add one: provision firmware add FILE --model M --fw-version V)`)
      const rows = [
        ["MODEL", "VERSION", "SHA256", "SIZE", "SOURCE"],
        ...entries.map((e) => [e.model, e.version, e.sha256.slice(0, 16), String(e.size), e.source])
      ]
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
      for (const row of rows)
        yield* Console.log(
          row
            .map((c, i) => c.padEnd(widths[i]!))
            .join("  ")
            .trimEnd()
        )
    })
).pipe(Command.withDescription("The firmware files in the local cache."))

export const firmwareCommand = Command.make("firmware").pipe(
  Command.withDescription("The local firmware cache for pinned Stage 3 updates (devices download from provision serve)."),
  Command.withSubcommands([add, list])
)
