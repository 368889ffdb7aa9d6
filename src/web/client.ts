// /app.js: sorting, filtering, inline edits, online probe and the Stage 3
// stream for the inventory page. Plain browser JS, no build step.
export const clientScript = String.raw`
"use strict";
(function () {
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var table = document.getElementById("inventory");
  if (!table) return;
  var tbody = table.tBodies[0];
  var rows = function () { return Array.prototype.slice.call(tbody.rows); };

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin"
    }).then(function (res) {
      return res.json().then(function (data) { return { ok: res.ok, status: res.status, data: data }; });
    });
  }

  function cellText(row, key) {
    if (key === "name") return row.querySelector("input.name").value;
    if (key === "ip") return row.querySelector("input.ip").value;
    var cell = row.querySelector("td." + key) || row.cells[{ mac: 1, model: 3, fw: 4 }[key] || 0];
    return cell ? cell.textContent.trim() : "";
  }

  function ipKey(text) {
    var parts = text.split(".");
    return parts.length === 4 ? parts.map(function (p) { return ("00" + p).slice(-3); }).join(".") : text;
  }

  var sortState = { key: "", dir: 1 };
  Array.prototype.forEach.call(table.tHead.querySelectorAll("th[data-sort]"), function (th) {
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-sort");
      sortState.dir = sortState.key === key ? -sortState.dir : 1;
      sortState.key = key;
      var sorted = rows().sort(function (a, b) {
        var x = cellText(a, key), y = cellText(b, key);
        if (key === "ip") { x = ipKey(x); y = ipKey(y); }
        return x.localeCompare(y) * sortState.dir;
      });
      sorted.forEach(function (r) { tbody.appendChild(r); });
    });
  });

  var search = document.getElementById("search");
  var onlineFilter = document.getElementById("filter-online");
  var modelFilter = document.getElementById("filter-model");
  var statusFilter = document.getElementById("filter-status");
  function applyFilter() {
    var q = search.value.trim().toLowerCase();
    var on = onlineFilter.value;
    var model = modelFilter.value;
    var status = statusFilter.value;
    var shown = 0;
    rows().forEach(function (r) {
      var hay = (r.textContent + " " + cellText(r, "name") + " " + cellText(r, "ip")).toLowerCase();
      var online = r.querySelector("td.online").getAttribute("data-online");
      var statuses = (r.getAttribute("data-statuses") || "").split(" ");
      var visible = (q === "" || hay.indexOf(q) >= 0) && (on === "" || online === on) &&
        (model === "" || r.getAttribute("data-model") === model) && (status === "" || statuses.indexOf(status) >= 0);
      r.hidden = !visible;
      if (visible) shown++;
    });
    document.getElementById("count").textContent = shown + " of " + rows().length + " devices";
  }
  search.addEventListener("input", applyFilter);
  onlineFilter.addEventListener("change", applyFilter);
  modelFilter.addEventListener("change", applyFilter);
  statusFilter.addEventListener("change", applyFilter);

  fetch("/api/online", { credentials: "same-origin" }).then(function (res) { return res.json(); }).then(function (map) {
    rows().forEach(function (r) {
      var up = map[r.getAttribute("data-mac")] === true;
      var cell = r.querySelector("td.online");
      cell.textContent = up ? "online" : "offline";
      cell.className = "online " + (up ? "ok" : "bad");
      cell.setAttribute("data-online", up ? "yes" : "no");
    });
    applyFilter();
  });

  tbody.addEventListener("click", function (ev) {
    var button = ev.target;
    if (!(button instanceof HTMLButtonElement)) return;
    var row = button.closest("tr");
    var mac = row.getAttribute("data-mac");
    var isName = button.classList.contains("save-name");
    if (!isName && !button.classList.contains("save-ip")) return;
    var input = row.querySelector(isName ? "input.name" : "input.ip");
    var error = row.querySelector(isName ? ".name-error" : ".ip-error");
    error.textContent = "";
    button.disabled = true;
    post("/api/devices/" + encodeURIComponent(mac) + (isName ? "/name" : "/ip"), isName ? { name: input.value } : { ip: input.value })
      .then(function (r) {
        if (r.ok) {
          input.value = isName ? r.data.name : r.data.ip;
          if (!isName) row.setAttribute("data-ip", r.data.ip);
          row.classList.add("saved");
          error.textContent = "";
        } else {
          error.textContent = r.data.error || ("HTTP " + r.status);
        }
      })
      .catch(function (e) { error.textContent = String(e); })
      .then(function () { button.disabled = false; });
  });

  document.getElementById("pick-all").addEventListener("change", function (ev) {
    rows().forEach(function (r) {
      var box = r.querySelector("input.pick");
      if (!box.disabled && !r.hidden) box.checked = ev.target.checked;
    });
  });

  var log = document.getElementById("run-log");
  var state = document.getElementById("run-state");
  var summary = document.getElementById("run-summary");
  function run(dryRun) {
    var ips = rows().filter(function (r) { return r.querySelector("input.pick").checked; })
      .map(function (r) { return r.getAttribute("data-ip"); });
    log.textContent = "";
    summary.textContent = "";
    state.textContent = "starting…";
    post("/api/stage3", { ips: ips, dryRun: dryRun }).then(function (r) {
      if (!r.ok) { state.textContent = r.data.error || ("HTTP " + r.status); state.className = "bad"; return; }
      state.textContent = (dryRun ? "dry run " : "run ") + r.data.id + " running";
      state.className = "";
      var source = new EventSource("/api/stage3/" + r.data.id + "/events");
      source.addEventListener("line", function (ev) {
        log.textContent += ev.data + "\n";
        log.scrollTop = log.scrollHeight;
        if (ev.data.indexOf("Stage 3 summary:") === 0) summary.textContent = ev.data;
      });
      source.addEventListener("failure", function (ev) { log.textContent += "error: " + ev.data + "\n"; state.className = "bad"; });
      source.addEventListener("end", function (ev) {
        var end = JSON.parse(ev.data);
        state.textContent = "finished (exit " + end.exitCode + ")";
        source.close();
      });
    });
  }
  document.getElementById("run-dry").addEventListener("click", function () { run(true); });
  document.getElementById("run-real").addEventListener("click", function () { run(false); });
})();
`
