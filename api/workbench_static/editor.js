// The editor: a draft's units and grids on the map, selection, edits (move, new grid, split,
// merge, lock), undo/redo, proposals, compare with the base — every change re-rendered from
// the server's answer.
import { ApiError, call, enc } from "./api.js";
import { t } from "./i18n.js";
import { baseFromTiles } from "./tiles.js";
import { $, $$, action, el, fail, say, state } from "./ui.js";

// The draft answer's grids as a list (the server may key them by code).
export function gridsOf(draft) {
  const grids = draft?.grids ?? [];
  if (Array.isArray(grids)) return grids;
  return Object.entries(grids).map(([code, g]) => ({ code, ...g }));
}

const pieces = (g) => g.pieces ?? (g.contiguous === false ? 2 : 1);
const compactness = (g) => g.polsby_popper ?? g.compactness ?? null;

// Open draft `id`; `opened` is its state when the caller has it already (POST /drafts).
export async function openDraft(id, opened = null) {
  state.draftId = String(id);
  state.selection = [];
  state.proposal = null;
  state.focus = null;
  $("#proposal").hidden = true;
  $("#compare").checked = false;
  state.map.setBase(null);
  state.map.showBase(false);
  const { data, etag } = opened ?? (await call("GET", `/drafts/${enc(state.draftId)}`));
  // units and outlines asked for first: the server makes them while the table is built here
  const layers = refreshLayers({ fit: true });
  accept(data, etag);
  await layers;
  $("#editor").hidden = false;
  selectTab("edit");
}

export function selectTab(name) {
  for (const tab of $$(".tabs [role=tab]")) {
    const on = tab.dataset.tab === name;
    tab.setAttribute("aria-selected", String(on));
    $(`#tab-${tab.dataset.tab}`).hidden = !on;
  }
}

// Take a draft state from the server (GET, an edit, undo/redo, accept) and show it.
function accept(data, etag) {
  state.draft = data;
  state.etag = etag || (data.etag ? `"${data.etag}"` : state.etag);
  if (data.plan) state.plan = { name: data.plan, version: data.base_version ?? data.version };
  renderDraft();
}

// A change's answer (an edit, undo, redo, an accepted proposal) carries only what the change
// touched: those grids' rows, problems and outlines, the units that moved, the grids removed.
// Merge it into the draft shown and redraw just that — its cost follows the change, not the
// plan (a 50,000-unit plan's units are megabytes; its 2,500 outlines a second of dissolving).
function acceptChange(data, etag) {
  const touched = new Set([...data.grids.map((g) => g.code), ...data.removed]);
  const fresh = new Map(data.grids.map((g) => [g.code, g]));
  const removed = new Set(data.removed);
  const grids = [];
  let renamed = false;
  for (const g of gridsOf(state.draft)) {
    if (removed.has(g.code)) continue;
    const now = fresh.get(g.code);
    renamed ||= now !== undefined && now.name !== g.name;
    grids.push(now ?? g);
    fresh.delete(g.code);
  }
  const same = !removed.size && !fresh.size && !renamed; // the same grids, the same names
  if (fresh.size) { // new grids: into the server's order (level, then code)
    grids.push(...fresh.values());
    grids.sort((a, b) => a.level - b.level || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
  }
  const problems = (state.draft.problems || []).filter((p) => !touched.has(p.grid)).concat(data.problems);
  problems.sort((a, b) => (a.grid < b.grid ? -1 : a.grid > b.grid ? 1 : 0));
  const { id, revision, etag: tag, edits, can_undo, can_redo, proposal } = data;
  state.draft = { ...state.draft, id, revision, etag: tag, edits, can_undo, can_redo, proposal, grids, problems };
  state.etag = etag || `"${tag}"`;
  renderDraft(same ? touched : null);
  showChange(data, touched);
}

function showChange(data, touched) {
  const map = state.map;
  const colours = Object.entries(data.colours || {});
  for (const [code, colour] of colours) map.colours.set(code, colour);
  for (const u of data.units) {
    const props = map.unitProps(u.unit);
    if (props) Object.assign(props, { grid: u.grid, code: u.code, locked: u.locked });
  }
  map.setBroken(gridsOf(state.draft).filter((g) => pieces(g) > 1).map((g) => g.code));
  if (colours.length) map.restyle();
  else map.restyleIds(data.units.map((u) => u.unit));
  swapOutlines(data.outlines, touched);
  map.setSelection(state.selection);
  map.setProblems(draftProblems(), { fit: false });
  renderGridUnits();
}

// Replace the outlines of the touched grids (the others stay drawn).
function swapOutlines(collection, touched) {
  const layer = state.map.gridsGeo;
  if (!layer) return;
  for (const outline of layer.getLayers()) {
    if (touched.has(outline.feature.properties.code)) layer.removeLayer(outline);
  }
  layer.addData(collection);
  state.outlinesReady = Promise.resolve(); // the outlines came with the answer
}

let renderedOptions = ""; // the grid list the <select>s hold now
let outlines = 0; // the latest outline refresh: an older answer arriving late is dropped

async function refreshLayers({ fit = false } = {}) {
  const id = enc(state.draftId);
  // both at once: the server holds the draft for one answer at a time (Workbench.view: it
  // is built once for both), and the page takes one answer in while the other is made
  const generation = ++outlines;
  const [units, grids] = await Promise.all([
    call("GET", `/drafts/${id}/units`, { query: { format: "compact" } }),
    call("GET", `/drafts/${id}/grids`),
  ]);
  if (generation !== outlines) return; // a later refresh is under way
  state.map.setBroken(gridsOf(state.draft).filter((g) => pieces(g) > 1).map((g) => g.code));
  state.map.setGrids(grids.data, { fit: false });
  state.map.setUnits(units.data, { fit });
  state.map.setSelection(state.selection);
  state.map.setProblems(draftProblems(), { fit: false });
  renderGridUnits();
}

// The draft's problems as map markers: [lon, lat] of `where`, the message as the popup.
function draftProblems() {
  return (state.draft.problems || []).map((p) => ({
    kind: p.kind, line: p.message, lon: p.where?.[0] ?? p.lon, lat: p.where?.[1] ?? p.lat,
  }));
}

function renderProblems() {
  const problems = state.draft.problems || [];
  const strays = problems.filter((p) => p.kind === "broken").flatMap((p) => p.units || []);
  state.map.setStrays(strays);
  const list = $("#draft-problems");
  list.replaceChildren(...problems.map((p, i) => el("li", { class: `problem pk-${p.kind}` },
    el("span", { text: p.message }), " ",
    p.where ? el("button", { type: "button", class: "problem-go", text: t("problem_here"), onclick: () => state.map.focusProblem(i) }) : null)));
}

// The draft shown; `touched`: only those grids changed, none added, removed or renamed (their
// rows are made again, the other 2,500 rows and the grid lists' options are not even compared).
function renderDraft(touched = null) {
  const d = state.draft;
  const band = Array.isArray(d.band) ? { low: d.band[0], high: d.band[1] } : d.band && typeof d.band === "object" ? d.band : null;
  const title = t("draft_title", { id: d.id ?? state.draftId, plan: d.plan ?? state.plan?.name ?? "", version: d.base_version ?? d.version ?? "", revision: d.revision ?? 0 });
  $("#draft-title").textContent = band ? `${title} · ${t("band", band)}` : typeof d.band === "string" ? `${title} · ${d.band}` : title;
  $("#undo").disabled = d.can_undo === false;
  $("#redo").disabled = d.can_redo === false;
  const grids = gridsOf(d);
  if (touched && renderRows(grids, touched)) {
    renderProblems();
    renderSelection();
    document.dispatchEvent(new CustomEvent("draft"));
    return;
  }
  renderTable(grids);
  const options = grids.map((g) => [g.code, `${g.name ?? ""} ${g.code}`]);
  const signature = options.map(([c, l]) => `${c}|${l}`).join("\n");
  // the options made once and cloned for each list (natively): 2,500 grids are 10,000 options
  const made = signature === renderedOptions ? null : document.createDocumentFragment();
  for (const [code, label] of made ? options : []) made.append(new Option(label, code));
  for (const id of made ? ["#assign-grid", "#merge-a", "#merge-b", "#staff-grid"] : []) {
    const select = $(id);
    const kept = select.value;
    select.replaceChildren(made.cloneNode(true));
    if (options.some(([code]) => code === kept)) select.value = kept;
  }
  if (signature !== renderedOptions && state.focus) $("#assign-grid").value = state.focus;
  renderedOptions = signature;
  renderProblems();
  renderSelection();
  document.dispatchEvent(new CustomEvent("draft"));
}

// The grid table, updated in place: a row is rebuilt only when what it shows changed (a
// 2,500-grid table rebuilt whole costs the browser a full layout after every move).
const shownRows = new Map(); // code → [signature, <tr>]
// Rows go in blocks of BLOCK, one <tbody> each, and a block off screen is skipped whole
// (content-visibility on the block): with it on each of 2,500 rows, every frame that changed
// anything made the browser check 2,500 rows' visibility and pre-paint them (~40 ms a move).
const BLOCK = 50;

function renderTable(grids) {
  const table = $("#grid-table");
  const rows = grids.map((g) => {
    const signature = rowSignature(g);
    const shown = shownRows.get(g.code);
    if (shown && shown[0] === signature) return shown[1];
    const row = gridRow(g);
    shownRows.set(g.code, [signature, row]);
    return row;
  });
  const blocks = [...table.tBodies];
  const current = blocks.flatMap((block) => [...block.children]);
  const sameOrder = rows.length === current.length && rows.every((row, i) => row.dataset.code === current[i].dataset.code);
  if (sameOrder) {
    rows.forEach((row, i) => {
      if (current[i] !== row) current[i].replaceWith(row);
    });
  } else {
    const made = [];
    for (let i = 0; i < rows.length || !made.length; i += BLOCK) made.push(el("tbody", {}, ...rows.slice(i, i + BLOCK)));
    for (const block of blocks) block.remove();
    table.append(...made);
  }
  const codes = new Set(grids.map((g) => g.code));
  for (const code of [...shownRows.keys()]) if (!codes.has(code)) shownRows.delete(code);
}

// The rows of grids `touched` made again where what they show changed; false when a row is
// not shown yet (the whole table is rendered instead).
function renderRows(grids, touched) {
  for (const g of grids) {
    if (!touched.has(g.code)) continue;
    const shown = shownRows.get(g.code);
    if (!shown) return false;
    const signature = rowSignature(g);
    if (shown[0] === signature) continue;
    const row = gridRow(g);
    shown[1].replaceWith(row);
    shownRows.set(g.code, [signature, row]);
  }
  return true;
}

function rowSignature(g) {
  return JSON.stringify([g.name, g.households, g.units, g.status, g.pieces, g.polsby_popper, g.locked, state.focus === g.code]);
}

function gridRow(g) {
  const status = g.status ?? "ok";
  const n = pieces(g);
  const pp = compactness(g);
  const lockButton = el("button", {
    type: "button", class: "lock", "aria-pressed": String(Boolean(g.locked)),
    text: g.locked ? t("unlock") : t("lock"),
  });
  action(lockButton, () => edit({ op: "lock", grid: g.code, locked: !g.locked }));
  const name = el("button", { type: "button", class: "grid-focus", text: g.name ?? g.code, onclick: () => focusGrid(g.code) });
  return el("tr", { class: `grid st-${status}${n > 1 ? " broken" : ""}${state.focus === g.code ? " focus" : ""}`, dataset: { code: g.code } },
    el("td", { text: g.code }),
    el("td", {}, name),
    el("td", { class: `hh st-${status}`, text: String(g.households ?? "") }),
    el("td", { text: String(g.units ?? g.unit_count ?? "") }),
    el("td", { class: `st st-${status}`, text: t(`st_${status}`) }),
    el("td", { class: n > 1 ? "pieces broken" : "pieces", text: n > 1 ? t("broken", { pieces: n }) : t("contiguous") }),
    el("td", { text: pp == null ? "" : Number(pp).toFixed(2) }),
    el("td", {}, lockButton),
  );
}

// The focused grid's units as checkboxes: selection by keyboard (and screen readers).
function renderGridUnits() {
  const list = $("#grid-units");
  if (!state.focus) {
    list.replaceChildren();
    return;
  }
  const chosen = new Set(state.selection);
  const items = [];
  for (const p of state.map.unitList()) {
    if (p.grid !== state.focus) continue;
    const id = p.unit_id;
    const box = el("input", { type: "checkbox", value: id, checked: chosen.has(id) });
    box.addEventListener("change", () => {
      const next = box.checked ? [...state.selection, id] : state.selection.filter((u) => u !== id);
      setSelection(next);
    });
    items.push(el("li", {}, el("label", {}, box, " ", t("unit_label", { name: p.name || id, households: p.households ?? 0 }))));
  }
  list.replaceChildren(...items);
}

function focusGrid(code) {
  state.focus = code;
  $("#assign-grid").value = code;
  $("#staff-grid").value = code;
  for (const row of $$("#grid-table tbody tr")) row.classList.toggle("focus", row.dataset.code === code);
  renderGridUnits();
  document.dispatchEvent(new CustomEvent("focus-grid"));
}

function renderSelection() {
  const households = state.selection.reduce((sum, id) => sum + (Number(state.map.unitProps(id)?.households) || 0), 0);
  $("#selection").textContent = t("selection", { count: state.selection.length, households });
}

function setSelection(ids, additive = false) {
  const next = additive ? [...new Set([...state.selection, ...ids.map(String)])] : ids.map(String);
  state.selection = next;
  state.map.setSelection(next);
  renderSelection();
  for (const box of $$("#grid-units input")) box.checked = next.includes(box.value);
}

// ------------------------------------------------------------------ edits

function reportRefused(answer) {
  const refused = answer.refused || [];
  if (refused.length) {
    say(t("refused", { count: refused.length }), "warn", refused.map((r) => t("refused_line", { unit: r.unit, reason: r.reason })));
  }
  if (answer.changed?.length) say(t("changed", { codes: answer.changed.join(", ") }), "ok");
}

export async function edit(body) {
  try {
    const { data, etag } = await call("POST", `/drafts/${enc(state.draftId)}/edits`, { json: body, ifMatch: state.etag });
    if (body.op === "move" || body.op === "new_grid") {
      const refused = new Set((data.refused || []).map((r) => String(r.unit)));
      state.selection = state.selection.filter((id) => refused.has(id)); // the moved ones are done
    }
    acceptChange(data, etag);
    reportRefused(data);
    return data;
  } catch (error) {
    if (error instanceof ApiError && error.status === 412) {
      await reload();
      say(t("error", { message: error.message }), "warn");
      return null;
    }
    throw error;
  }
}

export async function reload() {
  const { data, etag } = await call("GET", `/drafts/${enc(state.draftId)}`);
  accept(data, etag);
  await refreshLayers();
}

async function step(which) {
  try {
    const { data, etag } = await call("POST", `/drafts/${enc(state.draftId)}/${which}`);
    acceptChange(data, etag);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 409 || error.status === 422)) say(t(which === "undo" ? "nothing_undo" : "nothing_redo"), "warn");
    else throw error;
  }
}

// ------------------------------------------------------------------ proposals

async function propose(grids, kind = "balance") {
  const json = { kind };
  if (grids) json.grids = grids;
  const { data } = await call("POST", `/drafts/${enc(state.draftId)}/proposals`, { json });
  state.proposal = data;
  const moves = data.moves || [];
  state.map.setProposal(moves);
  $("#proposal").hidden = false;
  const households = data.moved_households ?? data.households_moved ?? moves.reduce((s, m) => s + (m.households || 0), 0);
  $("#proposal-text").textContent = moves.length
    ? t("proposal_title", { units: moves.length, households }) + (data.new_grids?.length ? ` · ${t("new_grid")} ${data.new_grids.join(", ")}` : "")
    : t("proposal_none");
  for (const line of data.problems || []) say(line, "warn");
  $("#proposal-accept").disabled = !moves.length;
}

async function decide(verdict) {
  const pid = enc(state.proposal.id);
  const answer = await call("POST", `/drafts/${enc(state.draftId)}/proposals/${pid}/${verdict}`, verdict === "accept" ? { ifMatch: state.etag } : {});
  state.proposal = null;
  state.map.setProposal([]);
  $("#proposal").hidden = true;
  if (verdict === "accept" && answer.data && typeof answer.data === "object") {
    acceptChange(answer.data, answer.etag);
    reportRefused(answer.data);
  }
}

async function compare(on) {
  if (on && !(await baseFromTiles(state.map, state.draft))) { // a big level: from /tiles
    const { data } = await call("GET", `/drafts/${enc(state.draftId)}/grids`, { query: { which: "base" } });
    state.map.setBase(data);
  }
  state.map.showBase(on);
}

// ------------------------------------------------------------------ wiring

export function installEditor() {
  const map = state.map;
  map.onUnitClick = (id, event) => {
    const props = map.unitProps(id);
    if (map.mode === "pick") {
      if (props?.grid) focusGrid(props.grid);
      return;
    }
    if (map.mode !== "pan") return;
    if (event?.shiftKey) {
      const has = state.selection.includes(id);
      setSelection(has ? state.selection.filter((u) => u !== id) : [...state.selection, id]);
    } else setSelection([id]);
    if (props?.grid && !state.focus) focusGrid(props.grid);
  };
  const select = async (json, additive) => {
    try {
      const { data } = await call("POST", `/drafts/${enc(state.draftId)}/select`, { json });
      const ids = Array.isArray(data) ? data : data.units ?? data.unit_ids ?? [];
      setSelection(ids, additive);
    } catch (error) {
      fail(error);
    }
  };
  map.onBox = (box, additive) => select({ box }, additive);
  map.onLasso = (polygon, additive) => select({ polygon }, additive);
  map.onLine = (line) => {
    state.line = line;
    $("#split-go").disabled = false;
  };
  for (const button of $$("[data-mode]")) {
    button.addEventListener("click", () => {
      map.setMode(button.dataset.mode);
      for (const b of $$("[data-mode]")) b.setAttribute("aria-pressed", String(b === button));
      state.line = null;
      $("#split-go").disabled = true;
    });
  }
  $("#selection-clear").addEventListener("click", () => setSelection([]));
  action($("#assign-go"), () => edit({ op: "move", units: state.selection, to: $("#assign-grid").value }));
  action($("#new-grid"), async () => {
    const name = $("#new-grid-name").value.trim();
    await edit({ op: "new_grid", units: state.selection, ...(name ? { name } : {}) });
  });
  action($("#split-go"), async () => {
    const grid = state.focus || $("#assign-grid").value;
    await edit({ op: "split", grid, line: state.line });
    state.line = null;
    map.setMode(map.mode);
    $("#split-go").disabled = true;
  });
  action($("#merge-go"), () => edit({ op: "merge", grids: [$("#merge-a").value, $("#merge-b").value] }));
  action($("#undo"), () => step("undo"));
  action($("#redo"), () => step("redo"));
  action($("#balance-this"), () => propose([state.focus || $("#assign-grid").value]));
  action($("#balance-all"), () => propose(null));
  action($("#repartition"), () => propose([state.focus || $("#assign-grid").value], "repartition"));
  action($("#proposal-accept"), () => decide("accept"));
  action($("#proposal-reject"), () => decide("reject"));
  $("#compare").addEventListener("change", (e) => compare(e.target.checked).catch(fail));
  document.addEventListener("keydown", (event) => {
    if (!state.draftId || !(event.ctrlKey || event.metaKey)) return;
    if (event.target.matches?.("input[type=text], input:not([type]), textarea")) return;
    const key = event.key.toLowerCase();
    if (key === "z" && !event.shiftKey) {
      event.preventDefault();
      $("#undo").click();
    } else if (key === "y" || (key === "z" && event.shiftKey)) {
      event.preventDefault();
      $("#redo").click();
    }
  });
}
