import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"

/**
 * Finding the RP2040 BOOTSEL drive: automounters put it at
 * /media/<user>/RPI-RP2 (udisks2 on Debian/Ubuntu) or /run/media/<user>/RPI-RP2
 * (Fedora/Arch); a station may pin a path instead. A directory counts as the
 * boot ROM's volume when its INFO_UF2.TXT names `Board-ID: RPI-RP2`.
 */
export const DEFAULT_VOLUME_ROOTS: ReadonlyArray<string> = ["/media/*/*", "/run/media/*/*", "/mnt/*"]

/** Expands `*` path segments (one directory level each); missing directories expand to nothing. */
export const expandRoot = (pattern: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const absolute = path.isAbsolute(pattern)
    let candidates: Array<string> = [absolute ? path.sep : "."]
    for (const segment of pattern.split(path.sep).filter((s) => s !== "")) {
      const next: Array<string> = []
      for (const base of candidates) {
        if (segment === "*") {
          const entries = yield* fs.readDirectory(base).pipe(Effect.orElseSucceed(() => [] as Array<string>))
          for (const entry of [...entries].sort()) next.push(path.join(base, entry))
        } else {
          next.push(path.join(base, segment))
        }
      }
      candidates = next
    }
    return candidates
  })

/** BOOTSEL volumes under the given roots, sorted, each listed once. */
export const findBootVolumes = (roots: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const found = new Set<string>()
    for (const root of roots) {
      for (const dir of yield* expandRoot(root)) {
        // A root may name the volume itself or the directory above it.
        for (const candidate of [dir, path.join(dir, "RPI-RP2")]) {
          const info = yield* fs.readFileString(path.join(candidate, "INFO_UF2.TXT")).pipe(Effect.option)
          if (info._tag === "Some" && /Board-ID:\s*RPI-RP2/i.test(info.value)) found.add(candidate)
        }
      }
    }
    return [...found].sort()
  })
