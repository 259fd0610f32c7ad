// The player page: hls.js or dash.js over the edge URLs the asset API hands out, a rendition
// picker, the current bitrate, and storyboard thumbnails (WebVTT + sprite) while scrubbing.
import { authHeaders } from "./auth.js";
import { dashCmcd, hlsCmcd, newSessionId, reportFatal, watchStartup } from "./qoe.js";

const config = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);
const video = $("video");
const picker = $("rendition");
const assetId = decodeURIComponent(location.pathname.split("/").pop());
let player = null; // { destroy(), pick(value) }
let asset = null;
let stopWatching = null;

const status = (text) => ($("player-status").textContent = text);
const kbps = (bps) => `${Math.round(bps / 1000)} kb/s`;

function showBitrate(bandwidth, height) {
  $("bitrate").textContent = `${height ? height + "p " : ""}${kbps(bandwidth)}`;
  document.body.dataset.bitrate = String(bandwidth);
}

function fillRenditions(options) {
  picker.replaceChildren(new Option("auto", "auto"));
  for (const { value, label } of options) picker.appendChild(new Option(label, value));
}

function playHls(url, sid) {
  if (window.Hls && Hls.isSupported()) {
    const hls = new Hls({ capLevelToPlayerSize: false, cmcd: hlsCmcd(sid, assetId) });
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      fillRenditions(hls.levels.map((l, i) => ({ value: String(i), label: `${l.height}p ${kbps(l.bitrate)}` })));
      video.play().catch(() => status("press play"));
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
      const level = hls.levels[data.level];
      showBitrate(level.bitrate, level.height);
    });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (!data.fatal) return;
      status(`playback error: ${data.details}`);
      reportFatal(url, sid, data.details);
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    return {
      destroy: () => hls.destroy(),
      pick: (value) => (hls.currentLevel = value === "auto" ? -1 : Number(value)),
    };
  }
  video.src = url; // Safari plays HLS natively
  return { destroy: () => video.removeAttribute("src"), pick: () => {} };
}

function playDash(url, sid) {
  const dash = dashjs.MediaPlayer().create();
  dash.updateSettings(dashCmcd(sid, assetId));
  const events = dashjs.MediaPlayer.events;
  dash.on(events.STREAM_INITIALIZED, () => {
    const reps = dash.getRepresentationsByType("video");
    fillRenditions(reps.map((r) => ({ value: r.id, label: `${r.height}p ${kbps(r.bandwidth)}` })));
    const current = dash.getCurrentRepresentationForType("video");
    if (current) showBitrate(current.bandwidth, current.height);
  });
  dash.on(events.QUALITY_CHANGE_RENDERED, (e) => {
    if (e.mediaType === "video" && e.newRepresentation) showBitrate(e.newRepresentation.bandwidth, e.newRepresentation.height);
  });
  dash.on(events.ERROR, (e) => {
    const reason = e.error && e.error.message ? e.error.message : "dash.js";
    status(`playback error: ${reason}`);
    reportFatal(url, sid, reason);
  });
  dash.initialize(video, url, true);
  return {
    destroy: () => dash.destroy(),
    pick: (value) => {
      const auto = value === "auto";
      dash.updateSettings({ streaming: { abr: { autoSwitchBitrate: { video: auto } } } });
      if (!auto) dash.setRepresentationForTypeById("video", value, true);
    },
  };
}

function start(mode) {
  if (player) player.destroy();
  $("bitrate").textContent = "-";
  const url = mode === "dash" ? asset.playback.dash : asset.playback.hls;
  if (!url) {
    status(`no ${mode.toUpperCase()} playback for this asset (${asset.state})`);
    return;
  }
  document.body.dataset.mode = mode;
  const sid = newSessionId(); // one QoE session per playback (cdn_edge/qoe.py)
  if (stopWatching) stopWatching();
  stopWatching = watchStartup(video, url, sid);
  player = mode === "dash" ? playDash(url, sid) : playHls(url, sid);
}

// Storyboard: <asset>/storyboard.vtt next to the master playlist, cues "sprite.jpg#xywh=x,y,w,h".
function parseTime(text) {
  const parts = text.trim().split(":").map(Number);
  return parts.reduce((total, part) => total * 60 + part, 0);
}

async function loadStoryboard(hlsUrl) {
  const url = new URL("storyboard.vtt", hlsUrl);
  url.search = new URL(hlsUrl).search; // keep a playback token if there is one
  const resp = await fetch(url).catch(() => null);
  if (!resp || !resp.ok) return [];
  const cues = [];
  for (const block of (await resp.text()).split(/\r?\n\r?\n/)) {
    const lines = block.split(/\r?\n/).filter(Boolean);
    const timing = lines.findIndex((l) => l.includes("-->"));
    if (timing < 0 || !lines[timing + 1]) continue;
    const [from, to] = lines[timing].split("-->").map((t) => parseTime(t.split(" ").filter(Boolean)[0] || t));
    const [image, fragment] = lines[timing + 1].split("#xywh=");
    const [x, y, w, h] = (fragment || "0,0,160,90").split(",").map(Number);
    const src = new URL(image, url);
    src.search = url.search;
    cues.push({ from, to, src: src.href, x, y, w, h });
  }
  return cues;
}

function wireScrubber(cues) {
  const scrub = $("scrub");
  const thumb = $("thumb");
  const image = thumb.querySelector(".thumb-image");
  video.addEventListener("timeupdate", () => {
    if (video.duration) scrub.value = String(Math.round((1000 * video.currentTime) / video.duration));
  });
  const timeAt = (clientX) => {
    const box = scrub.getBoundingClientRect();
    return Math.max(0, Math.min(1, (clientX - box.left) / box.width)) * (video.duration || 0);
  };
  const preview = (t, clientX) => {
    const cue = cues.find((c) => t >= c.from && t < c.to);
    if (!cue) {
      thumb.hidden = true;
      return;
    }
    thumb.hidden = false;
    image.style.width = `${cue.w}px`;
    image.style.height = `${cue.h}px`;
    image.style.backgroundImage = `url("${cue.src}")`;
    image.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
    thumb.querySelector(".thumb-time").textContent = `${Math.floor(t / 60)}:${String(Math.floor(t % 60)).padStart(2, "0")}`;
    thumb.style.left = `${clientX - scrub.getBoundingClientRect().left}px`;
  };
  scrub.addEventListener("mousemove", (e) => preview(timeAt(e.clientX), e.clientX));
  scrub.addEventListener("mouseleave", () => (thumb.hidden = true));
  scrub.addEventListener("input", () => {
    if (!video.duration) return;
    video.currentTime = (Number(scrub.value) / 1000) * video.duration;
    const box = scrub.getBoundingClientRect();
    preview(video.currentTime, box.left + (Number(scrub.value) / 1000) * box.width);
  });
}

async function main() {
  const resp = await fetch(`${config.api}/assets/${encodeURIComponent(assetId)}`, { headers: authHeaders() });
  if (resp.status === 401) {
    status("sign in with an API key on the upload page first");
    return;
  }
  if (!resp.ok) {
    status(`no asset ${assetId} (HTTP ${resp.status})`);
    return;
  }
  asset = await resp.json();
  $("title").textContent = asset.title || asset.id;
  // The creator's poster when there is one (the asset API puts it first), else the generated one.
  if (asset.playback.poster) video.poster = asset.playback.poster;
  const mode = new URLSearchParams(location.search).get("mode") === "dash" ? "dash" : "hls";
  $("mode").value = mode;
  $("mode").addEventListener("change", () => start($("mode").value));
  picker.addEventListener("change", () => player && player.pick(picker.value));
  video.addEventListener("playing", () => {
    status("playing");
    document.body.dataset.playing = "1";
  });
  start(mode);
  if (asset.playback.hls) {
    const cues = await loadStoryboard(asset.playback.hls);
    document.body.dataset.storyboard = String(cues.length);
    wireScrubber(cues);
    // Fetch the sprites now, so the first hover shows a picture, not an empty frame.
    const sprites = [...new Set(cues.map((c) => c.src))].map(
      (src) => new Promise((done) => Object.assign(new Image(), { onload: done, onerror: done, src })),
    );
    await Promise.all(sprites);
    document.body.dataset.storyboardLoaded = "1";
  }
}

main();
