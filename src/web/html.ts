// Server-side HTML: every interpolated value goes through `escapeHtml`.
export const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!)

export interface LayoutOptions {
  readonly title: string
  readonly csrf?: string | undefined
  readonly active: "inventory" | "factory" | "login"
  readonly banner?: string | undefined
}

const style = `
body{font-family:system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2430;color:#fff;padding:.6rem 1rem;display:flex;gap:1.2rem;align-items:center}
header a{color:#cfd8e3;text-decoration:none}header a.active{color:#fff;font-weight:600}
main{padding:1rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e1e5ea;padding:.3rem .5rem;text-align:left;font-size:.9rem;vertical-align:top}
th{cursor:pointer;user-select:none;background:#eef1f5}
.banner{background:#fff3cd;border:1px solid #e0c060;padding:.6rem 1rem;margin-bottom:1rem}
.error{color:#b00020;font-size:.8rem}
.ok{color:#1a7f37}.bad{color:#b00020}
pre#run-log{background:#10151c;color:#d8e1ea;padding:.6rem;min-height:4rem;max-height:24rem;overflow:auto}
.toolbar{display:flex;gap:.6rem;align-items:center;margin:.6rem 0;flex-wrap:wrap}
input.name{width:14rem}input.ip{width:8rem}
`

export const layout = (options: LayoutOptions, body: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
${options.csrf !== undefined ? `<meta name="csrf-token" content="${escapeHtml(options.csrf)}">` : ""}
<title>${escapeHtml(options.title)} · provision</title><style>${style}</style></head>
<body><header><strong>provision</strong>
<a href="/" class="${options.active === "inventory" ? "active" : ""}">Inventory</a>
<a href="/factory" class="${options.active === "factory" ? "active" : ""}">Factory</a>
<a href="/rollout">Firmware</a></header>
<main>${options.banner !== undefined ? `<div class="banner" id="lock-banner">${escapeHtml(options.banner)}</div>` : ""}
${body}</main><script src="/app.js" defer></script></body></html>`
