// A throwaway PostgreSQL cluster per test file (real server, no mocks):
// started in beforeAll, destroyed in afterAll; the run's global teardown
// sweeps any a crashed worker left.
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
