// A port path that is a directory or /dev/null is named as such (issue 13),
// not "check the cable".
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { SerialPorts, SerialPortsLive } from "../../src/serial/index.js"

describe("SerialPortsLive on paths that are not serial ports", () => {
  it.scopedLive("a directory → PortUnavailable(directory) whose hint says so", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "not-a-port-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const error = yield* Effect.flip((yield* SerialPorts).open(dir, { baudRate: 115200 }))
      expect(error._tag).toBe("PortUnavailable")
      if (error._tag === "PortUnavailable") expect(error.reason).toBe("directory")
      expect(error.hint).toContain(`${dir} is a directory, not a serial port`)
      expect(error.hint).not.toContain("cable")
    }).pipe(Effect.provide(SerialPortsLive))
  )

  it.scopedLive("/dev/null → PortUnavailable(not_a_tty) whose hint says it is not a serial port", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip((yield* SerialPorts).open("/dev/null", { baudRate: 115200 }))
      expect(error._tag).toBe("PortUnavailable")
      if (error._tag === "PortUnavailable") expect(error.reason).toBe("not_a_tty")
      expect(error.hint).toContain("/dev/null is not a serial port")
      expect(error.hint).not.toContain("cable")
    }).pipe(Effect.provide(SerialPortsLive))
  )
})
