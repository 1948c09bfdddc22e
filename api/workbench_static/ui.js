// Shared page state and small helpers: messages, error wording, element lookup.
import { ApiError } from "./api.js";
import { t } from "./i18n.js";

export const state = {
  session: null, // GET /workbench/me
  plan: null, // {name, version} the draft was opened from (or the selected plan)
  draftId: null,
  draft: null, // GET /drafts/{id} answer (or an edit's answer)
  etag: null, // "r<revision>"
  selection: [], // unit ids
  proposal: null,
  saved: null, // the version the last save stored: {plan, version, status, etag}
  map: null, // MapView
};

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// A message in the message area (kind: info, ok, warn, error); lines = extra detail lines.
export function say(text, kind = "info", lines = []) {
  const box = $("#messages");
  const item = el("div", { class: `msg msg-${kind}`, role: kind === "error" ? "alert" : null });
  item.append(el("span", { class: "msg-text", text }));
  if (lines.length) item.append(el("ul", {}, ...lines.map((l) => el("li", { text: l }))));
  item.append(el("button", { type: "button", class: "msg-close", "aria-label": t("close"), text: "×", onclick: () => item.remove() }));
  box.prepend(item);
  while (box.children.length > 4) box.lastChild.remove();
  return item;
}

// An error answer as a clear message; never thrown further (no console error for a refusal).
export function fail(error) {
  if (error instanceof ApiError) {
    const message = error.message;
    if (error.status === 401) say(t("need_key"), "error");
    else if (error.status === 403) say(t("denied", { message }), "error");
    else if (error.status === 404 && error.body?.error === "NotFound") say(t("unavailable", { message }), "error");
    else if (error.status === 404) say(t("not_found", { message }), "error");
    else say(t("error", { message }), "error");
    return;
  }
  say(t("error", { message: String(error?.message || error) }), "error");
}

// Run an async action from a button: disables it meanwhile; errors become messages.
export function action(button, run) {
  button.addEventListener("click", async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    document.body.classList.add("busy");
    try {
      await run(event);
    } catch (error) {
      fail(error);
    } finally {
      button.disabled = false;
      document.body.classList.remove("busy");
    }
  });
}

export function statusWord(status) {
  return t(`status_${status}`) || status;
}
