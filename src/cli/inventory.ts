/**
 * `provision inventory list|show|set-name|set-ip|import|export|forget`: review
 * and edit data/ip_state.json. Writes go through the inventory store (safe
 * write + state lock) inside the project lock, so they refuse while Stage 1
 * runs. Exit codes: 0 ok, 2 bad input (nothing written), 3 lock held, 4 file error.
 */
import { Args, Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Console, Effect, Layer, Option } from "effect"
import { printable } from "../domain/printable.js"
import { describeError, isOperatorError } from "../domain/errors/base.js"
import { InventoryInputInvalid } from "../domain/errors/web.js"
import { InventoryLive, ProjectLockLive, safeWriteFile } from "../inventory/index.js"
import { rowsToCsv } from "../app/inventory/csv.js"
import {
  forgetDevice,
  importCsv,
  type InventorySettings,
  loadInventorySettings,
  loadRows,
  probeRows,
  resolveDevice,
  setFriendlyName,
  setPlannedIp
} from "../app/inventory/operations.js"
import { formatTable, matchesFilter } from "../app/inventory/rows.js"
import { ShellyRpcWithCredentialsLive } from "../credentials/rpc.js"
import { ExitCodes, ExitWith } from "./exit.js"

export const inventoryLayer = Layer.mergeAll(ShellyRpcWithCredentialsLive, InventoryLive, ProjectLockLive)

const configOption = Options.text("config").pipe(
  Options.optional,
  Options.withDescription("Config file (default data/config.yaml); ip_state_file and friendly.field_name come from stage3.")
)

const exitCodeFor = (tag: string): number =>
  tag === "LockHeld"
    ? ExitCodes.lockHeld
    : tag === "StateWriteError" || tag === "InventoryReadError" || tag === "LockFailed"
      ? ExitCodes.fileError
      : ExitCodes.invalidInput

/**
 * Loads the settings, runs `body`, and turns operator errors into
 * `error: …` on stderr plus the exit code, so the command behaves the same
 * under any CLI root.
 */
const withSettings = <E, R>(config: Option.Option<string>, body: (settings: InventorySettings) => Effect.Effect<void, E, R>) =>
  Effect.gen(function* () {
    const settings = yield* loadInventorySettings(Option.getOrUndefined(config))
    for (const warning of settings.warnings) yield* Console.error(`warning: ${warning}`)
    yield* body(settings)
  }).pipe(
    Effect.catchAll((error: unknown) =>
      isOperatorError(error)
        ? Effect.zipRight(Console.error(`error: ${describeError(error)}`), Effect.fail(new ExitWith({ exitCode: exitCodeFor(error._tag) })))
        : Effect.die(error)
    ),
    Effect.provide(inventoryLayer)
  )

const json = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

const list = Command.make(
  "list",
  {
    config: configOption,
    json: Options.boolean("json").pipe(Options.withDescription("A JSON array of device rows instead of the table.")),
    model: Options.text("model").pipe(Options.optional, Options.withDescription("Only this model code or app (e.g. S2PMG3).")),
    status: Options.text("status").pipe(
      Options.optional,
      Options.withDescription("Only devices with this stage status (e.g. update_available, error, ok).")
    ),
    online: Options.boolean("online").pipe(
      Options.withDescription("Probe every device (TCP, stage3.probe_timeout_ms) and list only those that answer.")
    ),
    search: Options.text("search").pipe(Options.optional, Options.withDescription("Text in MAC, IP, model, fw or name."))
  },
  (f) =>
    withSettings(f.config, (settings) =>
      Effect.gen(function* () {
        const { rows } = yield* loadRows(settings)
        const filtered = rows.filter((row) =>
          matchesFilter(row, {
            model: Option.getOrUndefined(f.model),
            status: Option.getOrUndefined(f.status),
            search: Option.getOrUndefined(f.search)
          })
        )
        const online = f.online ? yield* probeRows(settings, filtered) : undefined
        const shown = online ? filtered.filter((row) => online.get(row.mac) === true) : filtered
        if (f.json) return yield* json(shown.map((row) => (online ? { ...row, online: true } : row)))
        for (const line of formatTable(shown, online)) yield* Console.log(line)
        yield* Console.error(`${shown.length} of ${rows.length} devices (${settings.stateFile})`)
      })
    )
).pipe(Command.withDescription("Table of the devices in ip_state.json (filters: --model, --status, --online, --search)."))

const show = Command.make(
  "show",
  {
    config: configOption,
    json: Options.boolean("json").pipe(Options.withDescription("The record as JSON (with its mac).")),
    device: Args.text({ name: "MAC|IP" }).pipe(Args.withDescription("MAC in any spelling, or the device's IP."))
  },
  (f) =>
    withSettings(f.config, (settings) =>
      Effect.gen(function* () {
        const { doc } = yield* loadRows(settings)
        const device = yield* resolveDevice(doc, f.device)
        if (f.json) return yield* json({ mac: device.key, ...device.record })
        yield* Console.log(`mac: ${printable(device.key)}`)
        for (const [key, value] of Object.entries(device.record)) {
          yield* Console.log(printable(`${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`))
        }
      })
    )
).pipe(Command.withDescription("Everything ip_state.json holds about one device."))

const setName = Command.make(
  "set-name",
  {
    config: configOption,
    device: Args.text({ name: "MAC|IP" }),
    name: Args.text({ name: "NAME" }).pipe(Args.withDescription("Friendly name (quoted if it has spaces)."))
  },
  (f) =>
    withSettings(f.config, (settings) =>
      Effect.gen(function* () {
        const done = yield* setFriendlyName(settings, f.device, f.name)
        yield* Console.log(
          done.previous === done.name
            ? `${done.device.key}: ${settings.friendlyField} already "${done.name}"`
            : `${done.device.key}: ${settings.friendlyField} "${done.previous}" → "${done.name}" (sent to the device by the next stage3 run)`
        )
      })
    )
).pipe(Command.withDescription("Set a device's friendly name, normalised and checked as Stage 3 sends it."))

const setIp = Command.make("set-ip", { config: configOption, device: Args.text({ name: "MAC|IP" }), ip: Args.text({ name: "IP" }) }, (f) =>
  withSettings(f.config, (settings) =>
    Effect.gen(function* () {
      const done = yield* setPlannedIp(settings, f.device, f.ip)
      yield* Console.log(`${done.mac}: ip ${done.ip}`)
    })
  )
).pipe(Command.withDescription("Assign a planned address (the ip field) to a device."))

const importCommand = Command.make("import", { config: configOption, file: Args.file({ name: "CSV", exists: "yes" }) }, (f) =>
  withSettings(f.config, (settings) =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const text = yield* fs
        .readFileString(f.file)
        .pipe(Effect.mapError((e) => new InventoryInputInvalid({ what: `cannot read ${f.file}`, problems: [e.message] })))
      const done = yield* importCsv(settings, f.file, text)
      yield* Console.log(`imported ${f.file}: ${done.added} added, ${done.updated} updated (${settings.stateFile})`)
    })
  )
).pipe(Command.withDescription("Add or update devices from a CSV (header with mac; ip, model, app, fw, hostname, name)."))

const exportCommand = Command.make(
  "export",
  {
    config: configOption,
    target: Args.text({ name: "FILE|csv|json" }).pipe(
      Args.withDescription("A file ending in .csv or .json, or `csv` / `json` for standard output.")
    )
  },
  (f) =>
    withSettings(f.config, (settings) =>
      Effect.gen(function* () {
        const { doc, rows } = yield* loadRows(settings)
        const format =
          f.target === "csv" || f.target.toLowerCase().endsWith(".csv")
            ? "csv"
            : f.target === "json" || f.target.toLowerCase().endsWith(".json")
              ? "json"
              : undefined
        if (format === undefined) {
          return yield* new InventoryInputInvalid({ what: `export ${f.target}`, problems: ["the file must end in .csv or .json"] })
        }
        const content =
          format === "csv"
            ? rowsToCsv(rows, settings.friendlyField)
            : `${JSON.stringify(
                doc.devices.map((d) => ({ mac: d.key, ...d.record })),
                null,
                2
              )}\n`
        if (f.target === format) return yield* Effect.sync(() => void process.stdout.write(content))
        yield* safeWriteFile(f.target, content)
        yield* Console.error(`exported ${rows.length} devices to ${f.target}`)
      })
    )
).pipe(Command.withDescription("Write the inventory as CSV or JSON."))

const forget = Command.make("forget", { config: configOption, device: Args.text({ name: "MAC|IP" }) }, (f) =>
  withSettings(f.config, (settings) =>
    Effect.gen(function* () {
      const gone = yield* forgetDevice(settings, f.device)
      yield* Console.log(`${gone.key} (${gone.ip || "no ip"}) removed from ${settings.stateFile}`)
    })
  )
).pipe(Command.withDescription("Remove a device from ip_state.json (a .bak copy of the file is kept)."))

export const inventoryCommand = Command.make("inventory").pipe(
  Command.withDescription("Review and edit the device inventory (data/ip_state.json)."),
  Command.withSubcommands([list, show, setName, setIp, importCommand, exportCommand, forget])
)
