// The Plans and Partition panels: plan list, versions, open as draft, upload with the
// validation problems on the map, and partition jobs with progress and cancel.
import { ApiError, call, enc, getKey } from "./api.js";
import { t } from "./i18n.js";
import { $, action, el, fail, say, state, statusWord } from "./ui.js";
import { openDraft } from "./editor.js";
import { review } from "./publish.js";

export async function loadPlans() {
  const list = $("#plans");
  list.replaceChildren();
  if (!getKey()) return;
  const { data } = await call("GET", "/plans");
  if (!data.length) list.append(el("li", { class: "empty", text: t("plans_empty") }));
  for (const plan of data) {
    const facts = [t("plan_latest", { version: plan.latest_version, status: statusWord(plan.latest_status) })];
    if (plan.active_version) facts.push(t("plan_active", { version: plan.active_version }));
    const button = el("button", { type: "button", class: "plan", dataset: { plan: plan.name } },
      el("strong", { text: plan.name }), el("span", { class: "facts", text: ` ${facts.join(" · ")}` }));
    button.addEventListener("click", () => loadVersions(plan.name).catch(fail));
    list.append(el("li", {}, button));
  }
}

export async function loadVersions(name) {
  const box = $("#versions");
  const { data } = await call("GET", `/plans/${enc(name)}/versions`);
  const rows = data.slice().reverse().map((v) => {
    const open = el("button", { type: "button", class: "open-version", "data-needs": "edit", dataset: { version: v.version }, text: t("open_draft") });
    action(open, () => openVersion(name, v.version));
    const row = el("li", { class: `version st-${v.status}`, dataset: { version: v.version } },
      el("span", { text: t("version_row", { version: v.version, status: statusWord(v.status), by: v.created_by ?? "" }) }), " ", open);
    const verb = { draft: "approve", approved: "activate" }[v.status];
    if (verb) {
      const button = el("button", { type: "button", class: `review-${verb}`, "data-needs": "approve", text: t(verb) });
      action(button, () => review(verb, name, v.version));
      row.append(" ", button);
    }
    return row;
  });
  box.replaceChildren(el("h3", { text: t("versions_of", { name }) }), el("ul", { class: "list" }, ...rows));
  state.plan = { name, version: data.at(-1)?.version };
  document.dispatchEvent(new CustomEvent("roles"));
}

export async function openVersion(name, version) {
  const band = $("#open-band").value.trim();
  const { data, etag, headers: h } = await call("POST", "/drafts", { json: { plan: name, version, ...(band ? { band } : {}) } });
  const id = data.id ?? h.get("Location")?.split("/").pop();
  state.plan = { name, version };
  await openDraft(id, { data, etag }); // the answer is the draft's state: no second read
}

// ------------------------------------------------------------------ upload

function problemsOf(body) {
  // the 422 body: problem_details (GeoJSON features: the gap / overlap / outside part), else
  // the lines "… at lon, lat: …"
  if (Array.isArray(body?.problem_details)) {
    return body.problem_details.map((f) => ({ ...f.properties, geometry: f.geometry }));
  }
  return (body?.problems || []).map((p) => {
    if (typeof p === "object") return p;
    const match = /\bat (-?\d+(?:\.\d+)?), (-?\d+(?:\.\d+)?)/.exec(p);
    return { line: p, lon: match ? Number(match[1]) : null, lat: match ? Number(match[2]) : null };
  });
}

export function showProblems(problems) {
  const box = $("#problems");
  const list = $("#problem-list");
  list.replaceChildren();
  box.hidden = !problems.length;
  problems.forEach((p, i) => {
    const item = el("li", { class: "problem" }, el("span", { text: p.line || p.label || p.kind }));
    if (p.lon != null || p.geometry) {
      item.append(" ", el("button", { type: "button", class: "problem-go", text: t("problem_here"), onclick: () => state.map.focusProblem(i) }));
    }
    list.append(item);
  });
  state.map.setProblems(problems);
}

async function upload(event) {
  event.preventDefault();
  const file = $("#upload-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file, file.name);
  const crs = $("#upload-crs").value.trim();
  try {
    const { data } = await call("POST", "/plans", { body: form, query: { crs: crs || undefined } });
    showProblems([]);
    say(t("upload_ok", { name: data.plan ?? data.name, version: data.version }), "ok");
    await loadPlans();
    await loadVersions(data.plan ?? data.name);
  } catch (error) {
    if (error instanceof ApiError && error.status === 422 && (error.body?.problems || error.body?.problem_details)) {
      const problems = problemsOf(error.body);
      showProblems(problems);
      say(t("upload_problems", { count: problems.length }), "error");
    } else fail(error);
  }
}

// ------------------------------------------------------------------ partition jobs

let polling = null;

// The parents of the open draft's grids (the communities): what "all" partitions again.
function areasOfDraft() {
  const parents = (state.draft?.grids ?? []).map((g) => g.parent_code).filter(Boolean);
  return [...new Set(parents)];
}

async function startPartition(event) {
  event.preventDefault();
  const band = $("#partition-band").value.trim();
  const then = $("#partition-then").value.trim() || undefined;
  const source = document.querySelector("input[name=source]:checked").value;
  let answer;
  if (source === "files") {
    const form = new FormData();
    for (const field of ["area", "households", "barriers"]) {
      const file = $(`#partition-${field}`).files[0];
      if (file) form.append(field, file, file.name);
    }
    form.append("band", band);
    if (then) form.append("then_band", then);
    answer = await call("POST", "/jobs/partition", { body: form });
  } else {
    if (!state.plan) throw new Error(t("draft_none"));
    let grids = $("#partition-grids").value.split(/[,，\s]+/).filter(Boolean);
    if (!grids.length) grids = areasOfDraft();
    const json = { plan: state.plan.name, version: state.plan.version, band, then_band: then, grids };
    answer = await call("POST", "/jobs/partition", { json });
  }
  const id = answer.data.id ?? answer.headers.get("Location")?.split("/").pop();
  await followJob(id);
}

export async function followJob(id) {
  $("#job").hidden = false;
  $("#job-cancel").dataset.job = id;
  $("#job-cancel").hidden = false;
  clearTimeout(polling);
  return new Promise((resolve) => {
    const tick = async () => {
      try {
        const { data } = await call("GET", `/jobs/${enc(id)}`);
        const p = data.progress || {};
        const word = { queued: "job_queued", running: "job_running", succeeded: "job_succeeded", failed: "job_failed_state", cancelled: "job_cancelled_state" }[data.state];
        $("#job-state").textContent = t("job_state", { id: id.slice(0, 8), state: word ? t(word) : data.state });
        $("#job").dataset.state = data.state;
        $("#job-progress").max = p.total || 1;
        $("#job-progress").value = p.done || 0;
        $("#job-message").textContent = t("job_progress", { done: p.done ?? 0, total: p.total ?? "?", message: p.message ?? "" });
        if (data.state === "done" || data.state === "succeeded") {
          $("#job-cancel").hidden = true;
          const draft = data.result?.draft;
          if (draft) {
            await openDraft(draft);
            say(t("job_done"), "ok");
          } else say(t("job_result", { grids: data.result?.grids ?? "?", households: data.result?.households ?? "?" }), "ok");
          resolve(data);
          return;
        }
        if (["failed", "error", "cancelled", "canceled"].includes(data.state)) {
          $("#job-cancel").hidden = true;
          if (data.state.startsWith("cancel")) say(t("job_cancelled"), "warn");
          else say(t("job_failed", { message: data.error ?? p.message ?? "" }), "error");
          resolve(data);
          return;
        }
        polling = setTimeout(tick, 500);
      } catch (error) {
        fail(error);
        resolve(null);
      }
    };
    tick();
  });
}

export function installPlans() {
  action($("#plans-refresh"), loadPlans);
  $("#upload").addEventListener("submit", (e) => upload(e).catch(fail));
  $("#partition").addEventListener("submit", (e) => startPartition(e).catch(fail));
  for (const radio of document.querySelectorAll("input[name=source]")) {
    radio.addEventListener("change", () => {
      const files = radio.value === "files" && radio.checked;
      if (!radio.checked) return;
      document.querySelector(".when-files").hidden = !files;
      document.querySelector(".when-plan").hidden = files;
    });
  }
  action($("#job-cancel"), async () => {
    await call("DELETE", `/jobs/${enc($("#job-cancel").dataset.job)}`);
  });
}
