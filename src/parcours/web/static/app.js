// parcours web pages: the state is the URL; data comes from the JSON API of the same server.
"use strict";

const I18N = {
  en: {filters: "Filters", start: "From", end: "To", level: "Level", models: "Models", customers: "Customers",
       all: "All", new: "New", returning: "Returning", kinds: "Conversion kinds", origins: "Origin",
       devices: "Devices used", mono_device: "Single device only", with_channels: "With channels",
       without_channels: "Without channels", categories: "Categories", audiences: "Audiences",
       min_revenue: "Minimum revenue", top: "Top N", apply: "Apply", simple: "Simple", expert: "Expert",
       token: "API token", everything: "All", summary: "Real-time summary", loading: "Loading…",
       channel: "Channel", source: "Source", campaign: "Campaign", media_plan: "Media plan",
       sub_channel: "Virtual sub-channel", channel_group: "Channel group", device: "Device",
       drill: "Click a row or a bar to drill down"},
  fr: {filters: "Filtres", start: "Du", end: "Au", level: "Niveau", models: "Modèles", customers: "Clients",
       all: "Tous", new: "Nouveaux", returning: "Anciens", kinds: "Types de conversion", origins: "Origine",
       devices: "Appareils utilisés", mono_device: "Un seul appareil", with_channels: "Avec les leviers",
       without_channels: "Sans les leviers", categories: "Catégories", audiences: "Audiences",
       min_revenue: "Chiffre d'affaires minimum", top: "Top N", apply: "Appliquer", simple: "Mode simple",
       expert: "Mode expert", token: "Jeton d'API", everything: "Tous", summary: "Synthèse globale",
       loading: "Chargement…", channel: "Levier", source: "Support", campaign: "Campagne",
       media_plan: "Plan média", sub_channel: "Sous-levier virtuel", channel_group: "Regroupement de leviers",
       device: "Appareil", drill: "Cliquez une ligne ou une barre pour descendre d'un niveau"},
};
const TITLES = {
  fr: {"model-comparison": "Comparaison des modèles", "assists": "Contributeurs et finaux",
       "cross-device": "Parcours multi-appareils", "top-paths": "Séquences de leviers", "time-lag": "Délai de conversion",
       "engagement": "Engagement", "mono-device": "Conversions mono-appareil", "mono-channel": "Conversions mono-levier",
       "path-length": "Longueur des parcours", "velocity": "Vitesse dans le tunnel", "summary": "Synthèse globale"},
};
const QUESTIONS = {
  fr: {"model-comparison": "Comment chaque modèle d'attribution déplace-t-il le crédit entre leviers ?",
       "assists": "Quels leviers assistent les conversions, et lesquels les concluent ?",
       "cross-device": "Combien d'appareils les parcours convertis utilisent-ils, et dans quel ordre ?",
       "top-paths": "Quelles séquences de leviers précèdent la conversion ?",
       "time-lag": "Combien de temps entre le premier contact et la conversion ?",
       "engagement": "Quel est l'engagement des internautes, et quelle part en apporte chaque levier ?",
       "mono-device": "Combien de conversions viennent de parcours sur un seul type d'appareil ?",
       "mono-channel": "Combien de conversions viennent d'un seul levier ?",
       "path-length": "Combien de contacts avant la conversion ?",
       "velocity": "À quelle vitesse les parcours traversent-ils les étapes du tunnel ?",
       "summary": "Conversions au dernier contact par jour et par levier, aujourd'hui compris."},
};
const MODELS = ["last_touch", "first_touch", "last_non_direct", "linear", "position_based", "time_decay",
                "markov", "shapley", "ordered_shapley"];
const DRILL = {channel: "source", source: "campaign"};
const LOCAL = ["mode", "lang"];  // page state the API does not take

const REPORT = document.body.dataset.report;
const REPORTS = document.body.dataset.reports.split(",");
let params = new URLSearchParams(location.search);
let catalogue = {};

const lang = () => params.get("lang") || ((navigator.language || "en").startsWith("fr") ? "fr" : "en");
const mode = () => params.get("mode") || "simple";
const t = (key) => (I18N[lang()] || I18N.en)[key] || I18N.en[key] || key;
const title = (name) => (TITLES[lang()] || {})[name] || (catalogue[name] || {}).title || name;

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
  for (const el of document.querySelectorAll(".for-reports")) el.hidden = REPORT === "summary";
  for (const el of document.querySelectorAll(".for-model-comparison")) el.hidden = REPORT !== "model-comparison";
}

function keep(...keys) {
  const p = new URLSearchParams();
  for (const k of keys) if (params.get(k)) p.set(k, params.get(k));
  return p;
}

function options(select, values, labels = {}) {
  select.replaceChildren(...values.map((v) => new Option(labels[v] || v, v)));
}

async function fillFilters() {
  const form = document.getElementById("filters");
  const meta = await (await api("/api/v1/meta")).json();
  options(form.level, meta.levels, Object.fromEntries(meta.levels.map((l) => [l, t(l)])));
  options(form.models, MODELS);
  options(form.kinds, meta.kinds);
  options(form.origins, meta.origins);
  options(form.devices, meta.devices);
  options(form.with_channels, Object.keys(meta.channels));
  options(form.without_channels, Object.keys(meta.channels));
  options(form.categories, meta.categories);
  options(form.audiences, meta.audiences);
  for (const el of form.elements) {
    if (!el.name) continue;
    const values = params.getAll(el.name).flatMap((v) => v.split(","));
    if (el.multiple) for (const o of el.options) o.selected = values.includes(o.value);
    else if (el.type === "checkbox") el.checked = values.includes("true");
    else if (values.length) el.value = values[0];
  }
}

document.getElementById("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  const next = keep("mode", "lang");
  for (const el of form.elements) {
    if (!el.name || el.closest("[hidden]")) continue;
    if (el.multiple) for (const o of el.selectedOptions) next.append(el.name, o.value);
    else if (el.type === "checkbox") { if (el.checked) next.set(el.name, "true"); }
    else if (el.value) next.set(el.name, el.value);
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
  return REPORT !== "summary" && DRILL[level] && value != null && !String(value).startsWith("(");
}

function drill(value) {
  const level = params.get("level") || "channel";
  const next = new URLSearchParams(params);
  next.append("parent", `${level}=${value}`);
  next.set("level", DRILL[level]);
  go(next);
}

function crumbs() {
  const nav = document.getElementById("crumbs");
  const parents = params.getAll("parent");
  if (REPORT === "summary") { nav.replaceChildren(); return; }
  const items = [["", t("everything")], ...parents.map((p, i) => [i + 1, p.split("=").slice(1).join("=")])];
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
  document.getElementById("question").textContent =
    (QUESTIONS[lang()] || {})[REPORT] || (catalogue[REPORT] || {}).question || "";
  const warnings = document.getElementById("warnings");
  warnings.replaceChildren(Object.assign(document.createElement("li"), {textContent: t("loading"), className: "info"}));
  let result;
  try {
    result = await (await api(`/api/v1/reports/${REPORT}`, apiParams())).json();
  } catch (error) {
    warnings.replaceChildren(Object.assign(document.createElement("li"), {textContent: error.message}));
    return;
  }
  warnings.replaceChildren(...result.warnings.map((w) => Object.assign(document.createElement("li"), {textContent: w})));
  const q = result.query;
  document.getElementById("totals").textContent = `${q.start} → ${q.end}` + Object.entries(result.totals)
    .filter(([, v]) => typeof v === "number").slice(0, 4).map(([k, v]) => ` · ${k.replaceAll("_", " ")} ${number(v, k)}`).join("");
  const chart = document.getElementById("chart");
  const tables = document.getElementById("tables");
  chart.hidden = mode() === "expert";
  tables.hidden = mode() !== "expert";
  if (mode() !== "expert") {
    await Plotly.react(chart, result.figure.data, {...result.figure.layout, autosize: true, margin: {t: 30}},
                       {responsive: true, displaylogo: false});
    chart.removeAllListeners && chart.removeAllListeners("plotly_click");
    chart.on("plotly_click", (e) => { const x = e.points[0].x; if (drillable(x)) drill(x); });
  } else {
    tables.replaceChildren(table(result.table, "table"), ...Object.entries(result.tables).flatMap(([name, rows]) =>
      [Object.assign(document.createElement("h3"), {textContent: name.replaceAll("_", " ")}), table(rows, name)]));
  }
}

(async () => {
  translate();
  try {
    catalogue = Object.fromEntries((await (await api("/api/v1/reports")).json()).map((r) => [r.name, r]));
    await fillFilters();
  } catch (error) { /* shown by load() */ }
  await load();
})();
