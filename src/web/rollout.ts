// The firmware page: the local firmware cache and the current rollout's
// waves, live. The rollout's state file (stage3.rollout.state_file) is the
// one source: the CLI (or any run) writes it safely at every wave start/end,
// and /api/rollout/events streams it over SSE whenever its content changes,
// so a rollout started in a terminal shows here too.
import { FileSystem } from "@effect/platform"
import { Duration, Effect, Option, Schedule, Stream } from "effect"
import type { FirmwareEntry } from "../firmware/cache.js"
import type { RolloutState } from "../stages/stage3/rollout.js"
import { escapeHtml as e, layout } from "./html.js"
import { sseMessage } from "./runs.js"

/** How often the state file is looked at, and how long one event stream lasts (the browser reconnects). */
const POLL = Duration.millis(500)
const STREAM_LIFETIME = Duration.hours(1)

/** The state file's text, or "null" when there is none (no rollout yet). */
const readState = (file: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(file)).pipe(Effect.orElseSucceed(() => "null"))

/** SSE `state` events: the current state at once, then each change. */
export const rolloutEvents = (file: string): Stream.Stream<Uint8Array, never, FileSystem.FileSystem> => {
  let last: string | undefined
  let seq = 0
  return Stream.repeatEffectWithSchedule(readState(file), Schedule.spaced(POLL)).pipe(
    Stream.interruptAfter(STREAM_LIFETIME),
    Stream.filterMap((text) => {
      if (text === last) return Option.none()
      last = text
      seq += 1
      return Option.some(sseMessage({ seq, type: "line", data: text.trim() }))
    })
  )
}

const waveRows = (state: RolloutState | undefined): string =>
  state === undefined
    ? `<tr><td colspan="5">no rollout yet (provision stage3 --rollout 5%,25%,100%)</td></tr>`
    : state.waves
        .map(
          (w) =>
            `<tr data-wave="${w.index}"><td>${w.index}</td><td>${w.devices.length}</td><td class="wave-status">${e(w.status)}</td><td>${w.ok}</td><td>${w.failed}</td></tr>`
        )
        .join("\n")

export const firmwarePage = (options: {
  readonly entries: ReadonlyArray<FirmwareEntry>
  readonly firmwareDir: string
  readonly state: RolloutState | undefined
  readonly stateFile: string
  readonly csrf: string
}): string => {
  const { state } = options
  const files =
    options.entries.length === 0
      ? `<tr><td colspan="5">empty (provision firmware add FILE --model M --fw-version V)</td></tr>`
      : options.entries
          .map(
            (f) =>
              `<tr><td>${e(f.model)}</td><td>${e(f.version)}</td><td><code>${e(f.sha256)}</code></td><td>${f.size}</td><td>${e(f.added)}</td></tr>`
          )
          .join("\n")
  return layout(
    { title: "Firmware", csrf: options.csrf, active: "inventory" },
    `<h1>Firmware cache <small>${e(options.firmwareDir)}</small></h1>
<table id="firmware-cache"><thead><tr><th>Model</th><th>Version</th><th>sha256 (served as /firmware/&lt;sha256&gt;.zip)</th><th>Bytes</th><th>Added</th></tr></thead>
<tbody>${files}</tbody></table>
<h2>Rollout <small>${e(options.stateFile)}</small></h2>
<p id="rollout-summary">${
      state === undefined
        ? "none"
        : `${e(state.id)}: <strong id="rollout-status">${e(state.status)}</strong>, waves ${e(state.waves_spec)}, halt after ${state.halt_after}` +
          (state.halt_reason !== null ? ` — ${e(state.halt_reason)}` : "")
    }</p>
<table id="rollout-waves"><thead><tr><th>Wave</th><th>Devices</th><th>Status</th><th>OK</th><th>Failed</th></tr></thead>
<tbody>${waveRows(state)}</tbody></table>
<h3>Failures</h3><ul id="rollout-failures">${(state?.waves ?? []).flatMap((w) => w.failures.map((f) => `<li>wave ${w.index}: ${e(f.mac)} @ ${e(f.ip)} — ${e(f.error)}</li>`)).join("")}</ul>
<script src="/rollout.js" defer></script>`
  )
}

/** /rollout.js: follows /api/rollout/events and redraws the waves (text only, no HTML from the server). */
export const rolloutScript = String.raw`
"use strict";
(function () {
  var tbody = document.querySelector("#rollout-waves tbody");
  var summary = document.getElementById("rollout-summary");
  var failures = document.getElementById("rollout-failures");
  if (!tbody) return;
  function cell(tr, text) { var td = document.createElement("td"); td.textContent = String(text); tr.appendChild(td); return td; }
  var source = new EventSource("/api/rollout/events");
  source.addEventListener("line", function (ev) {
    var state = JSON.parse(ev.data);
    if (state === null) return;
    summary.textContent = state.id + ": " + state.status + ", waves " + state.waves_spec + ", halt after " + state.halt_after +
      (state.halt_reason ? " — " + state.halt_reason : "");
    summary.setAttribute("data-status", state.status);
    tbody.textContent = "";
    failures.textContent = "";
    state.waves.forEach(function (w) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-wave", w.index);
      cell(tr, w.index); cell(tr, w.devices.length); cell(tr, w.status).className = "wave-status"; cell(tr, w.ok); cell(tr, w.failed);
      tbody.appendChild(tr);
      w.failures.forEach(function (f) {
        var li = document.createElement("li");
        li.textContent = "wave " + w.index + ": " + f.mac + " @ " + f.ip + " — " + f.error;
        failures.appendChild(li);
      });
    });
  });
})();
`
