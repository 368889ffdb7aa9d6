import { NodeHttpClient } from "@effect/platform-node"
import { Layer, Redacted } from "effect"
import { afterAll } from "vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { BackendLive } from "../../src/factory/BackendLive.js"
import { factoryLogLayer } from "../../src/factory/log.js"
import { RegistrationQueueLive } from "../../src/factory/RegistrationQueue.js"
import { FlasherLive } from "../../src/flash/FlasherLive.js"
import * as RunOutput from "../../src/runtime/RunOutput.js"
import { SerialPortsLive } from "../../src/serial/SerialPortsLive.js"

/** Folders made by tempDir in this test file, removed after its tests (KEEP_TEST_DIRS=1 keeps them to look into). */
const made: Array<string> = []
afterAll(() => {
  if (process.env.KEEP_TEST_DIRS === "1") return
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true })
})

export const tempDir = (prefix = "fp-factory-") => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}

/** The real layers of the line: serialport + native flasher, HTTP backend client, queue file. */
export const liveLineLayer = (url: string, token: string, queueFile: string) =>
  Layer.mergeAll(
    FlasherLive.pipe(Layer.provideMerge(SerialPortsLive)),
    BackendLive({ url, token: Redacted.make(token), retries: 2, retryBase: "20 millis", timeout: "3 seconds" }).pipe(
      Layer.provide(NodeHttpClient.layer)
    ),
    RegistrationQueueLive(queueFile)
  )

/**
 * The batch's output: the factory log in `<root>/var/log`, at DEBUG so the
 * secrets test sees everything that gets logged, and a RunOutput whose lines
 * (results and diagnostics) land in `printed`.
 */
export const testLog = (root: string, printed: Array<string> = []) =>
  factoryLogLayer({ file: join(root, "var/log/factory-provisioning.log"), level: "DEBUG", maxFileSize: 1 << 20, backupCount: 2 }).pipe(
    Layer.provideMerge(RunOutput.capture((line) => printed.push(line)))
  )
