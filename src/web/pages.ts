// The pages. Data arrives rendered; /app.js adds sorting, filtering,
// inline edits and the Stage 3 stream on top.
import type { LockHolder } from "../inventory/Inventory.js"
import type { InventoryRow } from "../app/inventory/rows.js"
import { escapeHtml as e, layout } from "./html.js"
import type { FactoryOverview } from "./factory.js"

export const lockBanner = (holder: LockHolder | undefined): string | undefined =>
  holder === undefined
    ? undefined
    : `Read-only: ${holder.command} (PID ${holder.pid} on ${holder.host}) holds the provisioning lock since ${holder.since}. Edits and Stage 3 runs are refused until it finishes.`

const statusCell = (row: InventoryRow): string =>
  Object.entries(row.statuses)
    .map(
      ([path, value]) => `<span title="${e(path)}">${e(path.replace(/^stage(\d)\./, "s$1.").replace(/_status$/, ""))}=${e(value)}</span>`
    )
    .join("<br>")

export const inventoryPage = (options: {
  readonly rows: ReadonlyArray<InventoryRow>
  readonly csrf: string
  readonly holder: LockHolder | undefined
  readonly stateFile: string
  readonly friendlyField: string
}): string => {
  const readOnly = options.holder !== undefined
  const disabled = readOnly ? " disabled" : ""
  const rows = options.rows
    .map(
      (
        row
      ) => `<tr data-mac="${e(row.mac)}" data-ip="${e(row.ip)}" data-model="${e(row.app !== "" ? row.app : row.model)}" data-statuses="${e(Object.values(row.statuses).join(" "))}">
<td><input type="checkbox" class="pick" value="${e(row.ip)}" aria-label="select ${e(row.key)}"${row.ip === "" ? " disabled" : ""}></td>
<td class="mac">${e(row.key)} <small><a class="backups" href="/devices/${e(row.mac)}/backups">backups</a></small></td>
<td class="ip"><input class="ip" value="${e(row.ip)}" aria-label="planned address of ${e(row.key)}"${disabled}>
<button class="save-ip"${disabled}>Set</button><div class="error ip-error" role="alert"></div></td>
<td>${e(row.app !== "" ? row.app : row.model)}<br><small>${e(row.model)}</small></td>
<td>${e(row.fw)}</td>
<td class="name"><input class="name" value="${e(row.friendlyName)}" aria-label="friendly name of ${e(row.key)}"${disabled}>
<button class="save-name"${disabled}>Save</button><div class="error name-error" role="alert"></div></td>
<td class="status">${statusCell(row)}</td>
<td class="last-run">${e(row.lastRun)}</td>
<td class="online" data-online="">…</td></tr>`
    )
    .join("\n")
  return layout(
    { title: "Inventory", csrf: options.csrf, active: "inventory", banner: lockBanner(options.holder) },
    `<h1>Inventory <small>${e(options.stateFile)}</small></h1>
<div class="toolbar">
<input id="search" type="search" placeholder="Search MAC, IP, model, name" aria-label="search">
<select id="filter-model" aria-label="model filter"><option value="">all models</option>${[
      ...new Set(options.rows.map((r) => (r.app !== "" ? r.app : r.model)))
    ]
      .sort()
      .map((m) => `<option>${e(m)}</option>`)
      .join("")}</select>
<select id="filter-status" aria-label="status filter"><option value="">any status</option>${[
      ...new Set(options.rows.flatMap((r) => Object.values(r.statuses)))
    ]
      .sort()
      .map((m) => `<option>${e(m)}</option>`)
      .join("")}</select>
<select id="filter-online" aria-label="online filter"><option value="">all</option><option value="yes">online</option><option value="no">offline</option></select>
<span id="count">${options.rows.length} devices</span>
</div>
<table id="inventory" data-field="${e(options.friendlyField)}"><thead><tr>
<th><input type="checkbox" id="pick-all" aria-label="select all"></th>
<th data-sort="mac">MAC</th><th data-sort="ip">IP</th><th data-sort="model">Model</th><th data-sort="fw">FW</th>
<th data-sort="name">Friendly name</th><th data-sort="status">Stage status</th><th data-sort="last-run">Last run</th><th data-sort="online">Online</th>
</tr></thead><tbody>${rows}</tbody></table>
<h2>Stage 3</h2>
<div class="toolbar">
<button id="run-dry">Dry run on selection</button>
<button id="run-real"${disabled}>Run on selection</button>
<span id="run-state"></span>
</div>
<pre id="run-log" aria-live="polite"></pre>
<div id="run-summary"></div>`
  )
}

export const loginPage = (error?: string): string =>
  layout(
    { title: "Sign in", active: "login" },
    `<h1>Sign in</h1>
<form method="post" action="/login">
<label>Admin password <input type="password" name="password" autofocus></label>
<button type="submit">Sign in</button>
${error !== undefined ? `<p class="error" role="alert">${e(error)}</p>` : ""}
</form>`
  )

export const factoryPage = (overview: FactoryOverview, csrf: string): string => {
  const reports =
    overview.reports.length === 0
      ? "<p>There are no batch reports yet (var/reports/).</p>"
      : `<table id="reports"><thead><tr><th>Batch</th><th>Finished</th><th>Total</th><th>Passed</th><th>Failed</th><th>Pass rate</th><th>Download</th></tr></thead><tbody>${overview.reports
          .map(
            (r) =>
              `<tr><td>${e(r.batchId)}</td><td>${e(r.finishedAt)}</td><td>${r.total}</td><td>${r.passed}</td><td>${r.failed}</td><td>${
                r.passRate === null ? "" : `${(r.passRate * 100).toFixed(1)} %`
              }</td><td><a href="/files/reports/${encodeURIComponent(r.file)}">${e(r.file)}</a></td></tr>`
          )
          .join("")}</tbody></table>`
  const stations =
    overview.stations.length === 0
      ? "<p>No station statistics yet.</p>"
      : `<table id="stations"><thead><tr><th>Station</th><th>Boards</th><th>Passed</th><th>Failed</th><th>Retries</th></tr></thead><tbody>${overview.stations
          .map((s) => `<tr><td>${e(s.station)}</td><td>${s.total}</td><td>${s.passed}</td><td>${s.failed}</td><td>${s.retries}</td></tr>`)
          .join("")}</tbody></table>`
  const records =
    overview.records.length === 0
      ? "<p>There are no device records yet (var/records/).</p>"
      : `<table id="records"><thead><tr><th>Time</th><th>Device</th><th>MAC</th><th>Board</th><th>Status</th><th>QR</th></tr></thead><tbody>${overview.records
          .map(
            (r) =>
              `<tr><td>${e(r.timestamp)}</td><td>${e(r.deviceId)}</td><td>${e(r.mac)}</td><td>${e(r.board)}</td><td>${e(r.status)}</td><td>${
                r.qrSvg ?? ""
              }</td></tr>`
          )
          .join("")}</tbody></table>`
  const files =
    overview.files.length === 0
      ? "<p>No CSV or JSON files yet.</p>"
      : `<ul id="downloads">${overview.files
          .map((f) => `<li><a href="/files/${f.kind}/${encodeURIComponent(f.name)}">${e(f.name)}</a></li>`)
          .join("")}</ul>`
  return layout(
    { title: "Factory", csrf, active: "factory" },
    `<h1>Factory</h1><h2>Recent batch reports</h2>${reports}<h2>Stations</h2>${stations}<h2>Device records</h2>${records}<h2>Downloads</h2>${files}`
  )
}
