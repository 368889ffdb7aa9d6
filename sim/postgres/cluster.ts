/**
 * A throwaway PostgreSQL cluster for tests, the demo and the benchmark:
 * `initdb` + `pg_ctl` from Debian's `postgresql` package, listening on
 * 127.0.0.1 (a free high port) and a unix socket in its own directory.
 *
 * PostgreSQL refuses to run as root, so when we are root the binaries run as
 * the `postgres` system user the package creates (`runuser -u postgres`), and
 * the cluster directory is handed to that user. Password auth (scram) over
 * TCP, so the store's Redacted password path is the one exercised.
 *
 * Every cluster lives below `clustersRoot()` (FP_PG_ROOT, default `/tmp/fp-pg`): a test
 * run's global teardown stops whatever is still running there, even when a
 * worker died before its own `stop`.
 */
import { execFileSync } from "node:child_process"
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"

const PG_BIN_DIRS = ["/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"]
/** Read at each start, so a test run's global setup can point its workers elsewhere. */
export const clustersRoot = (): string => process.env.FP_PG_ROOT ?? "/tmp/fp-pg"

export const pgBinDir = (): string | undefined => PG_BIN_DIRS.find((dir) => existsSync(join(dir, "pg_ctl")))

/** True when a cluster can be started here (Debian's postgresql package installed). */
export const pgAvailable = (): boolean => pgBinDir() !== undefined

export interface PgCluster {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres` */
  readonly url: string
  readonly port: number
  readonly password: string
  readonly dir: string
  /** A URL for another database of this cluster. */
  readonly urlFor: (database: string) => string
  /** Creates a database and returns its URL. */
  readonly createDatabase: (name: string) => string
  /** Stops the server (fast shutdown: open connections break, as when a DB host goes away). */
  readonly stop: () => void
  /** Starts it again on the same port and data. */
  readonly start: () => void
  /** Stops and deletes everything. */
  readonly destroy: () => void
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0

const postgresIds = () => {
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim())
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim())
  return { uid, gid }
}

const run = (bin: string, args: ReadonlyArray<string>) => {
  const dir = pgBinDir()
  if (dir === undefined) throw new Error("PostgreSQL binaries not found: install Debian's `postgresql` package")
  const command = join(dir, bin)
  return isRoot()
    ? execFileSync("runuser", ["-u", "postgres", "--", command, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
    : execFileSync(command, [...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
}

/** A free TCP port on 127.0.0.1 (the kernel picks it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

export interface StartOptions {
  /** `fsync=off` for tests (nothing to keep); the benchmark keeps PostgreSQL's durable defaults. */
  readonly durable?: boolean
  readonly maxConnections?: number
}

export const startPgCluster = async (options: StartOptions = {}): Promise<PgCluster> => {
  const root = clustersRoot()
  mkdirSync(root, { recursive: true, mode: 0o755 })
  const dir = mkdtempSync(join(root, "cluster-"))
  const password = `pw-${Math.random().toString(36).slice(2, 12)}`
  const pwfile = join(dir, "pwfile")
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 })
  if (isRoot()) {
    const { uid, gid } = postgresIds()
    chownSync(dir, uid, gid)
    chownSync(pwfile, uid, gid)
  }
  const data = join(dir, "data")
  run("initdb", [
    "-D",
    data,
    "-U",
    "postgres",
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    `--pwfile=${pwfile}`,
    "--no-sync",
    "-E",
    "UTF8",
    "--no-instructions"
  ])
  rmSync(pwfile)
  const port = await freePort()
  const settings = [
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    `-p ${port}`,
    `-c max_connections=${options.maxConnections ?? 200}`,
    ...(options.durable ? [] : ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"])
  ].join(" ")
  const start = () => void run("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-w", "-t", "30", "-o", settings, "start"])
  const stop = () => {
    if (existsSync(join(data, "postmaster.pid"))) run("pg_ctl", ["-D", data, "-m", "fast", "-w", "-t", "30", "stop"])
  }
  start()
  const urlFor = (database: string) => `postgres://postgres:${password}@127.0.0.1:${port}/${database}`
  return {
    url: urlFor("postgres"),
    port,
    password,
    dir,
    urlFor,
    createDatabase: (name) => {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`)
      run("psql", ["-h", dir, "-p", String(port), "-U", "postgres", "-d", "postgres", "-q", "-c", `CREATE DATABASE ${name}`])
      return urlFor(name)
    },
    stop,
    start,
    destroy: () => {
      try {
        if (existsSync(join(data, "postmaster.pid"))) run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "-t", "30", "stop"])
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }
  }
}

/** Stops and removes every cluster below the root (a test run's global teardown). */
export const sweepPgClusters = (root: string = clustersRoot()): number => {
  if (!existsSync(root)) return 0
  let swept = 0
  for (const name of readdirSync(root)) {
    const dir = join(root, name)
    const data = join(dir, "data")
    try {
      if (existsSync(join(data, "postmaster.pid"))) run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "-t", "30", "stop"])
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true })
    swept += 1
  }
  rmSync(root, { recursive: true, force: true })
  return swept
}
