// The Publish and Staff panels: the change list, save (If-Match; a conflict shows both
// versions and keeps the draft), approve / activate, printing, and the draft grids' staff.
import { ApiError, call, download, enc } from "./api.js";
import { t } from "./i18n.js";
import { $, action, el, fail, say, state, statusWord } from "./ui.js";
import { gridsOf, reload } from "./editor.js";
import { loadPlans, loadVersions } from "./plans.js";

function needDraft() {
  if (!state.draftId) throw new Error(t("draft_none"));
  return enc(state.draftId);
}

async function exportChanges(format) {
  const id = needDraft();
  const file = await download(`/drafts/${id}/changes?format=${format}`, `changes.${format}`);
  say(`${t("export_changes")}: ${file.name}`, "ok");
}

async function save(overwrite = false) {
  const id = needDraft();
  const note = $("#save-note").value;
  try {
    const { data, etag } = await call("POST", `/drafts/${id}/save`, { json: { note, ...(overwrite ? { overwrite: true } : {}) }, ifMatch: state.etag });
    const saved = data.version && typeof data.version === "object" ? data.version : data;
    state.saved = { plan: saved.plan ?? state.plan?.name, version: saved.version, status: saved.status ?? "draft", etag };
    $("#saved-version").textContent = t("saved_version", { version: state.saved.version, status: statusWord(state.saved.status) });
    say(t("saved", { plan: state.saved.plan, version: state.saved.version }), "ok");
    await reload(); // the save moved the draft to a new revision (and base version)
    if (state.saved.plan) await loadVersions(state.saved.plan).catch(() => {});
  } catch (error) {
    if (error instanceof ApiError && error.status === 412) showConflict(error.body || {});
    else throw error;
  }
}

function facts(version) {
  if (!version || typeof version !== "object") return [];
  const lines = [];
  for (const [key, value] of Object.entries(version)) {
    if (value === null || typeof value === "object") continue;
    lines.push(`${key}: ${value}`);
  }
  return lines;
}

function showConflict(body) {
  const theirs = body.theirs ?? body.latest ?? body.current ?? {};
  const mine = body.yours ?? body.mine ?? {};
  $("#conflict-theirs").textContent = t("conflict_theirs", {
    version: theirs.version ?? "?", by: theirs.created_by ?? theirs.by ?? "", at: theirs.created_at ?? theirs.at ?? "",
  });
  $("#conflict-mine").textContent = t("conflict_mine", {
    version: mine.base_version ?? mine.version ?? state.plan?.version ?? "?",
    edits: mine.edits ?? mine.revision ?? state.draft?.revision ?? "?",
  });
  $("#conflict-theirs-list").replaceChildren(...facts(theirs).map((l) => el("li", { text: l })));
  $("#conflict-mine-list").replaceChildren(...facts(mine).map((l) => el("li", { text: l })));
  say(`${t("conflict_title")}: ${t("conflict_text")}`, "error", [body.detail].filter((d) => typeof d === "string"));
  $("#conflict").showModal();
}

// approve / activate a version with the ETag read just before (If-Match)
async function review(verb, name, version) {
  const path = `/plans/${enc(name)}/versions/${version}`;
  const { etag } = await call("GET", path);
  const { data } = await call("POST", `${path}/${verb}`, { ifMatch: etag });
  say(t(verb === "approve" ? "approved" : "activated", { version: data.version }), "ok");
  if (state.saved && state.saved.version === data.version) state.saved.status = data.status;
  await loadPlans().catch(() => {});
  await loadVersions(name);
}

function target() {
  if (state.saved) return [state.saved.plan, state.saved.version];
  if (state.plan) return [state.plan.name, state.plan.version];
  throw new Error(t("draft_none"));
}

async function print(kind) {
  const id = needDraft();
  const file = await download(`/drafts/${id}/maps/${kind}.pdf`, `${kind}.pdf`);
  say(`${t(`print_${kind}`)}: ${file.name}`, "ok");
}

// ------------------------------------------------------------------ staff

let roles = [];
let people = [];

function staffRow(member = {}) {
  const role = el("select", { "aria-label": t("staff_role") },
    ...roles.map((r) => el("option", { value: r.key, text: r.name, selected: r.key === member.role })));
  const person = el("select", { "aria-label": t("staff_person") }, el("option", { value: "", text: t("staff_pick") }),
    ...people.map((p) => el("option", { value: p.id, text: `${p.name} ${p.phone ?? ""}`, selected: p.id === member.person_id })));
  const name = el("input", { type: "text", value: member.name ?? "", maxlength: 50, "aria-label": t("staff_name") });
  const phone = el("input", { type: "tel", value: member.phone ?? "", maxlength: 20, "aria-label": t("staff_phone") });
  person.addEventListener("change", () => {
    const p = people.find((x) => String(x.id) === person.value);
    if (p) {
      name.value = p.name;
      // a masked phone (138****0000: the key may not read it in clear) is left to type in
      phone.value = p.phone && !p.phone.includes("*") ? p.phone : "";
    }
  });
  const remove = el("button", { type: "button", text: "×", "aria-label": t("close") });
  const row = el("tr", {}, el("td", {}, role), el("td", {}, person), el("td", {}, name), el("td", {}, phone), el("td", {}, remove));
  remove.addEventListener("click", () => row.remove());
  row.read = () => ({ role: role.value, name: name.value.trim(), phone: phone.value.trim(), ...(person.value ? { person_id: Number(person.value) } : {}) });
  return row;
}

function showStaff() {
  const code = $("#staff-grid").value;
  const staff = state.draft?.staff?.[code] ?? gridsOf(state.draft).find((g) => g.code === code)?.staff ?? [];
  $("#staff-table tbody").replaceChildren(...staff.map(staffRow));
}

async function loadRoster() {
  try {
    roles = (await call("GET", "/roles")).data;
    people = (await call("GET", "/people", { query: { limit: 500 } })).data;
  } catch (error) {
    fail(error);
  }
}

async function saveStaff() {
  const id = needDraft();
  const code = $("#staff-grid").value;
  const rows = [...$("#staff-table tbody").children].map((row) => row.read());
  const { data } = await call("PUT", `/drafts/${id}/staff/${enc(code)}`, { json: rows });
  say(t("staff_saved", { code }), "ok");
  if (data && typeof data === "object" && data.grids) {
    state.draft = data;
    state.etag = `"${data.etag}"`;
  }
}

export function installPublish() {
  action($("#changes-xlsx"), () => exportChanges("xlsx"));
  action($("#changes-pdf"), () => exportChanges("pdf"));
  $("#save").addEventListener("submit", (e) => {
    e.preventDefault();
    save().catch(fail);
  });
  action($("#conflict-overwrite"), async () => {
    $("#conflict").close();
    await save(true);
  });
  $("#conflict-keep").addEventListener("click", () => $("#conflict").close());
  action($("#approve"), () => review("approve", ...target()));
  action($("#activate"), () => review("activate", ...target()));
  for (const kind of ["wall", "signs", "cards"]) action($(`#print-${kind}`), () => print(kind));
  $("#staff-grid").addEventListener("change", showStaff);
  document.addEventListener("focus-grid", showStaff);
  document.addEventListener("draft", showStaff);
  document.addEventListener("signed-in", () => {
    if (state.session?.can_edit) loadRoster();
  });
  action($("#staff-add"), async () => $("#staff-table tbody").append(staffRow({ role: roles[0]?.key })));
  action($("#staff-save"), saveStaff);
}

export { review };
