// The Quilt dashboard: polls /_quilt/status every second and draws the routes, their instances,
// the last profiled call graph with the solver's plan, and the last optimize report. Every value
// from the server is written as text (never as markup).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
let previous = null; // the last status, and when it came
let shownFiles = ""; // which dashboard files are drawn

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function ms(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds === Infinity) return "> 30 s";
  return seconds < 0.001 ? (seconds * 1e6).toFixed(0) + " µs" : (seconds * 1e3).toFixed(1) + " ms";
}

// The latency quantile q over the requests answered between two cumulative histograms: the upper
// bound of the bucket that holds it (null when no request was answered in between).
// `total` is the number of requests answered in between: those slower than the last bucket (30 s)
// are in no bucket, and the quantile is then "over 30 s" (Infinity).
function quantile(now, before, total, q) {
  const base = before && before.length === now.length ? before : null;
  const counts = now.map(([le, n], i) => [le, n - (base ? base[i][1] : 0)]);
  if (total <= 0) return null;
  for (const [le, n] of counts) if (n >= q * total) return le;
  return Infinity;
}

function errors(route) {
  return Object.entries(route.responses)
    .filter(([code]) => !code.startsWith("2"))
    .reduce((sum, [, n]) => sum + n, 0);
}

function drawRoutes(status, dt) {
  const before = new Map((previous ? previous.status.routes : []).map((r) => [r.route, r]));
  const body = document.querySelector("#routes tbody");
  const instBody = document.querySelector("#instances tbody");
  body.replaceChildren();
  instBody.replaceChildren();
  for (const r of status.routes) {
    const b = before.get(r.route);
    const rate = b && dt > 0 ? (r.answered - b.answered) / dt : null;
    const recent = b ? b.latency_buckets : null;
    const answered = r.answered - (b ? b.answered : 0);
    const runs = r.members.length ? r.members.join(", ") : r.entry;
    const row = el("tr", { "data-route": r.route, "data-requests": String(r.requests) },
      el("td", {}, r.route),
      el("td", { class: "members" }, runs),
      el("td", {}, `${r.memory_mb} MiB · ${r.cpu} CPU`),
      el("td", {}, `${r.instances.length} (${r.min_instances}–${r.max_instances})`),
      el("td", {}, rate === null ? "–" : rate.toFixed(1)),
      el("td", {}, ms(quantile(r.latency_buckets, recent, answered, 0.5))),
      el("td", {}, ms(quantile(r.latency_buckets, recent, answered, 0.99))),
      el("td", { class: "requests" }, String(r.requests)),
      el("td", {}, String(errors(r))));
    body.append(row);
    const cpuBefore = new Map((b ? b.instances : []).map((i) => [i.id, i.cpu_seconds]));
    for (const i of r.instances) {
      const was = cpuBefore.get(i.id);
      const cpu = was !== undefined && dt > 0 ? `${(100 * (i.cpu_seconds - was) / dt).toFixed(0)}%` : "–";
      instBody.append(el("tr", { "data-instance": String(i.id) },
        el("td", {}, r.route),
        el("td", {}, `#${i.id}${i.draining ? " (draining)" : ""}`),
        el("td", {}, String(i.pid)),
        el("td", {}, String(i.in_flight)),
        el("td", {}, cpu),
        el("td", {}, `${i.rss_mb.toFixed(1)} MiB`)));
    }
  }
}

// Nodes in layers by their longest call path from a node nobody calls; groups of the plan in
// colours; calls that stay remote dashed.
function drawGraph(graph, plan) {
  const ids = graph.nodes.map((n) => n.id);
  const callers = new Map(ids.map((id) => [id, []]));
  for (const l of graph.links) callers.get(l.target).push(l.source);
  const depth = new Map();
  const depthOf = (id, seen) => {
    if (depth.has(id)) return depth.get(id);
    if (seen.has(id)) return 0;
    seen.add(id);
    const d = Math.max(-1, ...callers.get(id).map((c) => depthOf(c, seen))) + 1;
    depth.set(id, d);
    return d;
  };
  ids.forEach((id) => depthOf(id, new Set()));
  const layers = [];
  for (const id of ids) (layers[depth.get(id)] ||= []).push(id);
  const colours = ["#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#e53935", "#00897b", "#6d4c41", "#3949ab"];
  const groupOf = new Map();
  const local = new Set();
  (plan ? plan.groups : []).forEach((g, i) => {
    for (const m of g.members) if (!groupOf.has(m)) groupOf.set(m, i);
    for (const [a, b] of g.edges) local.add(`${a}\u0000${b}`);
  });
  const W = 160, H = 80, width = Math.max(...layers.map((l) => l.length)) * W + 40;
  const svg = svgEl("svg", { width, height: layers.length * H + 20, id: "callgraph" });
  const pos = new Map();
  layers.forEach((layer, d) => layer.forEach((id, i) => {
    pos.set(id, [20 + (width - 40) * (i + 0.5) / layer.length, 30 + d * H]);
  }));
  for (const l of graph.links) {
    const [x1, y1] = pos.get(l.source), [x2, y2] = pos.get(l.target);
    const isLocal = local.has(`${l.source}\u0000${l.target}`);
    svg.append(svgEl("line", { x1, y1, x2, y2, stroke: isLocal ? "#37474f" : "#b0bec5",
      "stroke-width": 2, class: isLocal ? "local" : "remote" }));
    const label = svgEl("text", { x: (x1 + x2) / 2 + 4, y: (y1 + y2) / 2, "font-size": 11, fill: "#546e7a" });
    label.textContent = `${l.weight}${l.type === "async" ? " async" : ""}`;
    svg.append(label);
  }
  for (const id of ids) {
    const [x, y] = pos.get(id);
    const g = groupOf.get(id);
    const node = svgEl("g", { "data-node": id });
    node.append(svgEl("circle", { cx: x, cy: y, r: 9, fill: g === undefined ? "#90a4ae" : colours[g % colours.length] }));
    const t = svgEl("text", { x, y: y - 14, "text-anchor": "middle", "font-size": 12 });
    t.textContent = id;
    node.append(t);
    svg.append(node);
  }
  const legend = el("p", { class: "legend" });
  (plan ? plan.groups : []).forEach((g, i) => {
    const sw = el("span", { class: "swatch" });
    sw.style.background = colours[i % colours.length];
    legend.append(el("span", {}, sw, `${g.root}: ${g.members.join(", ")}`));
  });
  if (plan) {
    legend.append(el("span", { class: "muted" },
      `plan (${plan.algorithm}${plan.optimal ? ", optimal" : ""}): ${plan.cost} of ${plan.baseline_cost} calls stay remote (dashed)`));
  }
  document.getElementById("graph").replaceChildren(svg, legend);
  document.getElementById("graph-note").textContent =
    `Profiled call graph: ${ids.length} functions, ${graph.links.length} calls` + (plan ? "" : " (no plan yet)");
}

function drawReport(report, hasPlot) {
  const row = (name, m) => el("tr", {},
    el("td", {}, name), el("td", {}, m.route),
    el("td", {}, `${m.latency.latency_ms.p50.toFixed(2)} ms`),
    el("td", {}, `${m.saturation.throughput_rps.toFixed(0)}`),
    el("td", {}, `${m.memory_mb.toFixed(0)} MiB`));
  const table = el("table", { id: "report-table" },
    el("thead", {}, el("tr", {}, el("th", {}, ""), el("th", {}, "route"), el("th", {}, "p50"),
      el("th", {}, "req/s"), el("th", {}, "memory"))),
    el("tbody", {}, row("baseline", report.baseline), row("merged", report.merged)));
  const parts = [table];
  if (hasPlot) parts.push(el("img", { src: `/_quilt/ui/files/latency.svg?${Date.now()}`, alt: "p50 latency, baseline and merged" }));
  document.getElementById("report").replaceChildren(...parts);
  document.getElementById("report-note").textContent = `${report.app} / ${report.workflow}`;
}

async function fetchJson(name) {
  const r = await fetch(`/_quilt/ui/files/${name}`, { cache: "no-store" });
  return r.ok ? r.json() : null;
}

// `files`: the dashboard files present, each with its modification time; a file written again
// is drawn again, and a fetch that failed is tried again at the next poll.
async function drawFiles(files) {
  const key = JSON.stringify(files);
  if (key === shownFiles) return;
  shownFiles = key;
  const has = (name) => files.some((f) => f.name === name);
  try {
    if (has("graph.json")) {
      const graph = await fetchJson("graph.json");
      const plan = has("plan.json") ? await fetchJson("plan.json") : null;
      if (!graph || (has("plan.json") && !plan)) throw new Error("graph or plan unavailable");
      drawGraph(graph, plan);
    }
    if (has("report.json")) {
      const report = await fetchJson("report.json");
      if (!report) throw new Error("report unavailable");
      drawReport(report, has("latency.svg"));
    }
  } catch (e) {
    shownFiles = "";
  }
}

async function poll() {
  try {
    const r = await fetch("/_quilt/status", { cache: "no-store" });
    if (!r.ok) throw new Error(`status ${r.status}`);
    const status = await r.json();
    const now = performance.now();
    const dt = previous ? (now - previous.at) / 1000 : 0;
    drawRoutes(status, dt);
    document.getElementById("tracing").textContent = status.tracing ? "on" : "off";
    document.getElementById("state").textContent =
      `${status.routes.length} routes · limits ${status.limits_enforced ? "enforced" : "not enforced"} · updated ${new Date().toLocaleTimeString()}`;
    previous = { status, at: now };
    await drawFiles(status.files);
  } catch (e) {
    document.getElementById("state").textContent = `gateway unreachable (${e.message})`;
  }
}

document.getElementById("tracing-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const on = document.getElementById("tracing").textContent !== "on";
  const r = await fetch("/_quilt/tracing", {
    method: "POST",
    headers: { Authorization: `Bearer ${document.getElementById("token").value}` },
    body: on ? "on" : "off",
  });
  document.getElementById("tracing-error").textContent = r.ok ? "" : (await r.json()).error;
  poll();
});

poll();
setInterval(poll, 1000);
