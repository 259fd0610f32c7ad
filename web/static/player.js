// The player page (and the embed page): hls.js or dash.js drive the <video>, media-chrome draws the
// controls around it (web/templates/watch.html, embed.html; its audio layout for an audio-only asset).
// This module fills the quality and audio menus from the stream, adds the storyboard thumbnails, shows
// the poster, keeps the duration right while a stream still grows, and says what happened when playback fails.
import { authHeaders } from "./auth.js";
import { hlsMedia } from "./growing.js";
import { audioItems, codecFamily, familyRungs, fillMenu, qualityItems, renditionLabel, watchCaptions } from "./menus.js";
import { dashCmcd, hlsCmcd, newSessionId, reportFatal, watchStartup } from "./qoe.js";
import { attachStoryboard } from "./storyboard.js";

const config = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);
const video = $("video");
const assetId = decodeURIComponent(location.pathname.split("/").pop());
let player = null; // { destroy() }
let asset = null;
let stopWatching = null;

const status = (text) => ($("player-status") ? ($("player-status").textContent = text) : null);

function showBitrate(bandwidth, height, codecs) {
  if ($("bitrate")) $("bitrate").textContent = renditionLabel({ height, bandwidth });
  document.body.dataset.bitrate = String(bandwidth);
  document.body.dataset.codec = codecFamily(codecs);
}

// The language of the audio track that plays now (hls.js and dash.js tracks both carry `lang`).
function showAudio(track) {
  if (track) document.body.dataset.audioTrack = track.lang || "";
}

// What the viewer reads when playback fails: what happened, in words, not a library's error code.
export function describeFailure(kind, httpStatus) {
  if (httpStatus === 401 || httpStatus === 403) return "This video's playback link is not valid (expired or not allowed). Reload the page for a new one.";
  if (httpStatus === 404) return "This video is not (or no longer) available at the edge.";
  if (kind === "network") return "The video could not be loaded: the network or the edge did not answer.";
  if (kind === "media") return "The video could not be decoded by this browser.";
  return "Playback stopped because of an error.";
}

function showError(message, detail) {
  const overlay = $("error-overlay");
  overlay.textContent = message;
  overlay.hidden = false;
  overlay.title = detail || "";
  document.body.dataset.error = detail || message;
  status(message);
}

function qualityMenu(rungs, onPick) {
  fillMenu($("quality-menu"), $("quality-button"), qualityItems(rungs), "auto", (value) => {
    $("quality-label").textContent = value === "auto" ? "Auto" : renditionLabel(rungs.find((r) => String(r.value) === value));
    document.body.dataset.quality = value;
    onPick(value);
  });
}

function playHls(url, sid) {
  if (!(window.Hls && Hls.isSupported())) {
    video.src = url; // Safari plays HLS natively
    return { destroy: () => video.removeAttribute("src") };
  }
  const hls = new Hls({ capLevelToPlayerSize: false, cmcd: hlsCmcd(sid, assetId) });
  // The quality menu lists the levels of the codec family playing (one per height), refilled if hls.js
  // ever moves to another family (a level of one failing to decode).
  let menuFamily = null;
  const fillQuality = (playing) => {
    const levels = hls.levels.map((l, i) => ({ value: i, height: l.height, bandwidth: l.bitrate, family: codecFamily(l.videoCodec) }));
    const rungs = familyRungs(levels, playing);
    menuFamily = levels[playing] ? levels[playing].family : null;
    qualityMenu(rungs, (value) => (hls.currentLevel = value === "auto" ? -1 : Number(value)));
  };
  hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
    fillQuality(data.firstLevel);
    video.play().catch(() => status("press play"));
  });
  const audio = () => {
    const tracks = hls.audioTracks.map((t, i) => ({ value: i, name: t.name, lang: t.lang }));
    fillMenu($("audio-menu"), $("audio-button"), audioItems(tracks), String(hls.audioTrack), (v) => (hls.audioTrack = Number(v)));
  };
  hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, audio);
  hls.on(Hls.Events.AUDIO_TRACK_SWITCHED, (_, data) => showAudio(hls.audioTracks[data.id]));
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
    const level = hls.levels[data.level];
    showBitrate(level.bitrate, level.height, level.videoCodec);
    if (codecFamily(level.videoCodec) !== menuFamily) fillQuality(data.level);
  });
  hls.on(Hls.Events.LEVEL_UPDATED, (_, data) => {
    // An EVENT playlist still being published: the duration is what is known so far, and grows.
    document.body.dataset.growing = data.details.live ? "1" : "0";
    if (data.details.live && asset.duration) status(`still encoding: ${Math.floor(data.details.totalduration)} s of ${Math.round(asset.duration)} s published`);
  });
  hls.on(Hls.Events.ERROR, (_, data) => {
    if (!data.fatal) return;
    const code = data.response && data.response.code;
    showError(describeFailure(data.type === "mediaError" ? "media" : "network", code), data.details);
    reportFatal(url, sid, data.details);
  });
  hls.loadSource(url);
  hls.attachMedia(hlsMedia(video, asset));
  return { destroy: () => hls.destroy() };
}

function playDash(url, sid) {
  const dash = dashjs.MediaPlayer().create();
  dash.updateSettings(dashCmcd(sid, assetId));
  const events = dashjs.MediaPlayer.events;
  dash.on(events.STREAM_INITIALIZED, () => {
    const reps = dash.getRepresentationsByType("video");
    const rungs = reps.map((r) => ({ value: r.id, height: r.height, bandwidth: r.bandwidth }));
    qualityMenu(rungs, (value) => {
      const auto = value === "auto";
      dash.updateSettings({ streaming: { abr: { autoSwitchBitrate: { video: auto } } } });
      if (!auto) dash.setRepresentationForTypeById("video", value, true);
    });
    const tracks = dash.getTracksFor("audio");
    const current = dash.getCurrentTrackFor("audio");
    fillMenu(
      $("audio-menu"),
      $("audio-button"),
      audioItems(tracks.map((t, i) => ({ value: i, name: t.labels && t.labels[0] && t.labels[0].text, lang: t.lang }))),
      String(tracks.indexOf(current)),
      (v) => dash.setCurrentTrack(tracks[Number(v)]),
    );
    const rep = dash.getCurrentRepresentationForType("video");
    if (rep) showBitrate(rep.bandwidth, rep.height, rep.codecs);
  });
  dash.on(events.TRACK_CHANGE_RENDERED, (e) => {
    if (e.mediaType === "audio") showAudio(e.newMediaInfo);
  });
  dash.on(events.QUALITY_CHANGE_RENDERED, (e) => {
    if (e.mediaType === "video" && e.newRepresentation) showBitrate(e.newRepresentation.bandwidth, e.newRepresentation.height, e.newRepresentation.codecs);
  });
  dash.on(events.ERROR, (e) => {
    const reason = e.error && e.error.message ? e.error.message : "dash.js";
    const code = e.error && e.error.data && e.error.data.response ? e.error.data.response.status : undefined;
    showError(describeFailure(/download|manifest|fragment/i.test(reason) ? "network" : "media", code), reason);
    reportFatal(url, sid, reason);
  });
  dash.initialize(video, url, true);
  return { destroy: () => dash.destroy() };
}

// An audio-only asset (a song, a podcast): media-chrome's audio layout, which hides the <video> (hls.js and
// dash.js still play through it), keeps the controls shown and stacks the poster slot, here the waveform,
// above the control bar instead of under it, and keeps it after playback starts. Picture-in-picture and
// full screen have no picture to show; the audio-track, captions and quality (64k/128k) menus stay.
function audioLayout() {
  $("controller").setAttribute("audio", "");
  for (const button of document.querySelectorAll("media-pip-button, media-fullscreen-button")) button.hidden = true;
  document.body.dataset.kind = "audio";
}

function start(mode) {
  if (player) player.destroy();
  $("error-overlay").hidden = true;
  const url = mode === "dash" ? asset.playback.dash : asset.playback.hls;
  if (!url) {
    showError(`This video cannot be played yet (${asset.state}).`, `no ${mode} playback`);
    return;
  }
  document.body.dataset.mode = mode;
  const sid = newSessionId(); // one QoE session per playback (cdn_edge/qoe.py)
  if (stopWatching) stopWatching();
  stopWatching = watchStartup(video, url, sid);
  player = mode === "dash" ? playDash(url, sid) : playHls(url, sid);
}

async function main() {
  if (config.missing && config.missing.length) {
    $("notice").textContent = `The player's libraries are missing: ${config.missing.join(", ")}.`;
    $("notice").hidden = false;
  }
  // The embed page holds no key: it asks the keyless embed endpoint (ingest/embed.py), passing on the
  // playback token of its own URL (private assets); the player page asks the asset API with the key.
  const embed = document.body.dataset.embed === "1";
  const token = new URLSearchParams(location.search).get("token");
  const url = embed
    ? `${config.api}/embeds/${encodeURIComponent(assetId)}${token ? `?token=${encodeURIComponent(token)}` : ""}`
    : `${config.api}/assets/${encodeURIComponent(assetId)}`;
  const resp = await fetch(url, { headers: embed ? {} : authHeaders() }).catch(() => null);
  if (!resp) return showError("The video platform did not answer.", "api unreachable");
  if (resp.status === 401) return showError("Sign in with an API key on the upload page first.", "401");
  if (resp.status === 404 && embed) return showError("This video is not available, or its embed link has expired.", "404");
  if (!resp.ok) return showError(`There is no video ${assetId} here.`, `HTTP ${resp.status}`);
  asset = await resp.json();
  if ($("title")) $("title").textContent = asset.title || asset.id;
  document.title = `${asset.title || asset.id} · vodstack`;
  if (asset.kind === "audio") audioLayout();
  if (asset.playback.poster) $("poster").setAttribute("src", asset.playback.poster);
  video.addEventListener("playing", () => {
    status("playing");
    document.body.dataset.playing = "1";
  });
  video.addEventListener("error", () => {
    if (video.error) showError(describeFailure(video.error.code === 2 ? "network" : "media"), video.error.message || `code ${video.error.code}`);
  });
  watchCaptions(video, $("captions-button"));
  const mode = new URLSearchParams(location.search).get("mode") === "dash" ? "dash" : "hls";
  if ($("mode")) {
    $("mode").value = mode;
    $("mode").addEventListener("change", () => start($("mode").value));
  }
  start(mode);
  const cues = await attachStoryboard(video, asset.playback.storyboard);
  document.body.dataset.storyboard = String(cues);
  document.body.dataset.storyboardLoaded = "1";
}

main();
