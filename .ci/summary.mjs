// Reads vitest's JSON report and prints the plain closing line CI counts.
import { readFileSync } from "node:fs"

const file = process.argv[2] ?? "var/test-results.json"
let report
try {
  report = JSON.parse(readFileSync(file, "utf8"))
} catch (error) {
  console.log(`no test report at ${file}: ${error.message}`)
  console.log("0 passed, 1 failed")
  process.exit(1)
}
const passed = report.numPassedTests ?? 0
// Suites that failed to load count as failures too (vitest reports them apart).
const failed = (report.numFailedTests ?? 0) + (report.numFailedTestSuites ?? 0) - countSuitesWithFailedTests(report)
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)

function countSuitesWithFailedTests(r) {
  return (r.testResults ?? []).filter((s) => s.status === "failed" && (s.assertionResults ?? []).some((a) => a.status === "failed")).length
}

console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`)
process.exit(failed === 0 && passed > 0 ? 0 : 1)
