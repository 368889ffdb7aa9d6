import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Simulators bind real sockets and ptys; forks isolate them per file.
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // Throwaway PostgreSQL clusters (test/support/pg.ts) are swept at the end of the run.
    globalSetup: ["test/support/pgGlobalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default", ["json", { outputFile: "var/test-results.json" }]]
  }
})
