// The audience page (common.js comes first): a condition builder that shows the size as you
// edit (POST /api/v1/audiences/preview), save (a write token), the saved audiences with their
// sizes and exports, each audience's size build after build, and their overlaps.
"use strict";

Object.assign(I18N.en, {
  question: "Who do your journeys describe, and how many are they? Build a condition, see its size, save it and hand its members to the tools that send and advertise.",
  new: "New audience", edit: "Edit audience", who: "Persons who meet", these: "of these conditions:", all: "all", any: "any",
  add: "+ Add a condition", remove: "Remove", not: "not", json: "As JSON (for the API)", and: "and", or: "or",
  nested: "This condition nests groups the builder does not draw: edit it as JSON below.",
  name: "Name (a-z, 0-9, - and _)", description: "What it is for", save: "Save", clear: "New",
  saved_audiences: "Saved audiences", history: "Size at each build", overlap: "Overlap",
  overlap_note: "Each row: the share of its audience also in the column's audience, as of the last build.",
  none: "No audience yet: build a condition above and save it.",
  persons: "persons", of_profiled: "of the {n} persons profiled", pick: "Add a condition to see how many persons meet it.",
  profiled: "Persons profiled", as_of: "as of {d}", customers: "CRM customers", linked: "Linked online",
  match: "match rate", no_crm: "No CRM loaded yet", count_audiences: "Audiences",
  token_help: "Saving needs a token with the write scope: parcours serve prints a link that carries this machine's.",
  saved: "Saved {name}: {n} persons. Its size history starts at the next build.", deleted: "Deleted {name}.",
  confirm: "Delete the audience {name}?", config: "the workspace's configuration (read-only here)", workspace: "this page",
  one_build: "One build so far: each audience is a point; the next builds draw its line.",
  not_refreshed: "Audiences saved since the last build are in no chart until the next build.",
  size: "Persons", share: "Share of profiled", previous: "Previous build", change: "Change", defined: "Defined in",
  audience: "Audience", condition: "Condition", export: "Export", other: "Other audience", shared: "Persons in both",
  built: "Build of", refreshing: "Counting…", yes_value: "yes", no_value: "no", any_time: "any time",
});
Object.assign(I18N.fr, {
  question: "Qui vos parcours décrivent-ils, et combien sont-ils ? Composez une condition, voyez sa taille, enregistrez-la et confiez ses membres aux outils qui envoient et font de la publicité.",
  new: "Nouvelle audience", edit: "Modifier l'audience", who: "Les personnes qui remplissent", these: "de ces conditions :",
  all: "toutes", any: "au moins une", add: "+ Ajouter une condition", remove: "Retirer", not: "non",
  json: "En JSON (pour l'API)", and: "et", or: "ou",
  nested: "Cette condition imbrique des groupes que l'éditeur ne dessine pas : modifiez-la en JSON ci-dessous.",
  name: "Nom (a-z, 0-9, - et _)", description: "À quoi elle sert", save: "Enregistrer", clear: "Nouvelle",
  saved_audiences: "Audiences enregistrées", history: "Taille à chaque construction", overlap: "Recouvrement",
  overlap_note: "Chaque ligne : la part de son audience qui est aussi dans l'audience de la colonne, à la dernière construction.",
  none: "Aucune audience : composez une condition ci-dessus et enregistrez-la.",
  persons: "personnes", of_profiled: "sur les {n} personnes profilées", pick: "Ajoutez une condition pour voir combien de personnes la remplissent.",
  profiled: "Personnes profilées", as_of: "au {d}", customers: "Clients CRM", linked: "Reliés en ligne",
  match: "taux de rapprochement", no_crm: "Aucun CRM chargé pour l'instant", count_audiences: "Audiences",
  token_help: "Enregistrer demande un jeton d'écriture : parcours serve affiche un lien qui porte celui de cette machine.",
  saved: "{name} enregistrée : {n} personnes. Son historique de taille commence à la prochaine construction.",
  deleted: "{name} supprimée.", confirm: "Supprimer l'audience {name} ?",
  config: "la configuration de l'espace de travail (lecture seule ici)", workspace: "cette page",
  one_build: "Une seule construction pour l'instant : chaque audience est un point ; les suivantes tracent sa courbe.",
  not_refreshed: "Les audiences enregistrées depuis la dernière construction apparaîtront après la prochaine.",
  size: "Personnes", share: "Part des profilés", previous: "Construction précédente", change: "Évolution",
  defined: "Définie dans", audience: "Audience", condition: "Condition", export: "Exporter", other: "Autre audience",
  shared: "Personnes dans les deux", built: "Construction du", refreshing: "Calcul…", yes_value: "oui", no_value: "non",
  any_time: "à tout moment",
});
const fill = (key, values) => Object.entries(values).reduce((s, [k, v]) => s.replaceAll(`{${k}}`, v), t(key));
const moment = (iso) => new Intl.DateTimeFormat(lang(), {dateStyle: "medium", timeStyle: "short", timeZone: "UTC"})
  .format(new Date(iso.endsWith("Z") || iso.includes("+") ? iso : `${iso}Z`));
const EXPORTS = [["csv", "CSV"], ["customer-match", "Customer Match"], ["parquet", "Parquet"]];

let grammar = [];  // /api/v1/conditions: each test's kind, keys, labels and value lists
let meta = {names: {}};  // /api/v1/meta: channels, stages, categories, CRM attributes, journeys
let facts = null;  // /api/v1/profiles: persons profiled, CRM match
let saved = [];  // /api/v1/audiences
let editing = null;  // the audience loaded in the builder (its name), if any

const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
};
const named = (v) => said(meta.names[v]) || v;

// ---- the builder: rows of tests under all/any, each may be negated ----

function kindOf(name) { return grammar.find((k) => k.kind === name); }

function offered(key, row) {  // the values a text key suggests: a list of /api/v1/meta
  if (key.offers === "channels") return Object.keys(meta.channels || {});
  if (key.offers === "crm") {
    const crm = meta.crm || {};
    if (key.value === "texts") return crm[row.querySelector("[data-key=attribute]")?.value] || [];
    return Object.keys(crm);
  }
  return key.offers ? [...(meta[key.offers] || [])] : [];
}

function choiceText(key, v) {
  if (key.choice_labels[v]) return said(key.choice_labels[v]);
  return named(v);
}

// A condition in words, as the builder labels its parts ("Touched the channel Email, in the
// last 7 days and not (Used the device Desktop)"), never in its keys.
function sayCondition(when, inner = false) {
  if (!when || typeof when !== "object" || Array.isArray(when)) return JSON.stringify(when);
  const [how] = Object.keys(when);
  if (how === "not" && Object.keys(when).length === 1) return `${t("not")} (${sayCondition(when.not)})`;
  if (["all", "any"].includes(how) && Array.isArray(when[how])) {
    const words = when[how].map((c) => sayCondition(c, true)).join(` ${t(how === "all" ? "and" : "or")} `);
    return inner && when[how].length > 1 ? `(${words})` : words;
  }
  const kind = kindOf(Object.keys(when).find((k) => kindOf(k)));
  if (!kind) return JSON.stringify(when);
  const value = when[kind.kind];
  const parts = [kind.value === "bool" ? (value === false ? `${t("not")} (${said(kind.labels)})` : said(kind.labels))
    : `${said(kind.labels)} ${sayValue(kind, value)}`];
  for (const [name, key] of Object.entries(kind.more)) {
    if (!(name in when)) continue;
    const label = said(key.labels) || "";
    parts.push(label.includes("…") ? label.replace("…", sayValue(key, when[name])) : `${label} ${sayValue(key, when[name])}`);
  }
  return parts.join(", ");
}

function sayValue(key, v) {  // a test's value by its name: a channel's, a choice's label, yes or no
  if (Array.isArray(v)) return v.map((x) => sayValue(key, x)).join(", ");
  if (typeof v === "boolean") return t(v ? "yes_value" : "no_value");
  if (key.value === "choice" || key.offers === "channels") return choiceText(key, v);
  return typeof v === "number" ? new Intl.NumberFormat(lang()).format(v) : String(v);
}

// One control for one key of a test: a list when its values are known, else a box.
function keyControl(name, key, value, row) {
  let input;
  const values = key.value === "choice" || key.value === "op" ? key.choices : offered(key, row);
  if (key.value === "bool") {
    input = el("select", {}, new Option(t("yes_value"), "true"), new Option(t("no_value"), "false"));
    input.value = String(value ?? true);
  } else if (values.length) {
    input = el("select");
    if (!key.required) input.append(new Option(key.value === "text" ? t("everything") : "", ""));
    input.append(...values.map((v) => new Option(choiceText(key, v), v)));
    const current = Array.isArray(value) ? value[0] : value;
    if (current != null && !values.includes(current)) input.append(new Option(current, current));  // a value no build shows yet
    input.value = current ?? (key.required ? values[0] : "");
  } else {
    const number = ["number", "days"].includes(key.value);
    input = el("input", {type: number ? "number" : "text", value: Array.isArray(value) ? value.join(", ") : (value ?? "")});
    if (key.value === "days") { input.min = 1; input.step = 1; input.placeholder = t("any_time"); }
    if (key.value === "number") input.step = "any";
  }
  input.dataset.key = name;
  input.dataset.value = key.value;
  input.addEventListener("change", () => {
    if (key.offers === "crm" && key.value === "text") redrawRow(row);  // its values follow the attribute
    changed();
  });
  if (input.tagName === "INPUT") input.addEventListener("input", changed);
  const label = said(key.labels);
  return label ? el("label", {className: "key"}, el("span", {textContent: label}), input) : input;
}

function testRow(test = null) {
  const row = el("li", {className: "test"});
  const negate = el("input", {type: "checkbox", className: "negate"});
  negate.addEventListener("change", changed);
  const kind = el("select", {className: "kind"}, ...grammar.map((k) => new Option(said(k.labels), k.kind)));
  kind.addEventListener("change", () => { redrawRow(row); changed(); });
  const remove = el("button", {type: "button", className: "remove", textContent: "✕", title: t("remove")});
  remove.setAttribute("aria-label", t("remove"));
  remove.addEventListener("click", () => { row.remove(); changed(); });
  row.append(el("label", {className: "not"}, negate, el("span", {textContent: t("not")})), kind,
             el("span", {className: "keys"}), remove);
  if (test) {
    negate.checked = "not" in test;
    const inner = test.not || test;
    kind.value = Object.keys(inner).find((k) => kindOf(k));
    redrawRow(row, inner);
  } else redrawRow(row);
  return row;
}

function redrawRow(row, test = null) {  // the key controls of the row's kind, keeping what they can
  const k = kindOf(row.querySelector(".kind").value);
  const before = test || readRow(row, true) || {};
  const keys = row.querySelector(".keys");
  keys.replaceChildren(keyControl(k.kind, {...k, labels: {}}, before[k.kind], row));  // the kind says it
  for (const [name, key] of Object.entries(k.more)) keys.append(keyControl(name, key, before[name], row));
}

function readValue(input) {
  const v = input.value.trim();
  if (input.dataset.value === "bool") return v === "true";
  if (input.dataset.value === "number" || input.dataset.value === "days") return v === "" ? undefined : Number(v);
  if (input.dataset.value === "texts") return v === "" ? undefined : v.split(",").map((x) => x.trim()).filter(Boolean);
  return v === "" ? undefined : v;
}

function readRow(row, loose = false) {  // a row's test, as the grammar writes it
  const kind = row.querySelector(".kind").value;
  const test = {};
  for (const input of row.querySelectorAll(".keys [data-key]")) {
    const v = readValue(input);
    if (v !== undefined) test[input.dataset.key] = v;
  }
  if (loose) return test;
  if (!(kind in test)) test[kind] = "";  // the server names the missing value
  return row.querySelector(".negate").checked ? {not: test} : test;
}

function condition() {  // the builder's condition; null when it has no test
  if (!document.getElementById("nested").hidden) {
    try { return JSON.parse(document.getElementById("json").value); } catch (e) { return {"": "invalid JSON"}; }
  }
  const tests = [...document.querySelectorAll("#tests > li")].map((r) => readRow(r));
  if (!tests.length) return null;
  if (tests.length === 1 && !("not" in tests[0])) return tests[0];
  return {[document.getElementById("how").value]: tests};
}

// A condition into the builder: one test, or all/any of (negated) tests; else JSON only.
function drawCondition(when) {
  const list = document.getElementById("tests");
  const isTest = (c) => c && typeof c === "object" && Object.keys(c).some((k) => kindOf(k));
  const isRow = (c) => isTest(c) || (c && isTest(c.not) && Object.keys(c).length === 1);
  let rows = null;
  if (!when) rows = [];
  else if (isRow(when)) rows = [when];
  else if (Object.keys(when).length === 1 && ["all", "any"].includes(Object.keys(when)[0])
           && Array.isArray(Object.values(when)[0]) && Object.values(when)[0].every(isRow)) {
    document.getElementById("how").value = Object.keys(when)[0];
    rows = Object.values(when)[0];
  }
  document.getElementById("nested").hidden = rows !== null;
  list.hidden = document.getElementById("add").hidden = rows === null;
  document.querySelector(".combine").hidden = rows === null;
  list.replaceChildren(...(rows || []).map((r) => testRow(r)));
  document.getElementById("as-json").open ||= rows === null;
}

let asked = 0;  // the latest preview sent: an older answer arriving late is dropped
let timer = null;

function changed(typed = undefined) {  // typed: the JSON as the user wrote it, sized as written
  const fromJson = typed !== undefined && !(typed instanceof Event);
  const when = fromJson ? typed : condition();
  if (!fromJson) document.getElementById("json").value = when ? JSON.stringify(when, null, 2) : "";
  clearTimeout(timer);
  timer = setTimeout(() => preview(when), 250);  // one request per pause in the typing
}

async function preview(when) {
  const box = document.getElementById("size");
  const mine = ++asked;
  box.className = "";
  if (!when) { box.textContent = t("pick"); return; }
  box.textContent = t("refreshing");
  try {
    const answer = await send("POST", "/api/v1/audiences/preview", {when});
    if (mine !== asked) return;
    box.replaceChildren(el("b", {textContent: count(answer.size)}), ` ${t("persons")} · `,
                        `${percent(answer.persons ? answer.size / answer.persons : 0)} ${fill("of_profiled", {n: count(answer.persons)})}`);
  } catch (error) {
    if (mine !== asked) return;
    box.className = "error";
    box.textContent = error.message;
  }
}

document.getElementById("json").addEventListener("input", () => {
  const text = document.getElementById("json").value;
  let when;
  try { when = text.trim() ? JSON.parse(text) : null; } catch (e) {
    const box = document.getElementById("size");
    box.className = "error"; box.textContent = `JSON: ${e.message}`; return;
  }
  const open = document.getElementById("as-json").open;
  drawCondition(when);
  document.getElementById("as-json").open = open || !document.getElementById("nested").hidden;
  changed(when);
});
document.getElementById("add").addEventListener("click", () => {
  document.getElementById("tests").append(testRow());
  changed();
});
document.getElementById("how").addEventListener("change", changed);

function edit(a = null) {  // an audience into the builder (null: a new one)
  editing = a ? a.name : null;
  document.getElementById("builder-title").textContent = t(a ? "edit" : "new");
  document.getElementById("name").value = a ? a.name : "";
  document.getElementById("description").value = a ? a.description : "";
  document.getElementById("saved").textContent = "";
  drawCondition(a ? a.when : null);
  changed();
  if (a) document.getElementById("builder").scrollIntoView({behavior: "smooth"});
}
document.getElementById("clear").addEventListener("click", () => edit());

document.getElementById("save-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = document.getElementById("name").value.trim();
  const out = document.getElementById("saved");
  out.className = "";
  try {
    const a = await send("PUT", `/api/v1/audiences/${encodeURIComponent(name)}`,
                         {description: document.getElementById("description").value, when: condition() || {}});
    editing = name;
    out.textContent = fill("saved", {name, n: a.size == null ? "–" : count(a.size)});
    await refreshList();
  } catch (error) {
    out.className = "error";
    out.textContent = error.message;
  }
});

// ---- the saved audiences ----

async function download(name, format) {
  const blob = await (await api(`/api/v1/audiences/${encodeURIComponent(name)}/export`, `format=${format}`)).blob();
  const a = el("a", {href: URL.createObjectURL(blob), download: `${name}.${format === "parquet" ? "parquet" : "csv"}`});
  document.body.append(a); a.click(); a.remove();
}

// An export from an audience's row: a failure says so in that row, by its buttons.
async function exported(row, button, name, format) {
  row.querySelector(".failed")?.remove();
  button.disabled = true;
  try {
    await download(name, format);
  } catch (error) {
    row.append(el("p", {className: "failed error", role: "alert", textContent: `${t("export_failed")} ${error.message}`}));
  } finally {
    button.disabled = false;
  }
}

async function remove(a) {
  if (!confirm(fill("confirm", {name: a.name}))) return;
  const out = document.getElementById("saved");
  try {
    await send("DELETE", `/api/v1/audiences/${encodeURIComponent(a.name)}`);
    if (editing === a.name) edit();  // the builder holds it no more (and clears the message)
    out.className = ""; out.textContent = fill("deleted", {name: a.name});
    await refreshList();
  } catch (error) { out.className = "error"; out.textContent = error.message; }
}

function previous(a) {  // the size at the build before the last, if any
  return a.history.length > 1 ? a.history.at(-2).size : null;
}

function list() {  // one row per audience: its size as a bar, what it is, its actions
  const box = document.getElementById("list");
  document.getElementById("none").hidden = saved.length > 0;
  const top = Math.max(1, ...saved.map((a) => a.size || 0));
  box.replaceChildren(...saved.map((a) => {
    const row = el("div", {className: "audience"});
    row.dataset.audience = a.name;
    const change = previous(a) == null || a.size == null ? "" : ` (${a.size - previous(a) >= 0 ? "+" : ""}${count(a.size - previous(a))})`;
    const size = el("span", {className: "figures"}, el("b", {textContent: a.size == null ? "–" : count(a.size)}),
                    ` ${t("persons")}${facts && a.size != null ? ` · ${percent(a.size / facts.persons)}` : ""}${change}`);
    const bar = el("span", {className: "share"});
    bar.style.width = `${Math.round(100 * (a.size || 0) / top)}%`;
    const actions = el("span", {className: "actions"});
    const editButton = el("button", {type: "button", textContent: t("edit").split(" ")[0]});
    editButton.addEventListener("click", () => edit(a));
    actions.append(editButton, ...EXPORTS.map(([format, label]) => {
      const b = el("button", {type: "button", textContent: label, className: "export"});
      b.dataset.format = format;
      b.addEventListener("click", () => exported(row, b, a.name, format));
      return b;
    }));
    if (a.source === "workspace") {
      const del = el("button", {type: "button", textContent: "✕", className: "delete", title: t("remove")});
      del.setAttribute("aria-label", `${t("remove")} ${a.name}`);
      del.addEventListener("click", () => remove(a));
      actions.append(del);
    }
    row.append(el("span", {className: "name"}, el("b", {textContent: a.name}),
                  el("small", {textContent: a.description || (a.source === "config" ? t("config") : "")}),
                  el("small", {className: "condition", textContent: sayCondition(a.when)})),
               size, actions, bar);
    return row;
  }));
}

function around(iso) {  // one build: a week around it, a tick a day, so the point has a date
  const at = new Date(iso.endsWith("Z") || iso.includes("+") ? iso : `${iso}Z`).getTime();
  const day = 86400000;
  return {range: [new Date(at - 3 * day).toISOString(), new Date(at + 3 * day).toISOString()], dtick: day};
}

function charts() {  // sizes build after build, and who is in two audiences
  const refreshed = saved.filter((a) => a.history.length);
  const section = document.getElementById("charts");
  section.hidden = mode() === "expert" || !refreshed.length;
  if (section.hidden) return;
  const builds = new Set(refreshed.flatMap((a) => a.history.map((h) => h.built_at))).size;
  const notes = [];
  if (builds < 2) notes.push(t("one_build"));
  if (refreshed.length < saved.length) notes.push(t("not_refreshed"));
  document.getElementById("history-note").textContent = notes.join(" ");
  const phone = narrow.matches;
  plot(document.getElementById("history"), refreshed.map((a) => ({
    type: "scatter", mode: "lines+markers", name: a.name, x: a.history.map((h) => h.built_at),
    y: a.history.map((h) => h.size), hovertemplate: `${a.name}: %{y:,} ${t("persons")}<extra>%{x|%d %b %Y %H:%M}</extra>`,
  })), {margin: {t: 10, l: 60, r: 10}, yaxis: {title: {text: t("size")}, rangemode: "tozero", tickformat: ",d"},
        xaxis: {type: "date", tickformat: "%d %b %Y", ...(builds < 2 ? around(refreshed[0].history[0].built_at) : {})}, showlegend: true,
        legend: phone ? {orientation: "h", y: -0.25} : {}, height: phone ? 380 : 340}, "audience-sizes");
  const names = refreshed.map((a) => a.name).filter((n) => (saved.find((a) => a.name === n).overlap[n] || 0) > 0);
  const z = names.map((a) => names.map((b) => {
    const o = saved.find((x) => x.name === a).overlap;
    return (o[b] || 0) / o[a];
  }));
  const counts = names.map((a) => names.map((b) => saved.find((x) => x.name === a).overlap[b] || 0));
  plot(document.getElementById("overlap"), [{
    type: "heatmap", x: names, y: names, z, customdata: counts, zmin: 0, zmax: 1,
    colorscale: [[0, "#f6f7f9"], [1, "#1f3a5f"]], showscale: false,
    text: z.map((r) => r.map((v) => percent(v))), texttemplate: "%{text}",
    hovertemplate: `%{y} → %{x}: %{text} (%{customdata:,} ${t("persons")})<extra></extra>`,
  }], {margin: {t: 10, r: 10}, yaxis: {autorange: "reversed", automargin: true}, xaxis: {automargin: true},
       font: {size: phone ? 10 : 12},
       height: Math.max(260, 70 + 48 * names.length)}, "audience-overlaps");
}

function tables() {  // expert mode: the figures, whole
  const box = document.getElementById("tables");
  box.hidden = mode() !== "expert";
  if (box.hidden) return;
  const as = {count: (v) => count(v), share: (v) => percent(v), signed: (v) => (v > 0 ? "+" : "") + count(v),
              when: (v) => moment(v), text: (v) => v, plain: (v) => v, words: (v) => v};
  const table = (name, columns, rows) => {  // columns: [word, format]; a number is right-aligned
    const wrap = el("div", {className: "table-wrap"});
    const tab = el("table", {className: "report"});
    tab.dataset.table = name;
    tab.createTHead().insertRow().append(...columns.map(([h]) => el("th", {textContent: t(h)})));
    const body = tab.createTBody();
    for (const r of rows) {
      const tr = body.insertRow();
      r.forEach((v, i) => {
        const [, format] = columns[i];
        const td = tr.insertCell();
        td.textContent = v == null ? "" : as[format](v);
        td.className = ["count", "share", "signed"].includes(format) ? "num" : format === "words" ? "words" : "";
      });
    }
    wrap.append(tab);
    return wrap;
  };
  box.replaceChildren(
    el("h3", {textContent: t("saved_audiences")}),
    table("audiences", [["audience", "text"], ["size", "count"], ["share", "share"], ["previous", "count"], ["change", "signed"],
                        ["defined", "plain"], ["condition", "words"]], saved.map((a) => [
      a.name, a.size, facts && a.size != null ? a.size / facts.persons : null, previous(a),
      previous(a) == null || a.size == null ? null : a.size - previous(a),
      t(a.source === "config" ? "config" : "workspace"), sayCondition(a.when)])),
    el("h3", {textContent: t("history")}),
    table("history", [["audience", "plain"], ["built", "when"], ["size", "count"]],
          saved.flatMap((a) => a.history.map((h) => [a.name, h.built_at, h.size]))),
    el("h3", {textContent: t("overlap")}),
    table("overlap", [["audience", "plain"], ["other", "plain"], ["shared", "count"]], saved.flatMap((a) => Object.entries(a.overlap).map(([o, n]) => [a.name, o, n]))));
}

function headline() {
  const tiles = [];
  const tile = (label, value, note = "") => el("div", {className: "tile"}, el("dt", {textContent: label}),
                                              el("dd", {textContent: value}), note ? el("small", {textContent: note}) : "");
  if (facts) {
    tiles.push(tile(t("profiled"), count(facts.persons), fill("as_of", {d: date(facts.last_reported_day)})));
    if (facts.crm) {
      tiles.push(tile(t("customers"), count(facts.crm.customers)));
      tiles.push(tile(t("linked"), count(facts.crm.linked), `${percent(facts.crm.match_rate)} ${t("match")}`));
    } else tiles.push(tile(t("customers"), "–", t("no_crm")));
  }
  tiles.push(tile(t("count_audiences"), count(saved.length)));
  document.getElementById("headline").replaceChildren(...tiles);
}

async function refreshList() {
  saved = await json("/api/v1/audiences");
  headline(); list(); charts(); tables();
}

function load() {  // a new language or mode: redraw from what the page holds
  translatePage("audiences");
  for (const o of document.querySelectorAll("#how option")) o.textContent = t(o.value);
  const when = condition();
  drawCondition(when);
  changed();
  headline(); list(); charts(); tables();
}

(async () => {
  translatePage("audiences");
  const warnings = document.getElementById("warnings");
  warnings.replaceChildren(el("li", {textContent: t("loading"), className: "info"}));
  try {
    const [reports, kinds, known] = await Promise.all(
      [json("/api/v1/reports"), json("/api/v1/conditions"), json("/api/v1/audiences")]);
    catalogue = Object.fromEntries(reports.map((r) => [r.name, r]));
    grammar = kinds;
    saved = known;
    [meta, facts] = await Promise.all([json("/api/v1/meta"), json("/api/v1/profiles")]);
    warnings.replaceChildren();
  } catch (error) {  // before a build: the builder has no values to offer, nor sizes to tell
    warnings.replaceChildren(el("li", {textContent: error.message}));
  }
  load();
})();
