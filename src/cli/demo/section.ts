/** One part of `provision demo` (command.ts runs them in order; shellyPath.ts is one). */
import type { FileSystem, Path } from "@effect/platform"
import type { Effect, Layer } from "effect"
import type { stage3Layer } from "../../app/stage3.js"
import type { WebServer } from "../../app/WebServer.js"

export interface DemoContext {
  /** Scratch project directory for the demo's files (config, ip_state.json, logs), relative to the project root. */
  readonly dir: string
  /** `--no-serve`: do not start long-running servers (reserved for the web UI section). */
  readonly serve: boolean
}

export interface DemoSection {
  readonly title: string
  readonly run: (context: DemoContext) => Effect.Effect<void, unknown, DemoServices>
}

type DemoServices = FileSystem.FileSystem | Path.Path | WebServer | Layer.Layer.Success<typeof stage3Layer>
