// parcours web pages: what every page shares. The state is the URL; data comes from the JSON
// API of the same server. Each page's script (app.js: the reports; audiences.js) adds its words
// to I18N and defines load(), which draws the page from the URL's state.
"use strict";

// The pages' own words; report titles and questions, filter labels and help, model names and
// audience condition labels come from the API, declared once in Python.
const I18N = {
  en: {simple: "Simple", expert: "Expert", token: "API token", everything: "All", loading: "Loading…",
       yes: "yes", no: "no", search: "Search", audiences: "Audiences", export_failed: "Export failed:",
       interval: "95% interval:",
       server_failed: "The server could not answer ({status}). Try again, or tell whoever runs parcours.",
       unreachable: "The server cannot be reached: is parcours serve still running?"},
  fr: {simple: "Mode simple", expert: "Mode expert", token: "Jeton d'API", everything: "Tous",
       loading: "Chargement…", yes: "oui", no: "non", search: "Rechercher", audiences: "Audiences",
       export_failed: "L'export a échoué :", interval: "intervalle à 95 % :",
       server_failed: "Le serveur n'a pas pu répondre ({status}). Réessayez, ou prévenez qui administre parcours.",
       unreachable: "Le serveur est injoignable : parcours serve tourne-t-il toujours ?"},
};

const REPORTS = document.body.dataset.reports.split(",");
let params = new URLSearchParams(location.search);
let catalogue = {};  // report name -> what /api/v1/reports says of it

// `parcours serve` prints a link with this machine's token (?token=...): kept for the API
// calls that change things, and taken out of the address bar (and so of the history).
if (params.has("token")) {
  localStorage.setItem("parcours-token", params.get("token"));
  params.delete("token");
  history.replaceState({}, "", params.size ? `${location.pathname}?${params}` : location.pathname);
}

const lang = () => params.get("lang") || ((navigator.language || "en").startsWith("fr") ? "fr" : "en");
const mode = () => params.get("mode") || "simple";
const t = (key) => (I18N[lang()] || I18N.en)[key] || I18N.en[key] || key;
const said = (texts) => (texts || {})[lang()] || (texts || {}).en;  // an {en, fr} pair in the page's language
const title = (name) => said((catalogue[name] || {}).titles) || name;

// A call of the API with the page's token if it has one, in the page's language (`lang`: the
// server says its refusals in it); a refusal shows the token box and throws the server's
// one-line error.
async function api(path, query, init = {}) {
  const headers = {...(init.headers || {})};
  const token = localStorage.getItem("parcours-token");
  if (token) headers.Authorization = `Bearer ${token}`;
  const asked = new URLSearchParams(query || "");
  if (!asked.has("lang")) asked.set("lang", lang());
  const res = await fetch(`${path}?${asked}`, {...init, headers}).catch(() => { throw new Error(t("unreachable")); });
  if (res.status === 401 || res.status === 403) document.getElementById("token").hidden = false;
  if (!res.ok) throw new Error(await refusal(res));
  return res;
}

async function refusal(res) {  // the server's one line; a failure with no words of its own is said here
  try {
    const line = (await res.json()).error;
    if (line) return line;
  } catch (e) { /* not JSON: a proxy's page, a crash */ }
  return t("server_failed").replace("{status}", res.status);
}

const json = (path, query) => api(path, query).then((res) => res.json());
const send = (method, path, body) => api(path, null, {
  method, headers: {"Content-Type": "application/json"}, body: body === undefined ? undefined : JSON.stringify(body),
}).then((res) => res.json());

function go(next) {  // a new page state: into the URL (shareable, reloadable), then redraw
  params = next;
  history.pushState({}, "", `${location.pathname}?${params}`);
  load();
}

window.addEventListener("popstate", () => { params = new URLSearchParams(location.search); load(); });

function keep(...keys) {
  const p = new URLSearchParams();
  for (const k of keys) if (params.get(k)) p.set(k, params.get(k));
  return p;
}

// The menu: every report, then the audiences; the current page marked. The page's words and
// its language and mode buttons follow the URL.
function translatePage(current) {
  document.documentElement.lang = lang();
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  const nav = document.getElementById("nav");
  const link = (href, text, on) => Object.assign(document.createElement("a"),
                                                 {href: `${href}?${keep("lang")}`, textContent: text, className: on ? "current" : ""});
  nav.replaceChildren(...REPORTS.map((name) => link(`/reports/${name}`, title(name), name === current)),
                      link("/audiences", t("audiences"), current === "audiences"));
  nav.querySelector(".current")?.scrollIntoView({block: "nearest", inline: "center"});  // a phone's one-row menu
  for (const b of document.querySelectorAll("[data-lang]")) b.classList.toggle("on", b.dataset.lang === lang());
  for (const b of document.querySelectorAll("[data-mode]")) b.classList.toggle("on", b.dataset.mode === mode());
}

for (const b of document.querySelectorAll("[data-lang]")) b.addEventListener("click", () => {
  const next = new URLSearchParams(params); next.set("lang", b.dataset.lang); go(next);
});
for (const b of document.querySelectorAll("[data-mode]")) b.addEventListener("click", () => {
  const next = new URLSearchParams(params); next.set("mode", b.dataset.mode); go(next);
});
document.getElementById("token-save").addEventListener("click", (event) => {
  event.preventDefault();
  localStorage.setItem("parcours-token", document.querySelector("#token input").value);
  location.reload();
});

const date = (iso) => new Intl.DateTimeFormat(lang(), {dateStyle: "medium", timeZone: "UTC"}).format(new Date(iso));
const count = (n) => new Intl.NumberFormat(lang(), {maximumFractionDigits: 0}).format(n);
const percent = (x) => new Intl.NumberFormat(lang(), {style: "percent", maximumFractionDigits: 1}).format(x);

// Plotly comes in a deferred script after the pages' own: every deferred script has run by then.
const plotlyReady = new Promise((resolve) => document.addEventListener("DOMContentLoaded", resolve));
const narrow = window.matchMedia("(max-width: 900px)");  // a phone, or a narrow window

// Plotly's French: month and day names, decimal comma and a space between thousands.
const PLOTLY_FR = {moduleType: "locale", name: "fr", dictionary: {
  "Download plot as a png": "Télécharger le graphique (PNG)", "Download plot": "Télécharger le graphique",
  "Taking snapshot - this may take a few seconds": "Capture en cours…", "Snapshot succeeded": "Capture réussie",
  "Sorry, there was a problem downloading your snapshot!": "La capture n'a pas pu être téléchargée.",
  "Double-click to zoom back out": "Double-cliquez pour revenir à la vue entière"}, format: {
  days: ["dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"],
  shortDays: ["dim.", "lun.", "mar.", "mer.", "jeu.", "ven.", "sam."],
  months: ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"],
  shortMonths: ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."],
  date: "%d/%m/%Y", decimal: ",", thousands: "\u202f"}};
let registered = false;  // Plotly knows PLOTLY_FR

// A chart in the page's language, fitted to its width. Plotly's toolbar keeps only "download
// as PNG", shown on hover above the plot (never over a legend), and none on a phone, where a
// tap would show it over the legend.
async function plot(el, data, layout, name = "parcours") {
  await plotlyReady;
  if (!registered) { Plotly.register(PLOTLY_FR); registered = true; }
  const separators = lang() === "fr" ? ", " : ".,";  // decimal comma, a space between thousands
  const margin = {...(layout.margin || {})};
  if (!narrow.matches) margin.t = Math.max(margin.t ?? 0, 32);  // the toolbar's row
  await Plotly.react(el, data, {autosize: true, separators, ...layout, margin}, {
    responsive: true, displaylogo: false, locale: lang(), displayModeBar: narrow.matches ? false : "hover",
    modeBarButtons: [["toImage"]], toImageButtonOptions: {filename: name}});
  return everyCategory(el);
}

// Plotly skips category labels that do not fit (a time lag's buckets, on a phone): every
// label is drawn, turned and smaller on a narrow screen. An axis's type is known once drawn.
function everyCategory(el) {
  const update = {};
  for (const [name, axis] of Object.entries(el._fullLayout || {})) {
    if (!/^[xy]axis\d*$/.test(name) || axis.type !== "category") continue;
    if (!(axis._categories || []).length || axis._categories.length > 40) continue;
    Object.assign(update, {[`${name}.tickmode`]: "linear", [`${name}.tick0`]: 0, [`${name}.dtick`]: 1,
                           [`${name}.automargin`]: true});
    if (narrow.matches) update[`${name}.tickfont.size`] = 10;
    if (narrow.matches && name.startsWith("x")) Object.assign(update, {[`${name}.tickangle`]: "auto",
                                                                       [`${name}.autotickangles`]: [0, -90]});
  }
  return Object.keys(update).length ? Plotly.relayout(el, update) : el;
}
