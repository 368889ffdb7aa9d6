// Live Wifi layer over NetworkManager's `nmcli` (terse mode). Every call names
// the interface explicitly (`ifname`), so the operator's uplink is never touched.
import { Command, CommandExecutor, FileSystem, Path } from "@effect/platform"
import { Duration, Effect, Layer, Option, Redacted, Stream } from "effect"
import { NmcliMissing, WifiCommandFailed, WifiConnectFailed, WifiInterfaceMissing, WifiNotAuthorized } from "../domain/errors/wifi.js"
import type { WifiError } from "../domain/errors/wifi.js"
import { terseLines } from "./terse.js"
import { Wifi } from "./Wifi.js"
import type { AccessPoint, WifiConnection, WifiService } from "./Wifi.js"

export interface NmcliWifiOptions {
  readonly iface: string
  /** How long NetworkManager may take to activate a connection. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** Any other nmcli call. */
  readonly commandTimeout?: Duration.DurationInput | undefined
}

interface NmcliResult {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
}

const collect = <E>(stream: Stream.Stream<Uint8Array, E>) => stream.pipe(Stream.decodeText(), Stream.mkString)

/** nmcli's first error line without its `Error: ` prefix. */
const firstError = (stderr: string): string =>
  stderr
    .split("\n")
    .map((line) => line.trim())
    .find((line) => line.length > 0)
    ?.replace(/^Error:\s*/, "") ?? "no error text"

/**
 * Profiles this layer creates for protected networks. Their password is never
 * stored (`psk-flags 2`): it reaches nmcli only through a passwd-file.
 */
const PROFILE_PREFIX = "provision-"

const NOT_AUTHORISED = /not authori[sz]ed|insufficient privileges|permission denied/i
const NO_DEVICE = /device '[^']*' not found|no such device|not a wi-?fi device|unknown device/i

type NmcliRequirements = CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path

export const makeNmcliWifi = (options: NmcliWifiOptions): Effect.Effect<WifiService, never, NmcliRequirements> =>
  Effect.gen(function* () {
    const executor = yield* CommandExecutor.CommandExecutor
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const { iface } = options
    const connectTimeout = Duration.decode(options.connectTimeout ?? "30 seconds")
    const commandTimeout = Duration.decode(options.commandTimeout ?? "15 seconds")

    const run = (
      operation: string,
      args: ReadonlyArray<string>,
      timeout: Duration.Duration
    ): Effect.Effect<NmcliResult, NmcliMissing | WifiCommandFailed> =>
      Effect.scoped(
        Effect.gen(function* () {
          // LC_ALL=C: the messages we classify are NetworkManager's English ones.
          const command = Command.make("nmcli", ...args).pipe(Command.env({ LC_ALL: "C" }))
          const process = yield* Command.start(command)
          const [stdout, stderr, exitCode] = yield* Effect.all([collect(process.stdout), collect(process.stderr), process.exitCode], {
            concurrency: 3
          })
          return { exitCode: Number(exitCode), stdout, stderr }
        })
      ).pipe(
        Effect.provideService(CommandExecutor.CommandExecutor, executor),
        Effect.mapError((error): NmcliMissing | WifiCommandFailed =>
          error._tag === "SystemError" && error.reason === "NotFound"
            ? new NmcliMissing({ reason: "nmcli not found on PATH" })
            : error._tag === "SystemError" && error.reason === "PermissionDenied"
              ? new NmcliMissing({ reason: "nmcli is not executable" })
              : new WifiCommandFailed({ iface, operation, reason: error.message })
        ),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => new WifiCommandFailed({ iface, operation, reason: `nmcli did not finish within ${Duration.format(timeout)}` })
        })
      )

    const wifiDevices: Effect.Effect<ReadonlyArray<string>> = run(
      "list devices",
      ["-t", "-f", "DEVICE,TYPE", "dev", "status"],
      commandTimeout
    ).pipe(
      Effect.map((r) =>
        terseLines(r.stdout)
          .filter((f) => f[1] === "wifi")
          .map((f) => f[0]!)
      ),
      Effect.orElseSucceed(() => [])
    )

    /** Turns a failed nmcli run into the error an operator can act on. */
    const classify = (operation: string, result: NmcliResult, ssid?: string): Effect.Effect<never, WifiError> => {
      const text = `${result.stderr}\n${result.stdout}`
      if (NOT_AUTHORISED.test(text)) return Effect.fail(new WifiNotAuthorized({ iface, operation }))
      if (NO_DEVICE.test(text))
        return Effect.flatMap(wifiDevices, (available) => Effect.fail(new WifiInterfaceMissing({ iface, available })))
      if (result.exitCode === 8) return Effect.fail(new WifiCommandFailed({ iface, operation, reason: "NetworkManager is not running" }))
      if (ssid !== undefined && [3, 4, 10].includes(result.exitCode)) {
        return Effect.fail(new WifiConnectFailed({ iface, ssid, reason: firstError(result.stderr) }))
      }
      return Effect.fail(new WifiCommandFailed({ iface, operation, reason: `exit ${result.exitCode}: ${firstError(result.stderr)}` }))
    }

    const runOk = (operation: string, args: ReadonlyArray<string>, timeout = commandTimeout, ssid?: string) =>
      Effect.flatMap(run(operation, args, timeout), (result) =>
        result.exitCode === 0 ? Effect.succeed(result) : classify(operation, result, ssid)
      )

    const list = (rescan: "yes" | "no") =>
      runOk("scan", ["-t", "-f", "IN-USE,SSID,BSSID,SIGNAL,SECURITY", "dev", "wifi", "list", "ifname", iface, "--rescan", rescan]).pipe(
        Effect.map((r) =>
          terseLines(r.stdout)
            .filter((f) => f.length >= 5 && f[1]!.length > 0)
            .map((f) => ({
              inUse: f[0] === "*",
              ap: {
                ssid: f[1]!,
                bssid: f[2]!.toUpperCase(),
                signal: Number.parseInt(f[3]!, 10) || 0,
                security: f[4]!.trim() === "" || f[4] === "--" ? "open" : f[4]!.trim()
              } satisfies AccessPoint
            }))
        )
      )

    const current = (): Effect.Effect<Option.Option<WifiConnection>, WifiError> =>
      Effect.gen(function* () {
        const status = yield* runOk("read status", ["-t", "-f", "DEVICE,TYPE,STATE,CONNECTION", "dev", "status"])
        const rows = terseLines(status.stdout)
        const row = rows.find((f) => f[0] === iface)
        if (row === undefined || row[1] !== "wifi") {
          return yield* Effect.fail(new WifiInterfaceMissing({ iface, available: rows.filter((f) => f[1] === "wifi").map((f) => f[0]!) }))
        }
        const profile = row[3] ?? ""
        if (!row[2]?.startsWith("connected") || profile === "" || profile === "--") return Option.none()
        const inUse = (yield* list("no")).find((entry) => entry.inUse)
        return Option.some({ profile, ssid: inUse?.ap.ssid ?? profile })
      })

    // Profiles NetworkManager created for factory APs; deleted on restore so a
    // run over hundreds of devices leaves no profile per device behind.
    const created = new Set<string>()

    const deleteCreated = Effect.suspend(() =>
      Effect.forEach(
        [...created],
        (profile) =>
          run("delete profile", ["con", "delete", "id", profile], commandTimeout).pipe(
            Effect.ignore,
            Effect.tap(() => created.delete(profile))
          ),
        { discard: true }
      )
    )

    const activationSeconds = String(Math.max(1, Math.ceil(Duration.toSeconds(connectTimeout))))
    // nmcli's own -w bounds the activation; the extra margin covers its start-up.
    const activationTimeout = Duration.sum(connectTimeout, Duration.seconds(5))

    /** An open factory AP: NetworkManager makes a profile named after the SSID, deleted on restore. */
    const connectOpen = (ssid: string): Effect.Effect<WifiConnection, WifiError> =>
      runOk("connect", ["-w", activationSeconds, "dev", "wifi", "connect", ssid, "ifname", iface], activationTimeout, ssid).pipe(
        Effect.zipRight(current()),
        Effect.map(Option.getOrElse(() => ({ ssid, profile: ssid }))),
        Effect.tap((connection) => Effect.sync(() => created.add(connection.profile)))
      )

    /**
     * A protected network. `dev wifi connect … password PW` would put the
     * password on nmcli's command line, readable by every user in `ps`; instead
     * a profile that never stores it is activated with `passwd-file`, a file
     * in a private (0700) temp directory, mode 0600, removed right after.
     */
    const connectProtected = (ssid: string, password: Redacted.Redacted<string>): Effect.Effect<WifiConnection, WifiError> =>
      Effect.scoped(
        Effect.gen(function* () {
          if (/[\r\n]/.test(Redacted.value(password))) {
            return yield* Effect.fail(
              new WifiConnectFailed({ iface, ssid, reason: "the password contains a line break; fix it in secrets.yaml" })
            )
          }
          const profile = `${PROFILE_PREFIX}${ssid}`
          // A profile left by an interrupted earlier run would make `con add` create a duplicate.
          yield* run("delete profile", ["con", "delete", "id", profile], commandTimeout).pipe(Effect.ignore)
          yield* runOk(
            "add profile",
            [
              "con",
              "add",
              "type",
              "wifi",
              "ifname",
              iface,
              "con-name",
              profile,
              "ssid",
              ssid,
              "wifi-sec.key-mgmt",
              "wpa-psk",
              "wifi-sec.psk-flags",
              "2"
            ],
            commandTimeout,
            ssid
          )
          created.add(profile)
          const dir = yield* fs.makeTempDirectoryScoped({ prefix: "provision-nmcli-" }).pipe(Effect.mapError(secretFileFailed))
          const file = path.join(dir, "passwd")
          yield* fs
            .writeFileString(file, `802-11-wireless-security.psk:${Redacted.value(password)}\n`, { mode: 0o600 })
            .pipe(Effect.mapError(secretFileFailed))
          yield* runOk(
            "connect",
            ["-w", activationSeconds, "con", "up", "id", profile, "ifname", iface, "passwd-file", file],
            activationTimeout,
            ssid
          )
          return { ssid, profile }
        })
      )

    const secretFileFailed = (error: { readonly message: string }) =>
      new WifiCommandFailed({ iface, operation: "write passwd-file", reason: error.message })

    const service: WifiService = {
      iface,
      scan: () => list("yes").pipe(Effect.map((entries) => entries.map((entry) => entry.ap))),
      connect: (network) => (network.password === undefined ? connectOpen(network.ssid) : connectProtected(network.ssid, network.password)),
      current,
      restore: (previous) =>
        Option.match<WifiConnection, Effect.Effect<void, WifiError>, Effect.Effect<void, WifiError>>(previous, {
          onNone: () =>
            run("disconnect", ["dev", "disconnect", iface], commandTimeout).pipe(
              Effect.flatMap((result) =>
                // Already disconnected is the state we want.
                result.exitCode === 0 || /not active|disconnected/i.test(result.stderr) ? Effect.void : classify("disconnect", result)
              )
            ),
          onSome: (connection) =>
            runOk(
              "restore connection",
              ["-w", activationSeconds, "con", "up", "id", connection.profile, "ifname", iface],
              activationTimeout,
              connection.ssid
            ).pipe(Effect.asVoid)
        }).pipe(Effect.zipRight(deleteCreated))
    }
    return service
  })

export const NmcliWifiLive = (options: NmcliWifiOptions): Layer.Layer<Wifi, never, NmcliRequirements> =>
  Layer.effect(Wifi, makeNmcliWifi(options))
