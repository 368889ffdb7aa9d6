// The live line dashboard (factory page with a shared database): every
// station and port with its current step, pass/fail, throughput per hour,
// yield and top failure codes, pushed over SSE whenever a station NOTIFYs
// (PostgreSQL LISTEN/NOTIFY on `provision_line`); history per batch and day;
// a board's full record by device id or MAC.
import type { Effect, Stream } from "effect"
import type { DatabaseError } from "../domain/errors/store.js"
import type { LineOverview } from "../store/queries.js"
import { escapeHtml as e, layout } from "./html.js"

// Rendering only: the database side is lineDashboard.ts, loaded on demand
// (a web UI without a shared database never loads the PostgreSQL driver).
export interface LineDashboard {
  /** The database URL without its password. */
  readonly label: string
  readonly overview: Effect.Effect<LineOverview, DatabaseError>
  readonly search: (query: string) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, DatabaseError>
  /** One overview now, then one after each burst of notifications (at most ~3 per second); a heartbeat refresh every 5 s. */
  readonly events: Stream.Stream<LineOverview, DatabaseError>
}

const pct = (n: number | null) => (n === null ? "-" : `${(n * 100).toFixed(1)} %`)

/** Stations table, KPIs and top failures (the client re-renders the same markup from each SSE event). */
export const liveSection = (o: LineOverview): string => {
  const stations =
    o.stations.length === 0
      ? "<p>No station has registered yet.</p>"
      : `<table id="line-stations"><thead><tr><th>Station</th><th>Host</th><th>State</th><th>Batch</th><th>Last seen</th><th>Ports (current step)</th><th>Boards</th><th>Pass</th><th>Fail</th><th>Per hour</th><th>Yield</th><th>Interrupted</th></tr></thead><tbody>${o.stations
          .map(
            (s) =>
              `<tr data-station="${e(s.stationId)}"><td>${e(s.stationId)}</td><td>${e(s.host)}</td><td class="${s.state === "live" ? "ok" : s.state === "stale" ? "bad" : ""}">${s.state}</td><td>${e(s.currentBatch ?? "-")}</td><td>${s.lastSeenSeconds.toFixed(1)} s</td><td>${s.ports
                .map((p) => `<div class="port">${e(p.port)}: <b>${e(p.step)}</b></div>`)
                .join(
                  ""
                )}</td><td>${s.boards}</td><td>${s.passed}</td><td>${s.failed}</td><td>${s.lastHour}</td><td>${pct(s.yield)}</td><td>${s.interrupted}</td></tr>`
          )
          .join("")}</tbody></table>`
  const failures =
    o.topFailures.length === 0
      ? "<p>No failures.</p>"
      : `<ol id="line-failures">${o.topFailures.map((f) => `<li>${e(f.code)}: ${f.count}</li>`).join("")}</ol>`
  const recent = `<table id="line-recent"><thead><tr><th>Finished</th><th>Station</th><th>Port</th><th>Device</th><th>MAC</th><th>Status</th></tr></thead><tbody>${o.recent
    .map(
      (r) =>
        `<tr><td>${e(new Date(r.finishedAt).toISOString())}</td><td>${e(r.stationId)}</td><td>${e(r.port)}</td><td>${e(r.deviceId ?? "")}</td><td>${e(r.mac ?? "")}</td><td class="${r.status === "pass" ? "ok" : "bad"}">${e(r.status)}${r.errorCode ? ` (${e(r.errorCode)})` : ""}</td></tr>`
    )
    .join("")}</tbody></table>`
  return `<p id="line-kpis">Last hour: <b>${o.lastHour.boards}</b> boards/h, yield <b>${pct(o.lastHour.boards ? o.lastHour.passed / o.lastHour.boards : null)}</b></p>
<h2>Stations and ports</h2>${stations}<h2>Top failure codes</h2>${failures}<h2>Latest boards</h2>${recent}`
}

export const linePage = (o: LineOverview, label: string, csrf: string): string =>
  layout(
    { title: "Factory line", csrf, active: "factory" },
    `<h1>Factory line</h1><p>Shared database ${e(label)} · <span id="line-state">connecting…</span> · <a href="/factory/files">files on this machine</a></p>
<form method="get" action="/factory/board" class="toolbar"><label>Board by device id or MAC <input name="q" required></label><button type="submit">Find</button></form>
<div id="line-live">${liveSection(o)}</div>
<h2>History per batch</h2><table id="line-batches"><thead><tr><th>Batch</th><th>Stations</th><th>Boards</th><th>Passed</th><th>Yield</th><th>First</th><th>Last</th></tr></thead><tbody>${o.batches
      .map(
        (b) =>
          `<tr><td>${e(b.batchId)}</td><td>${e(b.stations)}</td><td>${b.boards}</td><td>${b.passed}</td><td>${pct(b.boards ? b.passed / b.boards : null)}</td><td>${e(new Date(b.first).toISOString())}</td><td>${e(new Date(b.last).toISOString())}</td></tr>`
      )
      .join("")}</tbody></table>
<h2>History per day</h2><table id="line-days"><thead><tr><th>Day</th><th>Boards</th><th>Passed</th><th>Yield</th></tr></thead><tbody>${o.days
      .map(
        (d) => `<tr><td>${e(d.day)}</td><td>${d.boards}</td><td>${d.passed}</td><td>${pct(d.boards ? d.passed / d.boards : null)}</td></tr>`
      )
      .join("")}</tbody></table>
<script src="/line.js" defer></script>`
  )

export const boardPage = (query: string, rows: ReadonlyArray<Record<string, unknown>>, csrf: string): string =>
  layout(
    { title: `Board ${query}`, csrf, active: "factory" },
    `<h1>Board ${e(query)}</h1><p><a href="/factory">← line</a></p>${
      rows.length === 0
        ? `<p id="board-none">No record of a board with device id or MAC ${e(query)}.</p>`
        : rows
            .map(
              (r) =>
                `<h2>${e(String(r.device_id ?? ""))} · ${e(String(r.status))} · ${e(new Date(r.finished_at as string).toISOString())}</h2><pre class="board-record">${e(JSON.stringify({ attempt_key: r.attempt_key, station_id: r.station_id, batch_id: r.batch_id, port: r.port, mac: r.mac, error_code: r.error_code, steps: r.steps, result: r.result }, null, 2))}</pre>`
            )
            .join("")
    }`
  )

/** Re-renders #line-live from each SSE event (the same markup the server renders). */
export const lineScript = `(() => {
  const state = document.getElementById("line-state")
  const live = document.getElementById("line-live")
  const source = new EventSource("/api/line/events")
  source.addEventListener("line", (event) => {
    live.innerHTML = JSON.parse(event.data).html
    state.textContent = "live " + new Date().toLocaleTimeString()
  })
  source.onerror = () => { state.textContent = "reconnecting…" }
})()
`

/** One SSE message: the re-rendered live section (markup escaped on the server). */
export const lineEvent = (o: LineOverview): string =>
  `event: line\ndata: ${JSON.stringify({ html: liveSection(o), stations: o.stations.length, last_hour: o.lastHour })}\n\n`
