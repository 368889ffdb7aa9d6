// Puts the fake `nmcli` (this folder) first on PATH and gives a test a fresh
// reply directory; replies are glob patterns over the joined argv.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))

export const fixture = (name: string): string => readFileSync(join(here, "fixtures", name), "utf8")

export interface Reply {
  readonly stdout?: string
  readonly stderr?: string
  readonly code?: number
}

/** A `passwd-file` nmcli was given, as it was when nmcli ran. */
export interface PasswdFile {
  readonly path: string
  readonly content: string
  /** Octal permission bits, e.g. `600`. */
  readonly mode: string
  readonly dirMode: string
}

export interface FakeNmcli {
  /** First matching pattern wins; patterns are bash globs over `$*`. */
  readonly reply: (pattern: string, reply: Reply) => void
  readonly calls: () => ReadonlyArray<ReadonlyArray<string>>
  readonly passwdFiles: () => ReadonlyArray<PasswdFile>
  readonly reset: () => void
  readonly dispose: () => void
}

export const installFakeNmcli = (): FakeNmcli => {
  const dir = mkdtempSync(join(tmpdir(), "fake-nmcli-"))
  const savedPath = process.env.PATH
  process.env.PATH = `${here}:${savedPath ?? ""}`
  process.env.FAKE_NMCLI_DIR = dir
  let count = 0
  const reset = () => {
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    count = 0
  }
  return {
    reply: (pattern, reply) => {
      const base = join(dir, `reply-${String(count++).padStart(3, "0")}`)
      writeFileSync(`${base}.args`, pattern)
      if (reply.stdout !== undefined) writeFileSync(`${base}.out`, reply.stdout)
      if (reply.stderr !== undefined) writeFileSync(`${base}.err`, reply.stderr)
      writeFileSync(`${base}.code`, String(reply.code ?? 0))
    },
    calls: () => {
      const log = join(dir, "calls.log")
      if (!existsSync(log)) return []
      return readFileSync(log, "utf8")
        .split("\n")
        .filter((line) => line.length > 0)
        .map((line) => line.split("\x1f"))
    },
    passwdFiles: () => {
      const read = (n: number, ext: string) => readFileSync(join(dir, `passwd-${n}.${ext}`), "utf8").trim()
      const files: Array<PasswdFile> = []
      for (let n = 0; existsSync(join(dir, `passwd-${n}.path`)); n++) {
        files.push({
          path: read(n, "path"),
          content: readFileSync(join(dir, `passwd-${n}.content`), "utf8"),
          mode: read(n, "mode"),
          dirMode: read(n, "dirmode")
        })
      }
      return files
    },
    reset,
    dispose: () => {
      process.env.PATH = savedPath
      delete process.env.FAKE_NMCLI_DIR
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
