// A temp project over a simulated fleet, and a tiny cookie-keeping client
// for the web UI's API (Node's fetch: a real HTTP client over loopback).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { FleetHandle } from "../../sim/shelly/index.js"

export const makeProject = async (fleet: FleetHandle, prefix: string, extraConfig = ""): Promise<string> => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  mkdirSync(join(dir, "data"))
  writeFileSync(
    join(dir, "data/config.yaml"),
    `stage3:\n  device_port: ${fleet.port}\n  probe_timeout_ms: 500\n  fallback_timeout_ms: 2000\n${extraConfig}`
  )
  await fleet.writeInventory(join(dir, "data/ip_state.json"), "flat")
  return dir
}

export const removeProject = (dir: string | undefined) => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
}

export interface Client {
  readonly get: (path: string, headers?: Record<string, string>) => Promise<Response>
  readonly post: (path: string, body: unknown, headers?: Record<string, string>) => Promise<Response>
  /** Loads `/` and remembers the session cookie and CSRF token. */
  readonly open: () => Promise<string>
  /** The session cookie and CSRF token as request headers (for raw node:http requests). */
  readonly sessionHeaders: () => Record<string, string>
  csrf: string
}

export const makeClient = (base: string): Client => {
  let cookie = ""
  const remember = (res: Response) => {
    const set = res.headers.get("set-cookie")
    if (set) cookie = set.split(";")[0]!
    return res
  }
  const client: Client = {
    csrf: "",
    sessionHeaders: () => ({ cookie, "x-csrf-token": client.csrf }),
    get: (path, headers = {}) =>
      fetch(new URL(path, base), { headers: { cookie, ...headers }, redirect: "manual", signal: AbortSignal.timeout(20_000) }).then(
        remember
      ),
    post: (path, body, headers = {}) =>
      fetch(new URL(path, base), {
        method: "POST",
        headers: { cookie, "content-type": "application/json", "x-csrf-token": client.csrf, ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
        redirect: "manual",
        signal: AbortSignal.timeout(20_000)
      }).then(remember),
    open: async () => {
      const html = await (await client.get("/")).text()
      client.csrf = /name="csrf-token" content="([^"]+)"/.exec(html)?.[1] ?? ""
      return html
    }
  }
  return client
}

/** Reads an SSE response to its end (bounded by the fetch timeout) into events. */
export const readEvents = async (res: Response): Promise<Array<{ event: string; data: string }>> => {
  const text = await res.text()
  return text
    .split("\n\n")
    .filter((block) => block.trim() !== "")
    .map((block) => {
      const lines = block.split("\n")
      const event = lines.find((l) => l.startsWith("event: "))?.slice(7) ?? "message"
      const data = lines
        .filter((l) => l.startsWith("data: "))
        .map((l) => l.slice(6))
        .join("\n")
      return { event, data }
    })
}
