// PLACEHOLDER — replaced by the Stage 3 implementation.
import { Command } from "@effect/cli"
export const stage3Command = Command.make("stage3").pipe(Command.withDescription("Stage 3: OTA check/update and friendly-name sync (not built yet)"))
