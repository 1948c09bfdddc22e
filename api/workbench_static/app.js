// The workbench page: language, sign-in, tabs, roles; the panels live in their modules.
import { ApiError, call, getKey, setKey } from "./api.js";
import { installEditor, selectTab } from "./editor.js";
import { setLang, t, translate } from "./i18n.js";
import { fontsSettled, installFonts } from "./fonts.js";
import { MapView } from "./map.js";
import { installPlans, loadPlans } from "./plans.js";
import { installPublish } from "./publish.js";
import { $, $$, fail, say, state } from "./ui.js";

const config = JSON.parse($("#config").textContent);

// Buttons a role may not use are hidden (the server refuses them anyway).
function applyRoles() {
  const session = state.session;
  for (const node of $$("[data-needs]")) {
    const need = node.dataset.needs;
    node.hidden = !session || (need === "edit" && !session.can_edit) || (need === "approve" && !session.can_approve);
  }
}

async function signIn(key) {
  setKey(key);
  try {
    const { data } = await call("GET", "/workbench/me");
    state.session = data;
    $("#who").textContent = t("signed_in", { name: data.name, role: t(`role_${data.role}`) });
    $("#signout").hidden = false;
    $("#key").value = "";
    applyRoles();
    document.dispatchEvent(new CustomEvent("signed-in"));
    await loadPlans();
  } catch (error) {
    setKey("");
    state.session = null;
    applyRoles();
    $("#who").textContent = t("signed_out");
    if (error instanceof ApiError && error.status === 401) say(t("need_key"), "error", [error.message]);
    else fail(error);
  }
}

function signOut() {
  setKey("");
  state.session = null;
  $("#who").textContent = t("signed_out");
  $("#signout").hidden = true;
  $("#plans").replaceChildren();
  $("#versions").replaceChildren();
  applyRoles();
}

function installTabs() {
  for (const tab of $$(".tabs [role=tab]")) tab.addEventListener("click", () => selectTab(tab.dataset.tab));
}

function installLanguage() {
  const other = config.lang === "zh" ? "en" : "zh";
  const link = $("#lang");
  const url = new URL(window.location.href);
  url.searchParams.set("lang", other);
  link.href = url.pathname + url.search;
}

function boot() {
  setLang(config.lang);
  installFonts();
  translate();
  installLanguage();
  state.map = new MapView($("#map"), { basemap: config.basemap });
  installTabs();
  installPlans();
  installEditor();
  installPublish();
  document.addEventListener("roles", applyRoles);
  document.addEventListener("draft", applyRoles);
  $("#signin").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("#key").value.trim());
  });
  $("#signout").addEventListener("click", signOut);
  applyRoles();
  if (getKey()) signIn(getKey());
  else $("#who").textContent = t("signed_out");
  window.workbench = { state, fontsSettled }; // for scripts and tests: read-only use
  document.body.dataset.ready = "true";
}

boot();
