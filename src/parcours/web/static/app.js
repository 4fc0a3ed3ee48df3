// parcours web pages: the state is the URL; data comes from the JSON API of the same server.
"use strict";

// The page's own words; report titles and questions, filter labels and help, and model names
// come from the API (/api/v1/reports, /api/v1/fields, /api/v1/models), declared once in Python.
const I18N = {
  en: {filters: "Filters", apply: "Apply", simple: "Simple", expert: "Expert", token: "API token", everything: "All",
       loading: "Loading…", drill: "Click a row or a bar to drill down",
       empty: "No conversion matches this period and these filters. Widen the period or remove a filter."},
  fr: {filters: "Filtres", apply: "Appliquer", simple: "Mode simple", expert: "Mode expert", token: "Jeton d'API",
       everything: "Tous", loading: "Chargement…", drill: "Cliquez une ligne ou une barre pour descendre d'un niveau",
       empty: "Aucune conversion ne correspond à cette période et à ces filtres. Élargissez la période ou retirez un filtre."},
};
let DRILL = {};  // level -> the level a click on a row goes down to (/api/v1/meta)
const LOCAL = ["mode", "lang"];  // page state the API does not take

const REPORT = document.body.dataset.report;
const REPORTS = document.body.dataset.reports.split(",");
let params = new URLSearchParams(location.search);
let catalogue = {};  // report name -> what /api/v1/reports says of it
let fields = [];  // the Query fields, as /api/v1/fields declares them

const lang = () => params.get("lang") || ((navigator.language || "en").startsWith("fr") ? "fr" : "en");
const mode = () => params.get("mode") || "simple";
const t = (key) => (I18N[lang()] || I18N.en)[key] || I18N.en[key] || key;
const said = (texts) => (texts || {})[lang()] || (texts || {}).en;  // an {en, fr} pair in the page's language
const title = (name) => said((catalogue[name] || {}).titles) || name;
const report = () => catalogue[REPORT] || {fields: [], drill: false};

// A list parameter's values are separated by commas; "\\," is a comma inside a value
// (query.split_list on the server).
const escapeValue = (v) => String(v).replaceAll("\\", "\\\\").replaceAll(",", "\\,");
function splitList(text) {
  const out = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\\") current += text[++i] ?? "\\";
    else if (text[i] === ",") { out.push(current); current = ""; }
    else current += text[i];
  }
  out.push(current);
  return out;
}

function apiParams(extra = {}) {
  const p = new URLSearchParams();
  for (const [k, v] of params) if (!LOCAL.includes(k)) p.append(k, v);
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return p;
}

async function api(path, query) {
  const headers = {};
  const token = localStorage.getItem("parcours-token");
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(query ? `${path}?${query}` : path, {headers});
  if (res.status === 401) document.getElementById("token").hidden = false;
  if (!res.ok) {
    let message = res.statusText;
    try { message = (await res.json()).error; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return res;
}

function go(next) {  // a new page state: into the URL (shareable, reloadable), then redraw
  params = next;
  history.pushState({}, "", `${location.pathname}?${params}`);
  load();
}

window.addEventListener("popstate", () => { params = new URLSearchParams(location.search); load(); });

function translate() {
  document.documentElement.lang = lang();
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  const nav = document.getElementById("nav");
  nav.replaceChildren(...REPORTS.map((name) => {
    const a = document.createElement("a");
    a.href = `/reports/${name}?${keep("lang")}`;
    a.textContent = title(name);
    if (name === REPORT) a.className = "current";
    return a;
  }));
  for (const b of document.querySelectorAll("[data-lang]")) b.classList.toggle("on", b.dataset.lang === lang());
  for (const b of document.querySelectorAll("[data-mode]")) b.classList.toggle("on", b.dataset.mode === mode());
  for (const f of fields) {
    const label = document.querySelector(`#fields [data-field="${f.name}"]`);
    if (!label) continue;
    label.hidden = !report().fields.includes(f.name);
    label.querySelector("span").textContent = said(f.labels);
    label.title = said(f.help);
    for (const o of label.querySelectorAll("option")) {
      if (f.value_labels[o.value]) o.textContent = said(f.value_labels[o.value]);
    }
  }
}

function keep(...keys) {
  const p = new URLSearchParams();
  for (const k of keys) if (params.get(k)) p.set(k, params.get(k));
  return p;
}

function control(f, meta, models) {  // one form control for a Query field, from its declaration
  const label = document.createElement("label");
  label.dataset.field = f.name;
  label.append(document.createElement("span"));
  let el;
  if (f.kind === "bool" && f.default !== null) {
    el = Object.assign(document.createElement("input"), {type: "checkbox"});
    label.classList.add("check");
    label.prepend(el);
  } else if (f.kind === "date" || f.kind === "int" || f.kind === "float") {
    el = document.createElement("input");
    el.type = f.kind === "date" ? "date" : "number";
    if (f.kind === "float") el.step = "any";
    if (f.minimum !== null) el.min = f.minimum;
    if (f.maximum !== null) el.max = f.maximum;
    label.append(el);
  } else {
    el = document.createElement("select");
    let values = f.choices.length ? f.choices : Object.keys(f.value_labels);
    if (f.values === "models") values = models.map((m) => m.name);
    else if (f.values === "crm") values = Object.entries(meta.crm || {}).flatMap(([k, vs]) => vs.map((v) => `${k}=${v}`));
    else if (f.values === "channels") values = Object.keys(meta.channels || {});
    else if (f.values) values = meta[f.values] || [];
    const names = f.values === "models" ? Object.fromEntries(models.map((m) => [m.name, said(m.labels)])) : {};
    el.replaceChildren(...values.map((v) => new Option(names[v] || v, v)));
    el.multiple = f.multiple;
    if (f.multiple) el.size = Math.min(Math.max(values.length, 2), 4);
    label.append(el);
  }
  el.name = f.name;
  el.dataset.kind = f.kind;
  return label;
}

const json = (path, query) => api(path, query).then((res) => res.json());
// Plotly comes in a deferred script after this one: every deferred script has run by then.
const plotlyReady = new Promise((resolve) => document.addEventListener("DOMContentLoaded", resolve));
let prefetched = null;  // the first report request, sent with the others at start-up

let applied = {};  // the period the last answer covered (a default period is shown, not sent)

function buildFilters(meta, models) {
  DRILL = meta.drill;
  const box = document.getElementById("fields");
  box.replaceChildren(...fields.filter((f) => f.control === "form").map((f) => control(f, meta, models)));
  fillForm();
}

function fillForm() {  // the form shows the page's state: after a drill-down, a new period...
  const form = document.getElementById("filters");
  for (const el of form.elements) {
    if (!el.name) continue;
    const f = fields.find((x) => x.name === el.name);
    const values = params.getAll(el.name).flatMap(splitList);
    const crm = el.dataset.kind === "crm" ? values.flatMap((v) => {  // attribute=a|b: one option per value
      const [k, vs] = [v.split("=")[0], v.split("=").slice(1).join("=")];
      return vs.split("|").map((x) => `${k}=${x}`);
    }) : values;
    if (el.multiple) for (const o of el.options) o.selected = crm.includes(o.value);
    else if (el.type === "checkbox") el.checked = values.length ? values.includes("true") : f.default === true;
    else if (values.length) el.value = values[0];
    else if (el.type === "date") el.value = applied[el.name] || "";
    else if (f && f.default !== null && !f.multiple) el.value = String(f.default);
  }
  translate();
}

document.getElementById("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  const next = keep("mode", "lang");
  for (const el of form.elements) {
    if (!el.name || el.closest("[hidden]")) continue;
    const f = fields.find((x) => x.name === el.name);
    if (el.dataset.kind === "crm") {  // the values chosen for one attribute are one filter: attribute=a|b
      const by = {};
      for (const o of el.selectedOptions) {
        const [k, v] = [o.value.split("=")[0], o.value.split("=").slice(1).join("=")];
        (by[k] = by[k] || []).push(v);
      }
      for (const [k, vs] of Object.entries(by)) next.append(el.name, escapeValue(`${k}=${vs.join("|")}`));
    } else if (el.multiple) for (const o of el.selectedOptions) next.append(el.name, escapeValue(o.value));
    else if (el.type === "checkbox") { if (el.checked !== f.default) next.set(el.name, String(el.checked)); }
    else if (el.type === "date" && !params.get(el.name) && el.value === applied[el.name]) continue;
    else if (el.value && String(el.value) !== String(f.default)) next.set(el.name, el.value);
  }
  if (next.get("level") === (params.get("level") || "channel")) for (const p of params.getAll("parent")) next.append("parent", p);
  go(next);
});

for (const b of document.querySelectorAll("[data-lang]")) b.addEventListener("click", () => {
  const next = new URLSearchParams(params); next.set("lang", b.dataset.lang); go(next); translate();
});
for (const b of document.querySelectorAll("[data-mode]")) b.addEventListener("click", () => {
  const next = new URLSearchParams(params); next.set("mode", b.dataset.mode); go(next);
});
for (const b of document.querySelectorAll("[data-format]")) b.addEventListener("click", async () => {
  const blob = await (await api(`/api/v1/reports/${REPORT}`, apiParams({format: b.dataset.format}))).blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${REPORT}.${b.dataset.format}`;
  document.body.append(a); a.click(); a.remove();
});
document.getElementById("token-save").addEventListener("click", (event) => {
  event.preventDefault();
  localStorage.setItem("parcours-token", document.querySelector("#token input").value);
  location.reload();
});

function drillable(value) {
  const level = params.get("level") || "channel";
  return report().drill && DRILL[level] && value != null && !String(value).startsWith("(");
}

function drill(value) {
  const level = params.get("level") || "channel";
  const next = new URLSearchParams(params);
  next.append("parent", escapeValue(`${level}=${value}`));
  next.set("level", DRILL[level]);
  go(next);
}

function crumbs() {
  const nav = document.getElementById("crumbs");
  const parents = params.getAll("parent");
  if (!report().drill) { nav.replaceChildren(); return; }
  const items = [["", t("everything")],
                 ...parents.map((p, i) => [i + 1, splitList(p)[0].split("=").slice(1).join("=")])];
  nav.replaceChildren(...items.map(([depth, label], i) => {
    const a = document.createElement(i === items.length - 1 ? "span" : "a");
    a.textContent = label;
    if (i < items.length - 1) {
      a.href = "#";
      a.addEventListener("click", (e) => {
        e.preventDefault();
        const next = new URLSearchParams(params);
        next.delete("parent");
        const kept = parents.slice(0, depth || 0);
        for (const p of kept) next.append("parent", p);
        next.set("level", kept.length ? DRILL[kept.at(-1).split("=")[0]] : "channel");
        go(next);
      });
    }
    return a;
  }));
}

const number = (v, col) => {
  if (typeof v !== "number") return v == null ? "" : String(v);
  if (/share|_rate$/.test(col)) return new Intl.NumberFormat(lang(), {style: "percent", maximumFractionDigits: 1}).format(v);
  return new Intl.NumberFormat(lang(), {maximumFractionDigits: 2}).format(v);
};

function table(rows, name) {
  const el = document.createElement("table");
  el.className = "report";
  el.dataset.table = name;
  if (!rows.length) return el;
  const cols = Object.keys(rows[0]);
  const head = el.createTHead().insertRow();
  const body = el.createTBody();
  let sorted = {col: null, asc: true};
  const draw = () => {
    body.replaceChildren(...rows.map((r) => {
      const tr = document.createElement("tr");
      for (const c of cols) { const td = tr.insertCell(); td.textContent = number(r[c], c); if (typeof r[c] === "number") td.className = "num"; }
      if (r.low_volume) tr.classList.add("low");
      if (name === "table" && "row" in r && drillable(r.row)) {
        tr.classList.add("drill"); tr.title = t("drill"); tr.addEventListener("click", () => drill(r.row));
      }
      return tr;
    }));
  };
  for (const c of cols) {
    const th = document.createElement("th");
    th.textContent = c.replaceAll("_", " ");
    th.addEventListener("click", () => {
      sorted = {col: c, asc: sorted.col === c ? !sorted.asc : false};
      rows = [...rows].sort((a, b) => {
        const x = a[c], y = b[c];
        const cmp = typeof x === "number" && typeof y === "number" ? x - y : String(x ?? "").localeCompare(String(y ?? ""));
        return sorted.asc ? cmp : -cmp;
      });
      for (const h of head.cells) h.className = "";
      th.className = sorted.asc ? "asc" : "desc";
      draw();
    });
    head.append(th);
  }
  draw();
  return el;
}

async function load() {
  translate();
  crumbs();
  document.getElementById("title").textContent = title(REPORT);
  document.getElementById("question").textContent = said(report().questions) || "";
  const warnings = document.getElementById("warnings");
  warnings.replaceChildren(Object.assign(document.createElement("li"), {textContent: t("loading"), className: "info"}));
  let result;
  try {
    result = await (prefetched || json(`/api/v1/reports/${REPORT}`, apiParams({lang: lang()})));
  } catch (error) {
    warnings.replaceChildren(Object.assign(document.createElement("li"), {textContent: error.message}));
    return;
  } finally {
    prefetched = null;
  }
  warnings.replaceChildren(...result.warnings.map((w) => Object.assign(document.createElement("li"), {textContent: w})));
  const q = result.query;
  applied = {start: q.start, end: q.end};
  fillForm();
  document.getElementById("totals").textContent = `${q.start} → ${q.end}` + Object.entries(result.totals)
    .filter(([, v]) => typeof v === "number").slice(0, 4).map(([k, v]) => ` · ${k.replaceAll("_", " ")} ${number(v, k)}`).join("");
  const chart = document.getElementById("chart");
  const tables = document.getElementById("tables");
  const empty = document.getElementById("empty");
  empty.hidden = result.totals.conversions !== 0;  // an empty answer says so, in place of blank axes
  chart.hidden = mode() === "expert" || !empty.hidden;
  tables.hidden = mode() !== "expert" || !empty.hidden;
  if (!empty.hidden) return;
  if (mode() !== "expert") {
    await plotlyReady;
    await Plotly.react(chart, result.figure.data, {...result.figure.layout, autosize: true, margin: {t: 30}},
                       {responsive: true, displaylogo: false});
    chart.removeAllListeners && chart.removeAllListeners("plotly_click");
    // a bar drills down only when it stands for a row (a time-lag bucket or a funnel stage does not);
    // the chart's labels are HTML-escaped by the server
    const escaped = (v) => String(v).replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
    const rows = new Map(result.table.map((r) => [escaped(r.row), r.row]));
    chart.on("plotly_click", (e) => {
      const row = rows.get(String(e.points[0].x));
      if (row !== undefined && drillable(row)) drill(row);
    });
  } else {
    tables.replaceChildren(table(result.table, "table"), ...Object.entries(result.tables).flatMap(([name, rows]) =>
      [Object.assign(document.createElement("h3"), {textContent: name.replaceAll("_", " ")}), table(rows, name)]));
  }
}

(async () => {
  if (window.matchMedia("(max-width: 900px)").matches) document.getElementById("filter-box").open = false;
  translate();
  // Every request at once: the page waits for the slowest, not for their sum.
  prefetched = json(`/api/v1/reports/${REPORT}`, apiParams({lang: lang()}));
  prefetched.catch(() => {});  // its error is shown by load()
  try {
    const [reports, declared, meta, models] = await Promise.all(
      [json("/api/v1/reports"), json("/api/v1/fields"), json("/api/v1/meta"), json("/api/v1/models")]);
    catalogue = Object.fromEntries(reports.map((r) => [r.name, r]));
    fields = declared;
    buildFilters(meta, models);
  } catch (error) { /* shown by load() */ }
  await load();
})();
