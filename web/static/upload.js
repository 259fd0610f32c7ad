// The creator page: sign-in with an API key, drag-and-drop uploads (static/uploads.js), and the list
// of videos: poster, title, state in words, duration, size, date, owner; search, state filter, more
// pages; edit, share (playback URL and embed code), delete after confirming.
import { authHeaders, saveKey, storedKey } from "./auth.js";
import { embedSnippet, humanDate, humanDuration, humanSize, stateText } from "./format.js";
import { assetsUrl } from "./listing.js";
import { UploadQueue } from "./uploads.js";

const config = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);
if (config.missing && config.missing.length) {
  // A notice, not a dead end: the API works, and the page picks up the build on its next load.
  document.querySelector("main").insertAdjacentHTML("afterbegin", '<p class="notice" id="missing" role="status"></p>');
  $("missing").textContent =
    `Uploading and playing here need the front-end libraries: missing ${config.missing.join(", ")}. ` +
    "Reload this page after the build; the API works meanwhile.";
}

const tokenInput = $("token");
function showSignedIn() {
  const signedIn = Boolean(storedKey());
  $("signed-in").hidden = !signedIn;
  $("sign-in-form").hidden = signedIn;
  tokenInput.value = "";
}
$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  saveKey(tokenInput.value);
  showSignedIn();
  refreshAssets();
});
$("sign-out").addEventListener("click", () => {
  saveKey("");
  showSignedIn();
  refreshAssets();
});
showSignedIn();

// Uploads: one row per file; the summary bar and line cover them all.
const queue = new UploadQueue({
  api: config.api,
  chunkBytes: config.chunkBytes,
  list: $("uploads"),
  onChange({ fraction, done, count, running }) {
    $("upload-progress").value = fraction;
    const paused = queue.items.some((i) => i.state === "paused");
    $("pause").disabled = running === 0;
    $("resume").disabled = !paused;
    $("upload-status").textContent = count === 1 ? `${queue.items[0].file.name}: ${queue.text(queue.items[0])}` : `${done} of ${count} uploaded`;
    if (done === count && count > 1) $("upload-status").textContent += " (all uploaded, transcoding)";
    mergeLocalProgress();
  },
  onDone: () => refreshAssets(),
});

function upload(files) {
  if (!files.length) return ($("upload-status").textContent = "choose a file first");
  if (!storedKey()) return ($("upload-status").textContent = "sign in with an API key first");
  queue.add([...files]);
}
$("start").addEventListener("click", () => upload($("file").files));
$("pause").addEventListener("click", () => queue.pause());
$("resume").addEventListener("click", () => queue.resume());

const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  upload(e.dataTransfer ? e.dataTransfer.files : []);
});
// The list: first page plus the pages "Show more" loaded (GET /assets with cursor pagination where
// the server has it: Link rel="next"; without it, one page).
let assets = [];
let pages = 1;
let hasMore = false;
const PAGE = 25;

function nextLink(resp) {
  const link = resp.headers.get("link") || "";
  const match = link.match(/<([^>]+)>\s*;\s*rel="?next"?/);
  return match ? new URL(match[1], location.href).href : null;
}

async function fetchPages() {
  // The server searches titles and descriptions (GET /assets?q=), so every page is a match.
  let url = assetsUrl(config.api, PAGE, $("state-filter").value, $("search").value);
  const rows = [];
  let next = null;
  for (let page = 0; page < pages && url; page++) {
    const resp = await fetch(url, { headers: authHeaders() });
    if (resp.status === 401) throw new Error("the key was refused: sign out and paste a valid one");
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    rows.push(...(await resp.json()));
    next = nextLink(resp);
    url = next;
  }
  return { rows, next };
}

function visible() {
  const state = $("state-filter").value;
  // Also filtered here: a server without the state filter answers every state.
  return assets.filter((a) => !state || a.state === state);
}

function cell(row, text, className) {
  const td = document.createElement("td");
  if (text !== undefined) td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function button(text, className, label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.className = className;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

function details(asset) {
  if (asset.state === "failed") return asset.error || "the transcode failed";
  const parts = [];
  if (asset.width && asset.height) parts.push(`${asset.width}×${asset.height}`);
  const heights = asset.renditions.filter((r) => r.kind === "video" && r.height).map((r) => r.height);
  if (heights.length) parts.push(`${heights.length} qualities up to ${Math.max(...heights)}p`);
  if (asset.visibility === "private") parts.push("private");
  return parts.join(", ");
}

function buildRow(asset) {
  const row = document.createElement("tr");
  row.dataset.assetId = asset.id;
  row.dataset.state = asset.state;
  const name = asset.title || asset.id;
  const poster = cell(row);
  if (asset.playback && asset.playback.poster) {
    const img = document.createElement("img");
    img.className = "poster";
    img.src = asset.playback.poster;
    img.alt = `poster of ${name}`;
    img.loading = "lazy";
    poster.appendChild(img);
  }
  cell(row, name, "title");
  cell(row, stateText(asset), `state state-${asset.state}`);
  const progress = document.createElement("progress");
  progress.max = 1;
  progress.value = asset.state === "ready" ? 1 : asset.progress || 0;
  progress.setAttribute("aria-label", `progress of ${name}`);
  cell(row).appendChild(progress);
  cell(row, humanDuration(asset.duration));
  cell(row, humanSize(asset.size));
  cell(row, humanDate(asset.created_at));
  cell(row, asset.owner || "", "owner-col");
  cell(row, details(asset), asset.state === "failed" ? "error" : "muted");
  const actions = cell(row);
  actions.className = "actions";
  if (asset.playback && asset.playback.hls) {
    const watch = document.createElement("a");
    watch.href = `/watch/${encodeURIComponent(asset.id)}`;
    watch.textContent = "Watch";
    watch.className = "watch";
    watch.setAttribute("aria-label", `watch ${name}`);
    actions.appendChild(watch);
    actions.appendChild(button("Share", "share", `share ${name}`, () => share(asset)));
  }
  actions.appendChild(button("Edit", "edit", `edit ${name}`, () => edit(asset)));
  actions.appendChild(button("Delete", "delete", `delete ${name}`, () => confirmDelete(asset)));
  return row;
}

// Rows are rebuilt only when their asset changed, so focus and a click in progress survive the poll.
function renderAssets() {
  const body = document.querySelector("#assets tbody");
  const old = new Map([...body.children].map((tr) => [tr.dataset.assetId, tr]));
  const rows = visible().map((asset) => {
    const sig = JSON.stringify({ ...asset, playback: asset.playback && Object.keys(asset.playback).filter((k) => asset.playback[k]) });
    const existing = old.get(asset.id);
    if (existing && existing.dataset.sig === sig) return existing;
    const row = buildRow(asset);
    row.dataset.sig = sig;
    if (existing && existing.contains(document.activeElement)) {
      const cls = document.activeElement.className;
      queueMicrotask(() => row.querySelector(`.${cls}`)?.focus());
    }
    return row;
  });
  body.replaceChildren(...rows);
  // The owner column is for admin keys, which see several owners.
  const owners = new Set(assets.map((a) => a.owner).filter(Boolean));
  document.querySelector("#assets").classList.toggle("one-owner", owners.size < 2);
  $("more").hidden = !hasMore;
  mergeLocalProgress();
}

// An uploading row shows this browser's own upload progress when it has it (the same file name).
function mergeLocalProgress() {
  for (const tr of document.querySelectorAll('#assets tbody tr[data-state="uploading"]')) {
    const title = tr.querySelector("td.title").textContent;
    const item = queue.items.find((i) => i.file.name === title && i.total);
    if (!item) continue;
    const fraction = item.sent / item.total;
    tr.querySelector("progress").value = fraction;
    tr.querySelector("td.state").textContent = stateText({ state: "uploading", progress: fraction });
  }
}

let listRequests = 0;
async function refreshAssets() {
  if (!storedKey()) {
    assets = [];
    renderAssets();
    $("assets-status").textContent = "sign in with an API key to see your videos";
    return;
  }
  const asked = ++listRequests;
  try {
    const { rows, next } = await fetchPages();
    if (asked !== listRequests) return; // a later search or poll was sent meanwhile: its answer wins
    assets = rows;
    hasMore = Boolean(next);
    renderAssets();
    const searched = $("search").value.trim();
    $("assets-status").textContent = assets.length ? "" : searched ? "no video's title or description contains that" : "no videos yet: drop one above";
  } catch (error) {
    $("assets-status").textContent = `video list unavailable: ${error.message}`;
  }
}

// Typing asks the server once the box has been still for a moment, from the first page.
let searchTimer = null;
$("search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    pages = 1;
    refreshAssets();
  }, 250);
});
$("state-filter").addEventListener("change", () => {
  pages = 1;
  refreshAssets();
});
$("more").addEventListener("click", () => {
  pages++;
  refreshAssets();
});

// Edit: PATCH /assets/{id} with title, description, visibility.
let editing = null;
// A private asset's playback URLs carry a signed token (the query parameter "token").
const signed = (asset) => Boolean(asset.playback && asset.playback.hls && new URL(asset.playback.hls).searchParams.has("token"));
function edit(asset) {
  editing = asset;
  $("edit-title").value = asset.title || "";
  $("edit-description").value = asset.description || "";
  $("edit-visibility").value = asset.visibility || (signed(asset) ? "private" : "public");
  $("edit-error").textContent = "";
  $("edit-dialog").showModal();
}
$("edit-form").addEventListener("submit", async (event) => {
  if (event.submitter && event.submitter.value !== "save") return;
  event.preventDefault();
  const body = { title: $("edit-title").value.trim() || null, description: $("edit-description").value.trim() || null, visibility: $("edit-visibility").value };
  const resp = await fetch(`${config.api}/assets/${encodeURIComponent(editing.id)}`, {
    method: "PATCH",
    headers: { ...authHeaders(), "content-type": "application/json" },
    body: JSON.stringify(body),
  }).catch(() => null);
  if (resp && resp.ok) {
    $("edit-dialog").close();
    $("assets-status").textContent = `saved ${body.title || editing.id}`;
    refreshAssets();
    return;
  }
  const problem = resp ? await resp.json().catch(() => ({})) : {};
  $("edit-error").textContent =
    // No PATCH route: 405, or the page's own catch-all 404 (not the API's JSON "not_found").
    resp && (resp.status === 405 || (resp.status === 404 && problem.error !== "not_found"))
      ? "This server cannot edit videos yet (its asset API has no PATCH /assets)."
      : `Not saved: ${problem.message || problem.detail?.[0]?.msg || (resp ? `HTTP ${resp.status}` : "the server did not answer")}`;
});

function share(asset) {
  $("share-url").value = asset.playback.hls;
  $("share-embed").value = embedSnippet(location.origin, asset);
  $("share-status").textContent = signed(asset)
    ? "This video is private: these links carry a signed token and stop working when it expires."
    : "";
  $("share-dialog").showModal();
}
async function copy(id, what) {
  try {
    await navigator.clipboard.writeText($(id).value);
    $("share-status").textContent = `${what} copied`;
  } catch {
    $(id).select(); // no clipboard permission: selected, ready for Ctrl+C
    $("share-status").textContent = `${what} selected: press Ctrl+C to copy`;
  }
}
$("copy-url").addEventListener("click", () => copy("share-url", "playback URL"));
$("copy-embed").addEventListener("click", () => copy("share-embed", "embed code"));

let deleting = null;
function confirmDelete(asset) {
  deleting = asset;
  $("delete-text").textContent = `“${asset.title || asset.id}” and all its published streams will be deleted. This cannot be undone.`;
  $("delete-dialog").returnValue = ""; // Escape keeps the last value: never a stale "delete"
  $("delete-dialog").showModal();
}
$("delete-dialog").addEventListener("close", async () => {
  if ($("delete-dialog").returnValue !== "delete" || !deleting) return;
  const { id, title } = deleting;
  deleting = null;
  const resp = await fetch(`${config.api}/assets/${encodeURIComponent(id)}`, { method: "DELETE", headers: authHeaders() }).catch(() => null);
  $("assets-status").textContent = resp && resp.ok ? `deleted ${title || id}` : `delete failed: ${resp ? `HTTP ${resp.status}` : "no answer"}`;
  refreshAssets();
});

refreshAssets();
setInterval(refreshAssets, config.pollMs || 1500);
