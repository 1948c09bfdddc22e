// Chinese in any browser: the page's own font (an @font-face rule in the page) holds the
// interface words; names that come with the data (plans, grids, people, the server's
// messages) get a second font, asked for once they are shown (POST /workbench/font).
import { call } from "./api.js";
import { state } from "./ui.js";

const PAGE_FAMILY = '"Geogrid CJK"';
const FALLBACK = '"Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif';
const seen = new Set();
let asked = 0;
let timer = null;
let pending = Promise.resolve();

function collect(node) {
  const text = node.nodeType === Node.TEXT_NODE ? node.data : node.textContent || "";
  let added = false;
  for (const ch of text) {
    if (ch.codePointAt(0) >= 0x2e80 && !seen.has(ch)) {
      seen.add(ch);
      added = true;
    }
  }
  for (const el of node.querySelectorAll ? node.querySelectorAll("input[value], option") : []) {
    for (const ch of el.value || "") if (ch.codePointAt(0) >= 0x2e80) seen.add(ch);
  }
  return added;
}

async function ask() {
  if (!state.session || seen.size === asked) return; // signed in: the route needs a key
  const text = [...seen].join("");
  const { data } = await call("POST", "/workbench/font", { json: { text } });
  const face = new FontFace(data.family, `url(${data.url})`);
  await face.load();
  document.fonts.add(face);
  asked = text.length;
  document.documentElement.style.setProperty("--font", `"${data.family}", ${PAGE_FAMILY}, ${FALLBACK}`);
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(() => {
    pending = pending.then(ask).catch(() => {}); // a font is a nicety: the text is there anyway
  }, 150);
}

export function installFonts() {
  const observer = new MutationObserver((records) => {
    let added = false;
    for (const record of records) {
      for (const node of record.addedNodes) added = collect(node) || added;
      if (record.type === "characterData") added = collect(record.target) || added;
    }
    if (added) schedule();
  });
  observer.observe(document.body, { childList: true, subtree: true, characterData: true });
  document.addEventListener("input", (event) => {
    if (typeof event.target.value === "string" && collect(document.createTextNode(event.target.value))) schedule();
  });
  document.addEventListener("signed-in", schedule);
}

// Settles when the data font asked for so far is in use (tests, screenshots).
export function fontsSettled() {
  return new Promise((resolve) => setTimeout(resolve, 200)).then(() => pending).then(() => document.fonts.ready);
}
