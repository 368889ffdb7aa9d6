// A throwaway PostgreSQL cluster per test file (real server, no mocks):
// started in beforeAll, destroyed in afterAll; the run's global teardown
// sweeps any a crashed worker left.
import { execFileSync } from "node:child_process"
import { afterAll, beforeAll } from "vitest"
import { type PgCluster, startPgCluster } from "../../sim/postgres/cluster.js"

export const usePgCluster = (): { readonly current: () => PgCluster } => {
  let cluster: PgCluster | undefined
  beforeAll(async () => {
    cluster = await startPgCluster()
  })
  afterAll(() => {
    cluster?.destroy()
  })
  return {
    current: () => {
      if (!cluster) throw new Error("cluster not started")
      return cluster
    }
  }
}

let databases = 0
/** A fresh database in the cluster, for one test. */
export const freshDatabase = (cluster: PgCluster) => cluster.createDatabase(`t${process.pid}_${++databases}`)

/**
 * A login role `<database>_line` with this password that owns `database`: a
 * station's own role, made as the superuser over the socket (as the
 * `postgres` system user: the server refuses root). Returns the role's name.
 */
export const createLineRole = (cluster: PgCluster, database: string, password: string): string => {
  const role = `${database}_line`
  for (const statement of [`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`, `ALTER DATABASE ${database} OWNER TO ${role}`])
    execFileSync("runuser", [
      "-u",
      "postgres",
      "--",
      "psql",
      "-h",
      cluster.dir,
      "-p",
      String(cluster.port),
      "-d",
      "postgres",
      "-q",
      "-c",
      statement
    ])
  return role
}
