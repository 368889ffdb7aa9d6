// Global setup/teardown for the PostgreSQL tests: every throwaway cluster of
// this run lives below one run directory, and the teardown stops and removes
// whatever is still there (a worker that crashed before its afterAll) — no
// postgres process outlives the test run.
import { sweepPgClusters } from "../../sim/postgres/cluster.js"

const root = `/tmp/fp-pg-run-${process.pid}`

export const setup = () => {
  process.env.FP_PG_ROOT = root
}

export const teardown = () => {
  sweepPgClusters(root)
}
