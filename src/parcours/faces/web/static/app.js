// The report pages (common.js comes first): the filters, the drill-down, the chart of each
// report in simple mode and its tables in expert mode.
"use strict";

Object.assign(I18N.en, {filters: "Filters", apply: "Apply", drill: "Click a row or a bar to drill down",
  open: "Click to see its recipients", cell: "Click a cell to see these journeys", of: "of conversions",
  chosen: "chosen", as_of: "As of", empty: "No conversion matches this period and these filters. Widen the period or remove a filter."});
Object.assign(I18N.fr, {filters: "Filtres", apply: "Appliquer",
  drill: "Cliquez une ligne ou une barre pour descendre d'un niveau", open: "Cliquez pour voir ses destinataires",
  cell: "Cliquez une case pour voir ces parcours", of: "des conversions", chosen: "choisis", as_of: "Au",
  empty: "Aucune conversion ne correspond à cette période et à ces filtres. Élargissez la période ou retirez un filtre."});
let DRILL = {};  // level -> the level a click on a row goes down to (/api/v1/meta)
const LOCAL = ["mode", "lang"];  // page state the API does not take

const REPORT = document.body.dataset.report;
let fields = [];  // the Query fields, as /api/v1/fields declares them
let meta = {names: {}};  // /api/v1/meta: the values each filter takes and their names
let models = [];  // /api/v1/models
const ASKS = JSON.parse(document.body.dataset.asks || "{}");  // what this page asks when its URL does not say

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
  // the fields this report reads: the URL may keep another report's filters (the API refuses them)
  const reads = REPORT in catalogue ? new Set(report().fields) : null;
  for (const [k, v] of params) if (!LOCAL.includes(k) && (!reads || reads.has(k))) p.append(k, v);
  for (const [k, v] of Object.entries(ASKS)) if (!params.has(k)) p.set(k, v);
  p.set("lang", lang());
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return p;
}

function translate() {
  translatePage(REPORT);
  document.querySelector("aside").hidden = REPORT in catalogue && !report().fields.length;  // no period, no filter
  for (const f of fields) {
    const label = document.querySelector(`#fields [data-field="${f.name}"]`);
    if (!label) continue;
    label.hidden = !report().fields.includes(f.name);
    label.querySelector("span").textContent = said(f.labels);
    label.title = said(f.help);
    for (const o of label.querySelectorAll("option")) o.textContent = optionText(f, o.value);
    for (const o of label.querySelectorAll(".opt")) o.querySelector("span").textContent = optionText(f, o.querySelector("input").value);
    const search = label.querySelector("input[type=search]");
    if (search) search.placeholder = t("search");
    countChosen(label);
  }
}

// A filter value as a person reads it: a model's label, a declared value label, a value's name
// (channels, devices, kinds...; CRM values as "attribute: value").
function optionText(f, value) {
  if (f.values === "models") return said((models.find((m) => m.name === value) || {}).labels) || value;
  if (f.values === "columns") return columnLabel(value);  // the answer's own label of that column
  if (f.value_labels[value]) return said(f.value_labels[value]);
  if (value === "") return t("everything");
  if (f.verbatim) return value;  // the data's own name (a journey called "cart" is not the stage)
  if (f.kind === "crm") { const [k, ...v] = value.split("="); return `${k}: ${v.join("=")}`; }
  return said(meta.names[value]) || value;
}

function countChosen(box) {  // a folded multi-select says how many values are ticked
  const count = box.querySelector(".count");
  if (!count) return;
  const n = box.querySelectorAll(".opt input:checked").length;
  count.textContent = n ? `${n} ${t("chosen")}` : "";
}

function control(f) {  // one form control for a Query field, from its declaration
  if (f.multiple) return multi(f);
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
    const values = fieldValues(f);
    if (f.page !== null && f.value_labels[""]) values.unshift("");  // "every measure": what the library answers
    else if (f.default === null) values.unshift("");  // an optional choice (a journey): all of them
    el.replaceChildren(...values.map((v) => new Option(optionText(f, v), v)));
    label.append(el);
  }
  el.name = f.name;
  el.dataset.kind = f.kind;
  return label;
}

function fieldValues(f) {  // the values a field offers, from its declaration and /api/v1/meta
  if (f.values === "models") return models.map((m) => m.name);
  if (f.values === "columns") return [...f.choices];
  if (f.values === "crm") return Object.entries(meta.crm || {}).flatMap(([k, vs]) => vs.map((v) => `${k}=${v}`));
  if (f.values === "channels") return Object.keys(meta.channels || {});
  if (f.values) return [...(meta[f.values] || [])];
  return f.choices.length ? [...f.choices] : Object.keys(f.value_labels);
}

// A list field: ticks in a folded box, with a search box when there are many (no Ctrl-click).
function multi(f) {
  const box = document.createElement("details");
  box.className = "multi";
  box.dataset.field = f.name;
  const summary = document.createElement("summary");
  summary.append(document.createElement("span"), Object.assign(document.createElement("em"), {className: "count"}));
  const list = document.createElement("div");
  list.className = "opts";
  for (const v of fieldValues(f)) {
    const opt = document.createElement("label");
    opt.className = "opt";
    const input = Object.assign(document.createElement("input"), {type: "checkbox", name: f.name, value: v});
    input.dataset.kind = f.kind;
    input.dataset.multi = "1";
    input.addEventListener("change", () => countChosen(box));
    opt.append(input, document.createElement("span"));
    list.append(opt);
  }
  if (list.children.length > 6) {
    const search = Object.assign(document.createElement("input"), {type: "search"});
    search.addEventListener("input", () => {
      const needle = search.value.toLocaleLowerCase();
      for (const o of list.children) o.hidden = !o.textContent.toLocaleLowerCase().includes(needle);
    });
    box.append(summary, search, list);
  } else box.append(summary, list);
  return box;
}

let prefetched = null;  // the first report request, sent with the others at start-up

let applied = {};  // the query as answered: its period, the models drawn... (a default period is shown, not sent)

function buildFilters() {
  DRILL = meta.drill;
  const box = document.getElementById("fields");
  box.replaceChildren(...fields.filter((f) => f.control === "form").map((f) => control(f)));
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
    const drawn = Array.isArray(applied[el.name]) ? applied[el.name] : [];  // e.g. the models drawn by default
    if (el.dataset.multi) el.checked = (values.length ? crm : drawn).includes(el.value);
    else if (el.type === "checkbox") el.checked = values.length ? values.includes("true") : f.default === true;
    else if (values.length) el.value = values[0];
    else if (el.type === "date") el.value = applied[el.name] || "";
    else if (el.name in ASKS) el.value = ASKS[el.name];
    else if (f && f.default !== null && !f.multiple) el.value = String(f.default);
  }
  translate();
}

document.getElementById("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  const next = keep("mode", "lang");
  const crm = {};
  for (const el of form.elements) {
    if (!el.name || el.closest("[hidden]")) continue;
    const f = fields.find((x) => x.name === el.name);
    if (el.dataset.multi && el.dataset.kind === "crm") {  // the values chosen for one attribute are one filter: attribute=a|b
      if (!el.checked) continue;
      const [k, v] = [el.value.split("=")[0], el.value.split("=").slice(1).join("=")];
      (crm[k] = crm[k] || []).push(v);
    } else if (el.dataset.multi) { if (el.checked) next.append(el.name, escapeValue(el.value)); }
    else if (el.type === "checkbox") { if (el.checked !== f.default) next.set(el.name, String(el.checked)); }
    else if (el.name in ASKS) { if (el.value !== ASKS[el.name]) next.set(el.name, el.value); }
    else if (el.type === "date" && !params.get(el.name) && el.value === applied[el.name]) continue;
    else if (el.value && String(el.value) !== String(f.default)) next.set(el.name, el.value);
  }
  for (const [k, vs] of Object.entries(crm)) next.append("crm", escapeValue(`${k}=${vs.join("|")}`));
  if (next.get("level") === (params.get("level") || "channel")) for (const p of params.getAll("parent")) next.append("parent", p);
  go(next);
  if (narrow.matches) toResults();
});

// On a phone the results are a screenful below the filters: Apply folds them and brings the
// report (loading, then answered) into view.
function toResults() {
  document.getElementById("filter-box").open = false;
  document.querySelector("main").scrollIntoView({block: "start"});
}

for (const b of document.querySelectorAll("[data-format]")) b.addEventListener("click", async () => {
  b.disabled = true;  // written on the server: a large one takes a moment
  try {
    const blob = await (await api(`/api/v1/reports/${REPORT}`, apiParams({format: b.dataset.format}))).blob();  // for people, in the page's language
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${REPORT}.${b.dataset.format}`;
    document.body.append(a); a.click(); a.remove();
  } catch (error) {
    document.querySelector("#warnings .export")?.remove();  // the latest failure, once
    warn(`${t("export_failed")} ${error.message}`, "error export");
  } finally {
    b.disabled = false;
  }
});

function warn(text, className = "") {  // one more line among the page's warnings
  document.getElementById("warnings").append(Object.assign(document.createElement("li"), {textContent: text, className}));
}

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

function follow(link, row) {  // the page a row's link asks: fields from the row's cells, and fixed ones
  const next = new URLSearchParams(params);
  for (const [field, column] of Object.entries(link.set || {})) next.set(field, row[column]);
  for (const [field, value] of Object.entries(link.and || {})) next.set(field, value);
  go(next);
}

// A report's headline figures as tiles (label above a large number), in simple mode.
function headline(result) {
  const box = document.getElementById("headline");
  box.hidden = mode() === "expert" || !(result.headline || []).length;
  box.replaceChildren(...(result.headline || []).map((k) => {
    const tile = Object.assign(document.createElement("div"), {className: "tile"});
    tile.append(Object.assign(document.createElement("dt"), {textContent: columnLabel(k, true)}),
                Object.assign(document.createElement("dd"), {textContent: cell(result.totals[k], k) || "–"}));
    const [low, high] = [result.totals[`${k}_low`], result.totals[`${k}_high`]];
    if (typeof low === "number" && typeof high === "number") {  // an estimate says how sure it is
      tile.append(Object.assign(document.createElement("small"),
                                {className: "interval", textContent: `${t("interval")} ${cell(low, k)} – ${cell(high, k)}`}));
    }
    return tile;
  }));
}

// The drill-down's way back: All > Paid search > google (shown once a row was drilled into).
function crumbs() {
  const nav = document.getElementById("crumbs");
  const parents = params.getAll("parent");
  if (!report().drill || !parents.length) { nav.replaceChildren(); return; }
  const items = [["", t("everything")], ...parents.map((p, i) => {
    const [level, ...value] = splitList(p)[0].split("=");
    return [i + 1, nameAt(level, value.join("="))];
  })];
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

let shown = {columns: {}, names: {}, currency: "EUR"};  // the last answer's labels, units and names

// A value by its name (a channel, a device, a stage), each step of a path by theirs, and a
// flow's numbered step ("2. paid_search") by its.
function named(v) {
  const names = shown.names || {};
  if (typeof v !== "string") return v;
  if (v in names) return names[v];
  for (const sep of [" > ", " → "]) if (v.includes(sep)) return v.split(sep).map((p) => names[p] ?? p).join(sep);
  const step = v.match(/^(\d+)\. (.+)$/);
  if (step && step[2] in names) return `${step[1]}. ${names[step[2]]}`;
  return v;
}

// A value of a level by its name, before any answer names it (/api/v1/meta): channel names
// only for channels, since a source may be called "email" (as the server's Words.names).
function nameAt(level, value) {
  if (level !== "channel" && value in (meta.channels || {})) return value;
  return said(meta.names[value]) || value;
}

const columnLabel = (col, short = false) => (shown.columns[col] || {})[short ? "short" : "label"] || col.replaceAll("_", " ");

// A cell as the page shows it, by its column's unit (/api/v1/reports answers `columns`).
function cell(v, col) {
  if (v == null || (typeof v === "number" && Number.isNaN(v))) return "";
  const unit = (shown.columns[col] || {}).unit || "text";
  const n = (options) => new Intl.NumberFormat(lang(), options).format(v);
  if (typeof v === "boolean") return t(v ? "yes" : "no");
  if (unit === "date") return date(v);
  if (typeof v !== "number") return (shown.verbatim || []).includes(col) ? String(v) : String(named(v));
  if (unit === "money") return n({style: "currency", currency: shown.currency || "EUR"});
  if (unit === "share") return n({style: "percent", maximumFractionDigits: 1});
  // a probability that may be small: two significant digits, so 0.031% and 0.052% stay apart
  if (unit === "rate") return n({style: "percent", minimumSignificantDigits: 2, maximumSignificantDigits: 2});
  if (unit === "points") {  // a difference of two rates, in percentage points
    return new Intl.NumberFormat(lang(), {maximumSignificantDigits: 2}).format(v * 100) + " pt";
  }
  if (unit === "pct") return n({maximumFractionDigits: 1, signDisplay: "exceptZero"}) + " %";
  if (unit === "count") return n({maximumFractionDigits: Number.isInteger(v) ? 0 : 1});
  if (unit === "ratio") return n({maximumFractionDigits: 2});
  return n({maximumFractionDigits: 1});
}

function table(rows, name) {
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";  // scrolls both ways, its header and first column stay
  const el = document.createElement("table");
  wrap.append(el);
  el.className = "report";
  el.dataset.table = name;
  if (!rows.length) return wrap;
  const cols = Object.keys(rows[0]);
  const head = el.createTHead().insertRow();
  const body = el.createTBody();
  let sorted = {col: null, asc: true};
  const draw = () => {
    body.replaceChildren(...rows.map((r) => {
      const tr = document.createElement("tr");
      for (const c of cols) {
        const td = tr.insertCell(); td.textContent = cell(r[c], c);
        if (typeof r[c] === "number") td.className = "num";
        else if ((shown.verbatim || []).includes(c)) td.className = "name";  // a name is not cut at its hyphens
      }
      if (r.low_volume) tr.classList.add("low");
      if (name === "table" && "row" in r && drillable(r.row)) {
        tr.classList.add("drill"); tr.title = t("drill"); tr.addEventListener("click", () => drill(r.row));
      } else if (name === "table" && shown.link) {  // a row opens what the report says (a step: its recipients)
        tr.classList.add("drill"); tr.title = t("open");
        tr.addEventListener("click", () => follow(shown.link, r));
      }
      return tr;
    }));
  };
  for (const c of cols) {
    const th = document.createElement("th");
    th.textContent = columnLabel(c);
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
  return wrap;
}

// Whether a colour is light enough to need dark text (WCAG relative luminance).
function light(rgb) {
  const [r, g, b] = (rgb.match(/\d+/g) || [0, 0, 0]).map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.4;
}

const escaped = (v) => String(v).replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

// Top paths, simple mode: the ranked paths (as GA4's conversion paths), each a row of
// coloured channel chips with its conversions, share and revenue.
function paths(result) {
  const list = document.getElementById("paths");
  const colours = result.colours || {};
  list.replaceChildren(...result.table.map((r) => {
    const li = document.createElement("li");
    const chips = document.createElement("span");
    chips.className = "chips";
    for (const step of String(r.path).split(" > ")) {
      const chip = Object.assign(document.createElement("span"), {className: "chip", textContent: named(step)});
      chip.style.background = colours[step] || "#cbd2d9";
      if (light(chip.style.background)) chip.classList.add("light");
      chips.append(chip);
    }
    const figures = Object.assign(document.createElement("span"), {className: "figures"});
    figures.append(Object.assign(document.createElement("b"), {textContent: cell(r.conversions, "conversions")}),
                   ` ${columnLabel("conversions").toLocaleLowerCase(lang())} · ${cell(r.share, "share")} ${t("of")} · ${cell(r.revenue, "revenue")}`);
    const bar = Object.assign(document.createElement("span"), {className: "share"});
    bar.style.width = `${Math.round((r.share || 0) * 100)}%`;
    li.append(chips, figures, bar);
    return li;
  }));
}

// The report's figure as this screen draws it. On a phone: a legend at the right goes above the
// plot (one the figure put under its chart stays there), the margins shrink, subplot titles get
// smaller, and so do the flow's labels, without the step number their column already says.
function fitted(figure) {
  const layout = {...figure.layout, margin: {t: 30}};
  if (!narrow.matches) return [figure.data, layout];
  const titled = (layout.annotations || []).some((a) => a.yref === "paper" && a.y >= 1);  // a subplot title over the top
  const legend = layout.legend || {};
  if (legend.orientation !== "h" || (legend.y ?? 1) >= 1) {  // above the plot, and above its title
    const top = titled ? 1 + 28 / ((layout.height || 450) - 110) : 1.02;
    layout.legend = {...legend, orientation: "h", x: 0, xanchor: "left", y: top, yanchor: "bottom"};
    if (legend.title) layout.legend.title = {...legend.title, side: "top"};  // the entries get the whole width
    const entries = figure.data.filter((trace) => trace.showlegend !== false && trace.name).length;
    if (!layout.height && entries > 3) layout.height = Math.min(720, 420 + 20 * entries);  // the plot keeps its height
  }
  const flow = figure.data.some((trace) => trace.type === "sankey");
  layout.margin = {t: titled ? 30 : 10, l: flow ? 4 : 40, r: flow ? 4 : 10};
  layout.annotations = (layout.annotations || []).map((a) => (a.xref === "paper" ? {...a, font: {...(a.font || {}), size: 13}} : a));
  const data = figure.data.map((trace) => (trace.type === "sankey" ? narrowFlow(trace) : trace));
  return tall(data, layout) ? sideways(data, layout) : [data, layout];
}

// More bars than a phone's width can label (a month of daily time-lag buckets) are drawn
// sideways: one row each, every label read, in the order the columns had from the top down.
const TALL = 16;
function tall(data, layout) {
  const bars = data.filter((trace) => trace.type === "bar" && trace.orientation !== "h");
  return (layout.xaxis || {}).type === "category" && bars.length > 0 && !layout.grid
    && data.every((trace) => ["bar", "scatter"].includes(trace.type) && !trace.xaxis)
    && Math.max(...bars.map((trace) => (trace.x || []).length)) > TALL;
}

function sideways(data, layout) {
  const swap = (text) => (typeof text === "string" ? text.replace(/%\{([xy])/g, (_, a) => `%{${a === "x" ? "y" : "x"}`) : text);
  const turned = data.map((trace) => ({
    ...trace, x: trace.y, y: trace.x, hovertemplate: swap(trace.hovertemplate), texttemplate: swap(trace.texttemplate),
    ...(trace.type === "bar" ? {orientation: "h"} : {}),
    ...(trace.yaxis === "y2" ? {xaxis: "x2", yaxis: "y"} : {}),
  }));
  const rows = Math.max(...data.map((trace) => (trace.x || []).length));
  const {xaxis, yaxis, yaxis2, ...rest} = layout;
  const height = Math.max(layout.height || 0, 160 + 22 * rows);
  const turnedLayout = {
    ...rest, height, yaxis: {...xaxis, tickangle: 0, autorange: "reversed"}, xaxis: {...yaxis},
    margin: {...layout.margin, l: 10, t: yaxis2 ? 70 : layout.margin.t},
  };
  if (yaxis2) {  // its ticks along the top, under the legend, which names it
    turnedLayout.xaxis2 = {...yaxis2, title: undefined, overlaying: "x", side: "top"};
    turnedLayout.legend = {...layout.legend, y: 1 + 28 / (height - 130), yanchor: "bottom"};
  }
  return [turned, turnedLayout];
}

function narrowFlow(trace) {
  const label = (trace.node.label || []).map((l) => String(l).replace(/^\d+\. /, ""));
  return {...trace, textfont: {...(trace.textfont || {}), size: 10}, node: {...trace.node, label, thickness: 10, pad: 8}};
}

// While a request runs the previous answer stays, dimmed, under "Loading…".
function busy(on) {
  const main = document.querySelector("main");
  main.classList.toggle("loading", on);
  main.setAttribute("aria-busy", String(on));
  if (on) document.getElementById("warnings").replaceChildren(
    Object.assign(document.createElement("li"), {textContent: t("loading"), className: "info"}));
}

// Nothing to draw (an empty answer, a refused request): its message alone, where the report
// was; none of the previous answer's figures stays.
function nothing(text, refused = false) {
  document.getElementById("totals").textContent = "";
  document.getElementById("headline").hidden = true;
  document.getElementById("paths").hidden = true;
  const chart = document.getElementById("chart");
  chart.hidden = true;
  if (window.Plotly && chart.data) Plotly.purge(chart);
  const tables = document.getElementById("tables");
  tables.hidden = true;
  tables.replaceChildren();
  const empty = document.getElementById("empty");
  empty.textContent = text;
  empty.classList.toggle("error", refused);
  empty.hidden = false;
}

let asking = 0;  // the latest load: an older answer arriving late is dropped

async function load() {
  const mine = ++asking;
  translate();
  crumbs();
  document.getElementById("title").textContent = title(REPORT);
  document.getElementById("question").textContent = said(report().questions) || "";
  const warnings = document.getElementById("warnings");
  busy(true);
  const answer = prefetched || json(`/api/v1/reports/${REPORT}`, apiParams());
  prefetched = null;  // the start-up request answers the first load only
  let result;
  try {
    result = await answer;
  } catch (error) {
    if (mine !== asking) return;
    warnings.replaceChildren();
    nothing(error.message, true);
    busy(false);
    return;
  }
  if (mine !== asking) return;
  shown = result;
  warnings.replaceChildren(...result.warnings.filter((w) => w !== result.empty_text)  // said once, in its place
    .map((w) => Object.assign(document.createElement("li"), {textContent: w})));
  applied = result.query;  // the period and, say, the models drawn by default: the form shows them
  fillForm();
  if (result.empty ?? result.totals.conversions === 0) nothing(result.empty_text || t("empty"));  // not blank axes nor zeros
  else await draw(result);
  if (mine === asking) busy(false);  // drawn: aria-busy says so
}

async function draw(result) {  // an answer: its period and totals, then its chart or its tables
  const q = result.query;
  document.getElementById("empty").hidden = true;
  const up = result.headline && result.headline.length ? 0 : 4;  // headline tiles say the figures themselves
  const period = q.start ? `${date(q.start)} → ${date(q.end)}` : q.cut ? `${t("as_of")} ${date(q.cut)}` : "";
  document.getElementById("totals").textContent = period + Object.entries(result.totals)
    .filter(([, v]) => typeof v === "number").slice(0, up).map(([k, v]) => ` · ${columnLabel(k, true)} ${cell(v, k)}`).join("");
  const chart = document.getElementById("chart");
  const tables = document.getElementById("tables");
  const list = document.getElementById("paths");
  headline(result);
  chart.hidden = mode() === "expert";
  tables.hidden = mode() !== "expert";
  list.hidden = chart.hidden || report().chart !== "paths";
  if (mode() === "expert") {
    tables.replaceChildren(table(result.table, "table"), ...Object.entries(result.tables).flatMap(([name, rows]) =>
      [Object.assign(document.createElement("h3"), {textContent: (result.titles || {})[name] || name}), table(rows, name)]));
    return;
  }
  if (!list.hidden) paths(result);
  await plot(chart, ...fitted(result.figure), REPORT);
  clicks(chart, result);
}

function clicks(chart, result) {  // what a click on the chart asks next
  chart.removeAllListeners && chart.removeAllListeners("plotly_click");
  // a bar drills down only when it stands for a row (a time-lag bucket or a funnel stage does not);
  // the chart draws rows by their names, HTML-escaped by the server
  const rows = new Map(result.table.map((r) => [escaped(named(r.row)), r.row]));
  const keys = new Map(Object.entries(result.names || {}).map(([k, v]) => [escaped(v), k]));
  const key = (v) => keys.get(String(v)) ?? String(v);
  chart.title = report().chart === "heatmap" ? t("cell") : "";
  chart.on("plotly_click", (e) => {
    const point = e.points[0];
    if (report().chart === "heatmap") {  // a cell: the journeys of that device pair
      const next = new URLSearchParams(params);
      next.delete("first_device"); next.delete("converting_device");
      if (key(point.y) !== "(no touch)") next.set("first_device", key(point.y));
      next.set("converting_device", key(point.x));
      go(next);
      return;
    }
    const row = rows.get(String(point.x));
    if (row !== undefined && drillable(row)) drill(row);
  });
}

(async () => {
  if (narrow.matches) document.getElementById("filter-box").open = false;
  translate();
  // Every request at once: the page waits for the slowest, not for their sum.
  prefetched = json(`/api/v1/reports/${REPORT}`, apiParams());
  prefetched.catch(() => {});  // its error is shown by load()
  try {
    const [reports, declared, facts, listed] = await Promise.all(
      [json("/api/v1/reports"), json("/api/v1/fields"), json("/api/v1/meta"), json("/api/v1/models")]);
    catalogue = Object.fromEntries(reports.map((r) => [r.name, r]));
    fields = declared;
    meta = facts;
    models = listed;
    buildFilters();
  } catch (error) { /* shown by load() */ }
  await load();
})();
