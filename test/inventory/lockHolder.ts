// Child process: takes the project lock and holds it until killed or 30 s
// pass. With a go-file argument it first says "ready" and waits for that file,
// so several children can race for the lock at the same moment.
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { Effect, Layer, Schedule } from "effect"
import { existsSync } from "node:fs"
import { ProjectLock, projectLockLayer } from "../../src/inventory/index.js"

const [runDir, command, goFile] = process.argv.slice(2)

const waitForGo =
  goFile === undefined
    ? Effect.void
    : Effect.sync(() => process.stdout.write("ready\n")).pipe(
        Effect.zipRight(
          Effect.sync(() => existsSync(goFile)).pipe(
            Effect.repeat({ until: (go) => go, schedule: Schedule.spaced("2 millis").pipe(Schedule.upTo("30 seconds")) })
          )
        )
      )

const program = Effect.scoped(
  Effect.gen(function* () {
    const lock = yield* ProjectLock
    yield* waitForGo
    yield* lock.acquire(command ?? "stage1 --loop")
    process.stdout.write(`locked ${process.pid}\n`)
    yield* Effect.sleep("30 seconds")
  })
).pipe(
  Effect.catchAll((error) => Effect.sync(() => process.stdout.write(`failed ${error.message}\n`))),
  Effect.provide(projectLockLayer({ runDir: runDir! })),
  Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
)

void Effect.runPromise(program)
