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
// A test file that failed to load has no failed test of its own: count it too.
// (numFailedTestSuites counts describe blocks as well, so it is not used.)
const filesThatFailedToLoad = (report.testResults ?? []).filter(
  (file) => file.status === "failed" && !(file.assertionResults ?? []).some((a) => a.status === "failed")
).length
const failed = (report.numFailedTests ?? 0) + filesThatFailedToLoad
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)

console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`)
process.exit(failed === 0 && passed > 0 ? 0 : 1)
