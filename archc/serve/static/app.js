// The playground page: editor -> (debounced) /api/analyze -> diagram, cost table, savings, paths.
import { Diagram } from "./diagram.js";
import { el, showCompare, showCost, showPaths, showSavings } from "./panels.js";

const $ = (id) => document.getElementById(id);
const DEBOUNCE_MS = 300;
const state = { origin: "", level: "stage", focus: "", seq: 0, shown: 0, controller: null, marks: [], name: "spec" };

const editor = CodeMirror($("editor"), {
  mode: "yaml", lineNumbers: true, indentUnit: 2, tabSize: 2, smartIndent: true, indentWithTabs: false,
  extraKeys: { "Ctrl-Space": "autocomplete", Tab: (cm) => cm.execCommand("insertSoftTab") },
});
const diagram = new Diagram($("diagram"), $("canvas"), (path, level) => { state.focus = path; state.level = level; analyze(); });

function setStatus(text, bad = false) {
  $("status").textContent = text;
  $("status").classList.toggle("bad", bad);
}

function overrides() { return $("overrides").value.split(/\s+/).filter((s) => s); }
function specPayload() { return { text: editor.getValue(), origin: state.origin, overrides: overrides() }; }

async function post(url, body, signal) {
  return fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal });
}

function clearMarks() {
  for (const m of state.marks) m.clear ? m.clear() : editor.removeLineClass(m, "background", "cm-error-line");
  state.marks = [];
}

function showError(err) {
  clearMarks();
  const box = $("error");
  box.hidden = false;
  box.dataset.line = err.line || 0;
  box.dataset.col = err.col || 0;
  const children = [];
  if (err.line > 0) {
    const where = el("span", { class: "where" }, `line ${err.line}, column ${err.col}`);
    where.addEventListener("click", () => { editor.focus(); editor.setCursor({ line: err.line - 1, ch: Math.max(0, err.col - 1) }); });
    children.push(where, ": ");
    const line = Math.min(err.line - 1, editor.lineCount() - 1);
    state.marks.push(editor.addLineClass(line, "background", "cm-error-line"));
    const from = { line, ch: Math.max(0, err.col - 1) };
    const to = { line, ch: editor.getLine(line).length };
    if (to.ch > from.ch) state.marks.push(editor.markText(from, to, { className: "cm-error-mark", attributes: { title: err.message } }));
  }
  children.push(err.message);
  box.replaceChildren(...children);
  $("diagram").classList.add("stale");
}

function hideError() {
  clearMarks();
  $("error").hidden = true;
  $("error").dataset.line = 0;
  $("diagram").classList.remove("stale");
}

function showCrumbs() {
  const crumbs = [["", "whole model", "stage"]];
  if (state.focus) {
    const parts = state.focus.split(".");
    for (let i = 1; i <= parts.length; i++) {
      const path = parts.slice(0, i).join(".");
      if (path in (diagram.targets || {}) || i === parts.length) crumbs.push([path, parts[i - 1], diagram.targets[path] || state.level]);
    }
  }
  const out = [];
  crumbs.forEach(([path, label, level], i) => {
    if (i) out.push(" › ");
    if (i === crumbs.length - 1) { out.push(el("b", {}, label)); return; }
    const a = el("a", { "data-focus": path }, label);
    a.addEventListener("click", () => { state.focus = path; state.level = level; analyze(); });
    out.push(a);
  });
  $("crumbs").replaceChildren(...out);
}

function showLevel() {
  for (const b of document.querySelectorAll("button.level")) b.classList.toggle("active", b.dataset.level === state.level);
}

async function analyze() {
  const seq = ++state.seq;
  if (state.controller) state.controller.abort();
  state.controller = new AbortController();
  setStatus("checking…");
  const started = performance.now();
  let data;
  try {
    const res = await post("/api/analyze", { ...specPayload(), level: state.level, focus: state.focus }, state.controller.signal);
    data = await res.json();
  } catch (e) {
    if (e.name === "AbortError") return;
    if (seq === state.seq) setStatus(`server not reachable: ${e.message}`, true);
    return;
  }
  if (seq !== state.seq) return;
  if (!data.ok) {
    if (state.focus && /focus|no node/.test(data.error.message)) { state.focus = ""; return analyze(); }
    showError(data.error);
    setStatus("spec has an error", true);
    return;
  }
  hideError();
  state.name = data.name;
  state.focus = data.focus;
  diagram.show(data.svg, data.targets, data.focus);
  showCost($("cost-table"), $("totals"), data);
  showSavings($("savings"), data.savings);
  showPaths($("paths"), $("histogram"), data.paths);
  showCrumbs();
  showLevel();
  state.shown = seq;
  document.body.dataset.shown = String(seq);
  setStatus(`ok · ${data.name} · ${((performance.now() - started) / 1000).toFixed(2)} s`);
}

let timer = null;
function scheduleAnalyze() {
  clearTimeout(timer);
  timer = setTimeout(analyze, DEBOUNCE_MS);
}

async function loadGallery(name, target = editor) {
  const res = await fetch(`/api/spec/${name}`);
  const data = await res.json();
  return data.text;
}

function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function download(kind) {
  setStatus(`preparing .${kind}…`);
  const res = await post(`/api/download/${kind}`, { ...specPayload(), level: state.level, focus: state.focus });
  if (!res.ok) {
    const data = await res.json().catch(() => ({ error: { message: res.statusText } }));
    return setStatus(`download failed: ${data.error.message}`, true);
  }
  const name = (res.headers.get("content-disposition") || "").match(/filename="([^"]+)"/);
  saveBlob(await res.blob(), name ? name[1] : `${state.name}.${kind}`);
  setStatus(`downloaded ${name ? name[1] : kind}`);
}

// ---------------------------------------------------------------- compare
let cmpTimer = null;
async function compare() {
  const body = { a: { text: $("cmp-a").value, origin: $("cmp-gallery-a").value }, b: { text: $("cmp-b").value, origin: $("cmp-gallery-b").value } };
  const data = await (await post("/api/compare", body)).json();
  const box = $("cmp-error");
  if (!data.ok) { box.hidden = false; box.textContent = data.error.message; return; }
  box.hidden = true;
  showCompare($("cmp-totals"), $("cmp-stages"), data);
  document.body.dataset.compared = String(Date.now());
}
function scheduleCompare() { clearTimeout(cmpTimer); cmpTimer = setTimeout(compare, DEBOUNCE_MS); }

// ---------------------------------------------------------------- completion from the JSON Schema
function schemaHint(keys) {
  return (cm) => {
    const cur = cm.getCursor(), line = cm.getLine(cur.line);
    let start = cur.ch;
    while (start > 0 && /[\w]/.test(line[start - 1])) start--;
    const word = line.slice(start, cur.ch);
    const list = keys.filter((k) => k.startsWith(word)).map((k) => ({ text: `${k}: `, displayText: k }));
    return { list, from: { line: cur.line, ch: start }, to: cur };
  };
}

async function main() {
  const [config, gallery, schema] = await Promise.all(["/api/config", "/api/gallery", "/api/schema"].map((u) => fetch(u).then((r) => r.json())));
  for (const select of [$("gallery"), $("cmp-gallery-a"), $("cmp-gallery-b")]) {
    for (const name of gallery.specs) select.append(el("option", { value: name }, name));
  }
  editor.setOption("hintOptions", { hint: schemaHint(schema.keys), completeSingle: false });
  const first = config.initial || { text: await loadGallery("resnet50"), origin: "resnet50" };
  state.origin = first.origin || "";
  $("gallery").value = state.origin;
  editor.setValue(first.text);
  editor.on("changes", () => { state.focus = state.focus; scheduleAnalyze(); });
  $("overrides").addEventListener("input", scheduleAnalyze);
  $("gallery").addEventListener("change", async () => {
    const name = $("gallery").value;
    if (!name) return;
    state.origin = name;
    state.focus = "";
    editor.setValue(await loadGallery(name));
  });
  for (const b of document.querySelectorAll("button.level")) {
    b.addEventListener("click", () => { state.level = b.dataset.level; state.focus = ""; analyze(); });
  }
  $("zoom-in").addEventListener("click", () => diagram.zoom(1.25));
  $("zoom-out").addEventListener("click", () => diagram.zoom(0.8));
  $("zoom-fit").addEventListener("click", () => diagram.fit());
  for (const kind of ["spec", "svg", "pdf", "py"]) $(`dl-${kind}`).addEventListener("click", () => download(kind === "spec" ? "yaml" : kind));
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t === tab);
      for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== tab.dataset.view;
      if (tab.id === "tab-spec") editor.refresh();
    });
  }
  for (const side of ["a", "b"]) {
    const select = $(`cmp-gallery-${side}`);
    select.value = side === "a" ? "plain34" : "resnet34";
    if (!select.value) select.selectedIndex = side === "a" ? 0 : 1;
    $(`cmp-${side}`).value = await loadGallery(select.value);
    select.addEventListener("change", async () => { $(`cmp-${side}`).value = await loadGallery(select.value); scheduleCompare(); });
    $(`cmp-${side}`).addEventListener("input", scheduleCompare);
  }
  compare();
  analyze();
}

main().catch((e) => setStatus(`page failed to start: ${e.message}`, true));
