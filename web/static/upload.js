// The upload page: sign-in with an API key, a resumable TUS upload (tus-js-client), the live asset list.
import { authHeaders, saveKey, storedKey } from "./auth.js";

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

let upload = null;

function setUploadStatus(text, fraction) {
  $("upload-status").textContent = text;
  if (fraction !== undefined) $("upload-progress").value = fraction;
}

function buttons(uploading) {
  $("start").disabled = uploading;
  $("pause").disabled = !uploading;
  $("resume").disabled = true;
}

function startUpload() {
  const file = $("file").files[0];
  if (!file) {
    setUploadStatus("choose a file first");
    return;
  }
  if (!storedKey()) {
    setUploadStatus("sign in with an API key first");
    return;
  }
  upload = new tus.Upload(file, {
    endpoint: `${config.api}/files/`,
    headers: authHeaders(),
    metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
    chunkSize: config.chunkBytes || 8 * 1024 * 1024,
    retryDelays: [0, 1000, 3000, 5000, 10000],
    // Resumable across page reloads: the upload URL is remembered by file fingerprint.
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
    onProgress(sent, total) {
      const pct = total ? (100 * sent) / total : 0;
      setUploadStatus(`${file.name}: ${pct.toFixed(1)}% (${(sent / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB)`, total ? sent / total : 0);
    },
    onSuccess() {
      setUploadStatus(`${file.name}: uploaded, transcoding`, 1);
      buttons(false);
      refreshAssets();
    },
    onError(error) {
      setUploadStatus(`upload failed: ${error.message || error}`);
      buttons(false);
    },
  });
  buttons(true);
  setUploadStatus(`${file.name}: starting`, 0);
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
    upload.start();
  });
}

$("start").addEventListener("click", startUpload);
$("pause").addEventListener("click", () => {
  if (!upload) return;
  upload.abort();
  $("pause").disabled = true;
  $("resume").disabled = false;
  setUploadStatus(`${$("upload-status").textContent} (paused)`);
});
$("resume").addEventListener("click", () => {
  if (!upload) return;
  upload.start();
  $("pause").disabled = false;
  $("resume").disabled = true;
});

function cell(row, text, className) {
  const td = document.createElement("td");
  if (text !== undefined) td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function details(asset) {
  if (asset.state === "failed") return asset.error || "failed";
  const parts = [];
  if (asset.state === "processing" && asset.speed) parts.push(`${asset.speed.toFixed(2)}x`);
  if (asset.state === "processing" && asset.eta_seconds != null) parts.push(`eta ${Math.round(asset.eta_seconds)} s`);
  if (asset.duration) parts.push(`${asset.duration.toFixed(1)} s`);
  if (asset.width && asset.height) parts.push(`${asset.width}x${asset.height}`);
  if (asset.renditions.length) parts.push(asset.renditions.filter((r) => r.kind === "video").map((r) => r.name).join(" "));
  return parts.join(", ");
}

async function deleteAsset(id) {
  const resp = await fetch(`${config.api}/assets/${encodeURIComponent(id)}`, { method: "DELETE", headers: authHeaders() });
  $("assets-status").textContent = resp.ok ? `deleted ${id}` : `delete failed: ${resp.status}`;
  refreshAssets();
}

function renderAssets(assets) {
  const body = document.querySelector("#assets tbody");
  body.replaceChildren();
  for (const asset of assets) {
    const row = document.createElement("tr");
    row.dataset.assetId = asset.id;
    row.dataset.state = asset.state;
    cell(row, asset.title || asset.id);
    cell(row, asset.state, `state state-${asset.state}`);
    const progress = document.createElement("progress");
    progress.max = 1;
    progress.value = asset.state === "ready" ? 1 : asset.progress || 0;
    cell(row).appendChild(progress);
    cell(row, details(asset), asset.state === "failed" ? "error" : "muted");
    const actions = cell(row);
    if (asset.playback && asset.playback.hls) {
      const watch = document.createElement("a");
      watch.href = `/watch/${encodeURIComponent(asset.id)}`;
      watch.textContent = "Watch";
      watch.className = "watch";
      actions.appendChild(watch);
      actions.append(" ");
    }
    const del = document.createElement("button");
    del.type = "button";
    del.textContent = "Delete";
    del.className = "delete";
    del.addEventListener("click", () => deleteAsset(asset.id));
    actions.appendChild(del);
    body.appendChild(row);
  }
}

async function refreshAssets() {
  if (!storedKey()) {
    renderAssets([]);
    $("assets-status").textContent = "sign in with an API key to see your assets";
    return;
  }
  try {
    const resp = await fetch(`${config.api}/assets?limit=50`, { headers: authHeaders() });
    if (resp.status === 401) throw new Error("the key was refused: sign out and paste a valid one");
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    renderAssets(await resp.json());
    $("assets-status").textContent = "";
  } catch (error) {
    $("assets-status").textContent = `asset list unavailable: ${error.message}`;
  }
}

refreshAssets();
setInterval(refreshAssets, config.pollMs || 1500);
