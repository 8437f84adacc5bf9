// The actorkv web console: polls this node's /v1/status and /metrics every two seconds and
// draws members, the ring, hints and handoff progress, and charts of requests per second and
// p99 latency. Plain DOM, SVG and canvas; no libraries, nothing from other sites.
//
// Credentials: the page itself is public; the data needs the read role. A browser that shows a
// client certificate of the cluster's CA needs nothing more. Otherwise the page asks for a
// bearer token and keeps it in sessionStorage (this tab only, gone when it closes); a link may
// carry it as #token=... (a fragment never reaches a server or its logs), which the page moves
// to sessionStorage and removes from the address bar.
"use strict";

const POLL_MS = 2000;
const HISTORY = 90; // chart points kept (3 minutes)
const OPS = ["get", "put", "delete"];
const OP_COLOURS = { get: "#2a9d8f", put: "#e76f51", delete: "#6c5ce7" };
const PALETTE = ["#264653", "#e9c46a", "#2a9d8f", "#f4a261", "#e76f51", "#8ab17d", "#6d597a",
                 "#b56576", "#457b9d", "#a8dadc", "#ffb703", "#9b2226"];

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("actorkv-token") || "";
let previous = null; // the last scrape's samples and time, for rates
const series = []; // {t, ops: {op: per second}, p99: {op: ms}}

function takeTokenFromFragment() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return;
  token = decodeURIComponent(m[1]);
  sessionStorage.setItem("actorkv-token", token);
  window.history.replaceState(null, "", location.pathname);
}

async function api(path) {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const r = await fetch(path, { headers, cache: "no-store" });
  if (r.status === 401 || r.status === 403) {
    const body = await r.json().catch(() => ({}));
    const e = new Error(body.message || "credentials refused");
    e.auth = true;
    throw e;
  }
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r;
}

// --- members, ring, handoff --------------------------------------------------------------------

function colourOf(members) {
  const map = {};
  members.forEach((m, i) => { map[m.name] = PALETTE[i % PALETTE.length]; });
  return map;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function renderMembers(s, colours) {
  const body = $("members").tBodies[0];
  body.textContent = "";
  for (const m of s.members) {
    const tr = document.createElement("tr");
    tr.id = "member-" + m.name;
    tr.dataset.member = m.name;
    tr.dataset.state = m.state;
    tr.dataset.up = m.up ? "1" : "0";
    const name = cell(tr, "");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = colours[m.name];
    name.append(sw, m.name + (m.name === s.node ? " (this node)" : ""));
    cell(tr, m.endpoint);
    cell(tr, m.zone);
    cell(tr, String(m.capacity), "num");
    cell(tr, m.state);
    cell(tr, m.up ? "up" : "down", m.up ? "up" : "down");
    cell(tr, String(m.partitions), "num");
    cell(tr, m.share.toFixed(1) + " %", "num");
    cell(tr, s.handoff_running ? String(m.next_partitions) : "", "num");
    cell(tr, m.clock_offset_ms === null ? "" : m.clock_offset_ms + " ms", "num");
    body.appendChild(tr);
  }
}

function renderRing(s, colours) {
  const svg = $("ring");
  const ns = "http://www.w3.org/2000/svg";
  svg.textContent = "";
  const q = s.owners.length;
  const r0 = 60, r1 = 100;
  for (let i = 0; i < q; ++i) {
    // Partition 0 starts at the top, clockwise.
    const a0 = (i / q) * 2 * Math.PI - Math.PI / 2, a1 = ((i + 1) / q) * 2 * Math.PI - Math.PI / 2;
    const p = (r, a) => (r * Math.cos(a)).toFixed(2) + " " + (r * Math.sin(a)).toFixed(2);
    const large = a1 - a0 > Math.PI ? 1 : 0;
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M " + p(r1, a0) + " A " + r1 + " " + r1 + " 0 " + large + " 1 " +
      p(r1, a1) + " L " + p(r0, a1) + " A " + r0 + " " + r0 + " 0 " + large + " 0 " + p(r0, a0) +
      " Z");
    path.setAttribute("fill", colours[s.owners[i]] || "#999");
    path.setAttribute("stroke", "#fff");
    path.setAttribute("stroke-width", q > 128 ? "0.2" : "0.6");
    path.dataset.owner = s.owners[i];
    const title = document.createElementNS(ns, "title");
    title.textContent = "partition " + i + ": " + s.owners[i];
    path.appendChild(title);
    svg.appendChild(path);
  }
  const label = document.createElementNS(ns, "text");
  label.setAttribute("text-anchor", "middle");
  label.setAttribute("dy", "0.35em");
  label.textContent = q + " partitions";
  svg.appendChild(label);
  const legend = $("legend");
  legend.textContent = "";
  for (const m of s.members) {
    if (m.partitions === 0 && m.state === "removed") continue;
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = colours[m.name];
    li.append(sw, m.name + ": " + m.partitions);
    legend.appendChild(li);
  }
}

function bar(id, done, total) {
  const pct = total > 0 ? Math.min(100, (100 * done) / total) : 0;
  $(id + "-bar").style.width = pct.toFixed(1) + "%";
  $(id + "-bar").parentElement.dataset.percent = pct.toFixed(0);
  $(id + "-text").textContent = total > 0 ? done + " / " + total : "none";
}

function renderStatus(s) {
  const colours = colourOf(s.members);
  $("node").textContent = "node " + s.node;
  $("settings").textContent = s.settings;
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  renderMembers(s, colours);
  renderRing(s, colours);
  $("hints").textContent = String(s.pending_hints);
  $("epoch").textContent = s.ring_epoch + " (view " + s.view_fingerprint + ")";
  $("ae").textContent = s.ae_rounds + " rounds, " + s.ae_repairs_total + " keys repaired";
  bar("transfers", s.transfers_done, s.transfers_total);
  bar("keys", s.handoff_keys_sent, s.handoff_keys_total);
  // After a change is promoted, nodes that no longer replicate a partition send its new
  // replicas what they lack and drop it (releases): the keys sent count in the bar.
  $("handoff-state").textContent = s.handoff_running
    ? "handoff running: " + s.handoff_queued + " partitions queued on this node"
    : s.handoff_queued > 0
    ? "no handoff running; this node still releases " + s.handoff_queued +
      " partitions (sends their new replicas what they lack, then drops them)"
    : "no handoff running";
  document.body.dataset.members = String(s.members.length);
}

// --- metrics -----------------------------------------------------------------------------------

/// Prometheus text into [{name, labels, value}].
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    let l;
    while ((l = re.exec(m[2] || "")) !== null) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: m[3] === "+Inf" ? Infinity : Number(m[3]) });
  }
  return out;
}

function summarise(samples) {
  const requests = {}, buckets = {};
  for (const op of OPS) { requests[op] = 0; buckets[op] = []; }
  for (const s of samples) {
    const op = s.labels.op;
    if (!(op in requests)) continue;
    if (s.name === "actorkv_requests_total") requests[op] += s.value;
    if (s.name === "actorkv_request_duration_seconds_bucket")
      buckets[op].push({ le: s.labels.le === "+Inf" ? Infinity : Number(s.labels.le), n: s.value });
  }
  for (const op of OPS) buckets[op].sort((a, b) => a.le - b.le);
  return { requests, buckets };
}

/// The 99th percentile of the observations between two cumulative bucket snapshots, in ms: the
/// upper bound of the bucket that reaches 99 % (null without observations).
function p99(before, after) {
  const total = after.length ? after[after.length - 1].n - (before.length ? before[before.length - 1].n : 0) : 0;
  if (total <= 0) return null;
  for (let i = 0; i < after.length; ++i) {
    const n = after[i].n - (before[i] ? before[i].n : 0);
    if (n >= 0.99 * total) {
      const le = after[i].le === Infinity ? (i > 0 ? after[i - 1].le : 0) : after[i].le;
      return le * 1000;
    }
  }
  return null;
}

function renderMetrics(text) {
  const now = performance.now();
  const current = summarise(parseMetrics(text));
  if (previous) {
    const dt = (now - previous.t) / 1000;
    const point = { ops: {}, p99: {} };
    for (const op of OPS) {
      point.ops[op] = Math.max(0, current.requests[op] - previous.s.requests[op]) / dt;
      point.p99[op] = p99(previous.s.buckets[op], current.buckets[op]);
    }
    series.push(point);
    if (series.length > HISTORY) series.shift();
    drawChart($("ops"), series.map((p) => p.ops), "/s");
    drawChart($("p99"), series.map((p) => p.p99), " ms");
    document.body.dataset.points = String(series.length);
    // The busiest rate seen, for tests and for a glance at the page's source.
    const total = OPS.reduce((sum, op) => sum + point.ops[op], 0);
    document.body.dataset.peakOps = String(Math.max(Number(document.body.dataset.peakOps || 0),
                                                    Math.round(total)));
  }
  previous = { t: now, s: current };
}

function drawChart(canvas, points, unit) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, left = 48, bottom = 20, top = 10;
  ctx.clearRect(0, 0, w, h);
  let max = 0;
  for (const p of points) for (const op of OPS) if (p[op] !== null) max = Math.max(max, p[op]);
  max = max > 0 ? max * 1.1 : 1;
  ctx.font = "11px sans-serif";
  ctx.fillStyle = "#555";
  ctx.strokeStyle = "#e5e7eb";
  for (let i = 0; i <= 4; ++i) {
    const y = top + ((h - top - bottom) * i) / 4;
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(w, y); ctx.stroke();
    const v = max * (1 - i / 4);
    ctx.fillText((v >= 100 ? v.toFixed(0) : v.toPrecision(2)) + unit, 2, y + 4);
  }
  const x = (i) => left + ((w - left - 4) * i) / (HISTORY - 1);
  const y = (v) => top + (h - top - bottom) * (1 - v / max);
  OPS.forEach((op, k) => {
    ctx.strokeStyle = OP_COLOURS[op];
    ctx.lineWidth = 2;
    ctx.beginPath();
    let pen = false;
    points.forEach((p, i) => {
      if (p[op] === null) { pen = false; return; }
      pen ? ctx.lineTo(x(i), y(p[op])) : ctx.moveTo(x(i), y(p[op]));
      pen = true;
    });
    ctx.stroke();
    ctx.fillStyle = OP_COLOURS[op];
    ctx.fillText(op, left + 8 + k * 50, h - 5);
  });
}

// --- polling -----------------------------------------------------------------------------------

async function poll() {
  try {
    const status = await (await api("/v1/status")).json();
    $("login").hidden = true;
    $("main").hidden = false;
    renderStatus(status);
    renderMetrics(await (await api("/metrics")).text());
    $("error").textContent = "";
    document.body.dataset.loaded = "1";
  } catch (e) {
    if (e.auth) {
      $("main").hidden = true;
      $("login").hidden = false;
      $("login-error").textContent = token ? e.message : "";
    } else {
      $("error").textContent = "cannot reach the node: " + e.message;
    }
  }
}

function start() {
  takeTokenFromFragment();
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("token").value.trim();
    sessionStorage.setItem("actorkv-token", token);
    poll();
  });
  poll();
  setInterval(poll, POLL_MS);
}

document.addEventListener("DOMContentLoaded", start);
