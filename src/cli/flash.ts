/**
 * `provision flash`: the factory line. Flags → factory-config.yaml → batch
 * (detect, flash, verify, test, register, label, record) → one line per board,
 * a summary, CSV + JSON report. `provision flash sync` delivers registrations
 * queued while the backend was down.
 *
 * Batch size: the batch takes `--batch-size` boards in total (default: one per
 * selected port). Every port works in parallel; a port flashes the board on it,
 * then waits (up to `--swap-timeout` s) for a board with another identity
 * (the operator swapped it) while boards are still missing from the batch.
 *
 * Exit codes: 0 every board passed, 1 a board failed (or, in --test-mode, a
 * port had no board; for sync: registrations remain queued), 2 bad
 * flags/config/gate (nothing touched), 4 records could not be written.
 */
import { Command, Options } from "@effect/cli"
import { Path } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Console, Effect, Layer, Option } from "effect"
import { loadSecrets, missingSecret } from "../config/secrets.js"
import { describeError } from "../domain/errors/base.js"
import { BackendLive } from "../factory/BackendLive.js"
import { detectAll, runBatch } from "../factory/batch.js"
import { detectLine } from "../factory/lines.js"
import { loadFactoryConfig } from "../factory/loadConfig.js"
import { FactoryLogFile, factoryLogLayer } from "../factory/log.js"
import { syncQueue } from "../factory/register.js"
import { failedPorts } from "../factory/retryFailed.js"
import { RegistrationQueueLive } from "../factory/RegistrationQueue.js"
import { Backend } from "../factory/Backend.js"
import { FlasherLive } from "../flash/FlasherLive.js"
import { runOutputFor } from "../report/runOutputLive.js"
import { useColor } from "../report/terminal.js"
import { SerialPortsLive } from "../serial/SerialPortsLive.js"
import { ExitCodes, ExitWith } from "./exit.js"
import { databaseOptions, databaseTarget, spooledLine, withSharedStore } from "./flashStore.js"
import { syncSharedOutbox } from "./flashSync.js"
import { integerFlag, MAX_FLAG_SECONDS } from "./flagValues.js"

export const DEFAULT_FACTORY_CONFIG = "data/factory-config.yaml"
export const QUEUE_FILE = "var/records/registration-queue.jsonl"
export const LOG_FILE = "var/log/factory-provisioning.log"

const common = {
  config: Options.text("config").pipe(
    Options.withDescription("factory config file (paths inside are relative to it)"),
    Options.withDefault(DEFAULT_FACTORY_CONFIG)
  ),
  secrets: Options.text("secrets").pipe(
    Options.withDescription("secrets file holding backend.token (default data/secrets.yaml)"),
    Options.optional
  ),
  json: Options.boolean("json").pipe(Options.withDescription("print one JSON document on stdout instead of lines"))
}

const flashOptions = {
  ...common,
  ...databaseOptions,
  testMode: Options.boolean("test-mode").pipe(Options.withDescription("detect only: port, chip, MAC, flash size; writes nothing")),
  station: Options.text("station").pipe(Options.withDescription("run only this station_id"), Options.optional),
  batchSize: integerFlag("batch-size", { min: 1, max: 100_000 }).pipe(
    Options.withDescription(
      "boards in this batch, over all selected ports (default: one per port); a port takes its next board once the operator swapped it"
    ),
    Options.optional
  ),
  baud: integerFlag("baud", { min: 300, max: 16_000_000 }).pipe(
    Options.withDescription("bootloader baud rate for every board (overrides board_configs.*.baud)"),
    Options.optional
  ),
  before: Options.choice("before", ["default_reset", "usb_reset", "no_reset"]).pipe(
    Options.withDescription("how to enter the bootloader (overrides reset_mode); no_reset for ptys and boards held in download mode"),
    Options.optional
  ),
  qr: Options.boolean("qr").pipe(Options.withDescription("print each board's QR label in the terminal")),
  noStub: Options.boolean("no-stub").pipe(
    Options.withDescription("ESP: flash through the ROM loader only, without Espressif's flasher stub (slower; like esptool --no-stub)")
  ),
  retryFailed: Options.file("retry-failed").pipe(
    Options.withDescription("rerun only the ports whose boards failed in this batch report (var/reports/batch_report_*.json)"),
    Options.optional
  ),
  swapTimeout: integerFlag("swap-timeout", { min: 0, max: MAX_FLAG_SECONDS }).pipe(
    Options.withDescription("seconds a port waits for the next board when the batch needs more boards than ports (0: do not wait)"),
    Options.withDefault(60)
  )
}

const flashLayer = FlasherLive.pipe(Layer.provideMerge(SerialPortsLive))

const backendLayer = (url: string, secretsFile: string | undefined) =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const secrets = yield* loadSecrets(secretsFile)
      const token = secrets.value.backend?.token
      if (token === undefined)
        return yield* missingSecret(secrets.file ?? secretsFile, "backend.token", "provision flash (backend registration)")
      return Layer.mergeAll(BackendLive({ url, token }).pipe(Layer.provide(NodeHttpClient.layer)), RegistrationQueueLive(QUEUE_FILE))
    })
  )

export const flashCommand = Command.make("flash", flashOptions, (o) =>
  Effect.gen(function* () {
    const path = yield* Path.Path
    const root = process.cwd()
    const relative = (file: string) => path.relative(root, file)
    const color = !o.json && useColor(process.stdout)
    const { config, warnings } = yield* loadFactoryConfig(o.config)
    for (const warning of warnings) yield* Console.error(`warning: ${warning}`)
    const retry = Option.isSome(o.retryFailed) ? yield* failedPorts(o.retryFailed.value) : undefined
    if (retry !== undefined && retry.length === 0) {
      yield* Console.log(`Nothing to retry: no board failed in ${o.retryFailed.pipe(Option.getOrElse(() => ""))}`)
      return
    }
    const line = {
      config,
      station: Option.getOrUndefined(o.station),
      before: Option.getOrUndefined(o.before),
      baud: Option.getOrUndefined(o.baud),
      noStub: o.noStub,
      ports: retry
    }

    if (o.testMode) {
      const found = yield* detectAll(line).pipe(Effect.provide(flashLayer))
      if (o.json) {
        yield* Console.log(
          JSON.stringify(
            found.map((d) => ({
              station_id: d.station,
              port: d.port,
              chip: d.board?.chip ?? null,
              platform: d.board?.platform ?? null,
              identity: d.board?.identity ?? null,
              flash_size: d.board?.flashSizeBytes ?? null,
              error_code: d.problem?.code ?? null,
              error: d.problem?.message ?? null
            })),
            null,
            2
          )
        )
      } else {
        for (const d of found) yield* Console.log(detectLine(d, color))
        yield* Console.log(
          `Detect summary: ports=${found.length} found=${found.filter((d) => d.board).length} missing=${found.filter((d) => !d.board).length}`
        )
      }
      if (found.some((d) => !d.board)) return yield* new ExitWith({ exitCode: ExitCodes.devicesFailed })
      return
    }

    // One RunOutput for the batch and the log's console echo: the per-port rows stay clear of both.
    const lineOutput = factoryLogLayer({
      file: LOG_FILE,
      level: config.raw.logging.level,
      maxFileSize: config.raw.logging.max_file_size,
      backupCount: config.raw.logging.backup_count,
      console: config.raw.logging.console_output && !o.json
    }).pipe(Layer.provideMerge(runOutputFor(o.json)))
    const stations = line.station === undefined ? config.stations : config.stations.filter((s) => s.station_id === line.station)
    const target = yield* databaseTarget(config, Option.getOrUndefined(o.database), o.offline, Option.getOrUndefined(o.secrets))
    const [outcome, shared] = yield* Effect.flatMap(FactoryLogFile, (log) =>
      withSharedStore(
        { target, config, stations: stations.map((s) => ({ stationId: s.station_id, ports: s.ports })), queueFile: QUEUE_FILE, log },
        runBatch({
          ...line,
          batchSize: Option.getOrUndefined(o.batchSize),
          swapTimeout: `${o.swapTimeout} seconds`,
          root,
          boardLines: o.json ? undefined : { relativeTo: root },
          printQr: o.qr && !o.json
        })
      )
    ).pipe(
      Effect.provide(
        Layer.mergeAll(flashLayer, backendLayer(config.raw.provisioning_service_url, Option.getOrUndefined(o.secrets)), lineOutput)
      )
    )

    const r = outcome.report
    if (o.json) {
      yield* Console.log(
        JSON.stringify(
          {
            ...r,
            report_file: relative(outcome.reportFile),
            record_files: outcome.recordFiles.map(relative),
            ...(shared
              ? {
                  store: {
                    database: shared.display,
                    records_stored: shared.stats.stored,
                    records_spooled: shared.stats.spooled,
                    spooled_remaining: shared.spooledRemaining,
                    spool_file: shared.spoolFile
                  }
                }
              : {})
          },
          null,
          2
        )
      )
    } else {
      yield* Console.log(
        `Batch summary: total=${r.totals.total} passed=${r.totals.passed} failed=${r.totals.failed} queued=${r.totals.queued} retries=${r.retries} flash_p50=${r.flash_time_s.p50 ?? "-"}s flash_p95=${r.flash_time_s.p95 ?? "-"}s throughput=${r.throughput_boards_per_min}/min`
      )
      yield* Console.log(
        `Report: ${relative(outcome.reportFile)}${outcome.recordFiles.length ? `  Records: ${outcome.recordFiles.map(relative).join(", ")}` : ""}`
      )
      if (r.totals.queued > 0)
        yield* Console.log(
          `${r.totals.queued} registration(s) queued in ${QUEUE_FILE}: run \`provision flash sync\` once the backend is up`
        )
      const spooled = spooledLine(shared)
      if (spooled) yield* Console.log(spooled)
      for (const error of outcome.recordErrors) yield* Console.error(`error: ${describeError(error)}`)
    }
    if (outcome.recordErrors.length > 0) return yield* new ExitWith({ exitCode: ExitCodes.fileError })
    if (r.totals.failed > 0) return yield* new ExitWith({ exitCode: ExitCodes.devicesFailed })
  })
).pipe(
  Command.withDescription("Factory line: detect, flash, verify, self-test, register and label boards on every station port in parallel")
)

export const flashSyncCommand = Command.make("sync", { ...common, ...databaseOptions }, (o) =>
  Effect.gen(function* () {
    const { config } = yield* loadFactoryConfig(o.config)
    const target = yield* databaseTarget(config, Option.getOrUndefined(o.database), o.offline, Option.getOrUndefined(o.secrets))
    if (target)
      return yield* syncSharedOutbox({ target, json: o.json, queueFile: QUEUE_FILE }).pipe(
        Effect.provide(backendLayer(config.raw.provisioning_service_url, Option.getOrUndefined(o.secrets)))
      )
    const { summary, batches } = yield* Effect.gen(function* () {
      const summary = yield* syncQueue()
      const batches = summary.delivered > 0 ? yield* (yield* Backend).listBatches.pipe(Effect.orElseSucceed(() => [])) : []
      return { summary, batches }
    }).pipe(Effect.provide(backendLayer(config.raw.provisioning_service_url, Option.getOrUndefined(o.secrets))))
    if (o.json) {
      yield* Console.log(
        JSON.stringify(
          {
            ...summary,
            failures: summary.failures.map((f) => ({
              batch_id: f.batchId,
              devices: f.devices,
              code: f.error.code,
              error: f.error.message
            })),
            batches
          },
          null,
          2
        )
      )
    } else {
      for (const failure of summary.failures)
        yield* Console.log(`✖ batch ${failure.batchId}: ${failure.devices} registration(s) not delivered — ${describeError(failure.error)}`)
      for (const batch of batches) yield* Console.log(`● backend batch ${batch.batch_id}: devices=${batch.device_count}`)
      yield* Console.log(
        `Sync summary: pending=${summary.pending} delivered=${summary.delivered} created=${summary.created} existing=${summary.existing} remaining=${summary.remaining}${summary.unreadable ? ` unreadable_lines=${summary.unreadable}` : ""}`
      )
    }
    if (summary.remaining > 0) return yield* new ExitWith({ exitCode: ExitCodes.devicesFailed })
  })
).pipe(Command.withDescription("Deliver registrations queued while the provisioning backend was unreachable"))

export const flashRootCommand = flashCommand.pipe(Command.withSubcommands([flashSyncCommand]))
