/**
 * Provisioning backend simulator: the runbook's `/api/admin/...` endpoints on
 * a loopback port, with an in-memory store and injectable faults.
 *
 *   POST /api/admin/device-registrations   one device; idempotent per device_id
 *                                          (201 created, 200 + the stored record for a repeat)
 *   POST /api/admin/provisioning/bulk      { batch_id, devices: [...] } → per-device results
 *   GET  /api/admin/provisioning/batches   registrations grouped by batch_id
 *   GET  /api/admin/device-registrations   everything stored (for inspection)
 *
 * Every request needs `Authorization: Bearer <token>` (401 otherwise).
 * Faults: `failNext(n)` answers the next n API requests with HTTP 500,
 * `setDelay(ms)` delays every answer, `down()` stops listening (connections
 * refused) until `up()` listens again on the same port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

export interface StoredRegistration {
  readonly device_id: string
  readonly identity: { readonly kind: string; readonly value: string }
  readonly platform: string
  readonly board: string
  readonly board_model: string
  readonly firmware_version: string
  readonly station_id: string
  readonly batch_id: string
  readonly device_secret: string
  readonly provisioning_token: string
  readonly registered_at: string
}

export interface BackendSimOptions {
  readonly host?: string
  /** 0 picks a free port. */
  readonly port?: number
  readonly token: string
}

export interface BackendSim {
  readonly url: string
  readonly port: number
  readonly registrations: () => ReadonlyArray<StoredRegistration>
  /** How many POSTs (single or bulk items) arrived per device id — repeats included. */
  readonly attempts: () => ReadonlyMap<string, number>
  readonly requestCount: () => number
  readonly failNext: (count: number, status?: number) => void
  readonly setDelay: (ms: number) => void
  readonly down: () => Promise<void>
  readonly up: () => Promise<void>
  readonly close: () => Promise<void>
}

const required = [
  "device_id",
  "identity",
  "platform",
  "board",
  "firmware_version",
  "station_id",
  "batch_id",
  "device_secret",
  "provisioning_token"
] as const

const validate = (body: unknown): { ok: true; value: Omit<StoredRegistration, "registered_at"> } | { ok: false; error: string } => {
  if (typeof body !== "object" || body === null) return { ok: false, error: "body must be a JSON object" }
  const record = body as Record<string, unknown>
  const missing = required.filter((key) => record[key] === undefined || record[key] === "")
  if (missing.length > 0) return { ok: false, error: `missing fields: ${missing.join(", ")}` }
  const identity = record.identity as Record<string, unknown>
  if (typeof identity !== "object" || typeof identity.kind !== "string" || typeof identity.value !== "string") {
    return { ok: false, error: "identity must be {kind, value}" }
  }
  return {
    ok: true,
    value: {
      device_id: String(record.device_id),
      identity: { kind: identity.kind, value: identity.value },
      platform: String(record.platform),
      board: String(record.board),
      board_model: String(record.board_model ?? ""),
      firmware_version: String(record.firmware_version),
      station_id: String(record.station_id),
      batch_id: String(record.batch_id),
      device_secret: String(record.device_secret),
      provisioning_token: String(record.provisioning_token)
    }
  }
}

const readBody = (request: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    request.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > 8 * 1024 * 1024) request.destroy(new Error("body too large"))
      else chunks.push(chunk)
    })
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

/** Public view of a registration: the secret and token are write-only, as on a real backend. */
const publicView = (registration: StoredRegistration) => {
  const { device_secret: _secret, provisioning_token: _token, ...rest } = registration
  return rest
}

export const startBackendSim = async (options: BackendSimOptions): Promise<BackendSim> => {
  const host = options.host ?? "127.0.0.1"
  const store = new Map<string, StoredRegistration>()
  const attempts = new Map<string, number>()
  let failures = 0
  let failureStatus = 500
  let delayMs = 0
  let requests = 0

  const send = (response: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body)
    response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
    response.end(text)
  }

  const store1 = (value: Omit<StoredRegistration, "registered_at">): { created: boolean; registration: StoredRegistration } => {
    attempts.set(value.device_id, (attempts.get(value.device_id) ?? 0) + 1)
    const existing = store.get(value.device_id)
    if (existing) return { created: false, registration: existing }
    const registration = { ...value, registered_at: new Date().toISOString() }
    store.set(value.device_id, registration)
    return { created: true, registration }
  }

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    requests += 1
    const url = new URL(request.url ?? "/", "http://sim")
    const body = request.method === "POST" ? await readBody(request) : ""
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
    if (request.headers.authorization !== `Bearer ${options.token}`) {
      return send(response, 401, { error: "unauthorized" })
    }
    if (failures > 0) {
      failures -= 1
      return send(response, failureStatus, { error: "injected failure" })
    }
    let parsed: unknown
    if (request.method === "POST") {
      try {
        parsed = JSON.parse(body)
      } catch {
        return send(response, 400, { error: "body is not JSON" })
      }
    }
    const route = `${request.method} ${url.pathname}`
    switch (route) {
      case "POST /api/admin/device-registrations": {
        const checked = validate(parsed)
        if (!checked.ok) return send(response, 400, { error: checked.error })
        const key = request.headers["idempotency-key"]
        if (key !== undefined && key !== checked.value.device_id) {
          return send(response, 400, { error: "Idempotency-Key must equal device_id" })
        }
        const result = store1(checked.value)
        return send(response, result.created ? 201 : 200, { created: result.created, registration: publicView(result.registration) })
      }
      case "POST /api/admin/provisioning/bulk": {
        const devices = (parsed as { devices?: unknown }).devices
        if (!Array.isArray(devices)) return send(response, 400, { error: "devices must be an array" })
        const checked = devices.map(validate)
        const bad = checked.findIndex((item) => !item.ok)
        if (bad >= 0) return send(response, 400, { error: `devices[${bad}]: ${(checked[bad] as { error: string }).error}` })
        const results = checked.map((item) => {
          const result = store1((item as { value: Omit<StoredRegistration, "registered_at"> }).value)
          return { device_id: result.registration.device_id, created: result.created }
        })
        return send(response, 200, { results })
      }
      case "GET /api/admin/provisioning/batches": {
        const batches = new Map<
          string,
          { batch_id: string; device_count: number; first_registered_at: string; last_registered_at: string }
        >()
        for (const registration of store.values()) {
          const batch = batches.get(registration.batch_id)
          if (batch) {
            batch.device_count += 1
            batch.last_registered_at = registration.registered_at
          } else {
            batches.set(registration.batch_id, {
              batch_id: registration.batch_id,
              device_count: 1,
              first_registered_at: registration.registered_at,
              last_registered_at: registration.registered_at
            })
          }
        }
        return send(response, 200, { batches: [...batches.values()] })
      }
      case "GET /api/admin/device-registrations":
        return send(response, 200, { registrations: [...store.values()].map(publicView) })
      default:
        return send(response, 404, { error: `no route ${route}` })
    }
  }

  let server: Server | undefined
  let port = options.port ?? 0
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const next = createServer((request, response) => {
        handle(request, response).catch((error: unknown) => {
          if (!response.headersSent) send(response, 500, { error: String(error) })
        })
      })
      next.once("error", reject)
      next.listen(port, host, () => {
        port = (next.address() as AddressInfo).port
        server = next
        resolve()
      })
    })
  const stop = () =>
    new Promise<void>((resolve) => {
      const current = server
      server = undefined
      if (!current) return resolve()
      current.close(() => resolve())
      current.closeAllConnections()
    })

  await listen()
  return {
    url: `http://${host}:${port}`,
    port,
    registrations: () => [...store.values()],
    attempts: () => new Map(attempts),
    requestCount: () => requests,
    failNext: (count, status = 500) => {
      failures = count
      failureStatus = status
    },
    setDelay: (ms) => {
      delayMs = ms
    },
    down: stop,
    up: () => (server ? Promise.resolve() : listen()),
    close: stop
  }
}
