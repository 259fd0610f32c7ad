// Plays HLS (hls.js) and DASH (dash.js) streams in Debian's Chromium and prints JSON results.
//
//   node play.mjs --hls https://edge.example/a1/master.m3u8 --dash https://edge.example/a1/manifest.mpd
//
// The page is served from a loopback server of its own, so the stream is always on another origin
// and every request exercises CORS, as it does for a customer's site. For each stream:
//   1. the video advances >= 5 s with no fatal player error;
//   2. every rung is forced in turn (ABR off) and plays: the decoded frame height matches the rung
//      and currentTime advances by 1 s afterwards;
//   3. a seek to the middle lands there and playback continues.
// With --file URL (repeatable), a static file (an MP4 or M4A download) in a plain <video src>, no MSE:
// it loads, plays 1 s, seeks to the middle (a Range request) and plays to its end.
// With --hls-start URL instead, only where hls.js starts playing a stream (a growing playlist of a
// video still encoding should start at its beginning) and that it then advances.
// With --hls-growing URL --source-duration S, a growing playlist (a video still encoding, fewer seconds
// published than the source has) attached as the web page attaches it (web/static/growing.js): every
// duration the video reported until it has played 1 s.
// With --clip-hls URL / --clip-dash URL, a clip (a playlist cut to ?start=&end=) is played to its end at
// 4x: where playback started, the duration the player reports, and where it ended.
// With --codec-hls URL, which codec hls.js picks on its own in a master listing several codec families (an
// AV1 rung beside each H.264 one): the levels it kept, the current level's videoCodec once 2 s have
// played, every media segment it fetched and the frames decoded; with --refuse-codec FOURCC also a second
// run whose MediaSource.isTypeSupported refuses that codec, as a browser without its decoder does.
// Exit status 0 when every check passed, 1 otherwise, 2 on bad usage. Results go to stdout as JSON.
//
// Never `npx playwright install`: playwright-core drives the system Chromium at /usr/bin/chromium.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

import { LAUNCH, PLAYER_SCRIPTS, servePage, until } from "./harness.mjs";

const GROWING = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../web/static/growing.js");

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>vodstack playback</title>
<script src="/hls.js"></script><script src="/dash.js"></script>
<script type="module">import { hlsMedia } from "/growing.js"; window.hlsMedia = hlsMedia;</script></head>
<body><video id="v" muted playsinline width="640" height="360"></video>
<script>
const video = document.getElementById("v");
window.state = { fatal: [], warnings: [], rendered: null, firstPlaying: null, durations: [] };
video.addEventListener("durationchange", () => state.durations.push(video.duration));
video.addEventListener("playing", () => { if (state.firstPlaying === null) state.firstPlaying = video.currentTime; });
video.addEventListener("error", () => {
  const e = video.error;
  state.fatal.push("video element: " + (e ? e.code + " " + e.message : "unknown"));
});

// sourceDuration: attach as the web page does a video still encoding whose probed duration that is.
// startLevel 0: the first (lowest) variant, so every check starts alike; codecOne passes {} instead, to
// see where hls.js starts on its own (its start codec choice is skipped when a start level is given).
window.startHls = (src, sourceDuration, options = { startLevel: 0 }) => {
  if (!Hls.isSupported()) { state.fatal.push("hls.js: MSE unsupported"); return; }
  const hls = new Hls({ capLevelToPlayerSize: false, ...options });
  window.player = {
    levels: () => hls.levels.map((l, i) => ({ index: i, height: l.height, bitrate: l.bitrate })),
    force: (i) => { hls.currentLevel = i; },
    rendered: () => state.rendered,
    codecs: () => ({
      levels: hls.levels.map((l) => ({ height: l.height, videoCodec: l.videoCodec })),
      current: hls.currentLevel >= 0 ? hls.levels[hls.currentLevel].videoCodec : null,
    }),
  };
  hls.on(Hls.Events.ERROR, (_, d) => {
    (d.fatal ? state.fatal : state.warnings).push("hls.js " + d.type + ": " + d.details);
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => { state.rendered = d.level; });
  hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch((e) => state.fatal.push("play(): " + e)); });
  hls.loadSource(src);
  hls.attachMedia(sourceDuration ? hlsMedia(video, { state: "processing", duration: sourceDuration }) : video);
};

window.startDash = (src) => {
  const p = dashjs.MediaPlayer().create();
  p.updateSettings({ debug: { logLevel: 1 } });
  window.player = {
    levels: () => p.getRepresentationsByType("video").map((r, i) => ({ index: i, height: r.height, bitrate: r.bandwidth })),
    force: (i) => {
      p.updateSettings({ streaming: { abr: { autoSwitchBitrate: { video: false } } } });
      p.setRepresentationForTypeByIndex("video", i, true);
    },
    rendered: () => {
      const r = p.getCurrentRepresentationForType("video");
      return r ? p.getRepresentationsByType("video").findIndex((x) => x.id === r.id) : null;
    },
  };
  p.on(dashjs.MediaPlayer.events.ERROR, (e) => {
    state.fatal.push("dash.js: " + (e.error ? e.error.code + " " + e.error.message : JSON.stringify(e)));
  });
  p.on(dashjs.MediaPlayer.events.PLAYBACK_ERROR, (e) => state.fatal.push("dash.js playback: " + JSON.stringify(e.error || e)));
  p.initialize(video, src, true);
};
</script></body></html>`;

function usage(message) {
  process.stderr.write(`${message}\nusage: node play.mjs [--hls URL] [--dash URL] [--file URL]... [--hls-start URL] [--clip-hls URL] [--clip-dash URL] [--hls-growing URL --source-duration S] [--codec-hls URL [--refuse-codec FOURCC]] [--step-timeout-ms 30000]\n`);
  process.exit(2);
}

const now = (page) => page.evaluate(() => ({ t: video.currentTime, h: video.videoHeight, d: video.duration }));

async function openPlayer(browser, kind, src) {
  // A fresh page whose failed requests and console errors are collected for the report.
  const result = { player: kind === "hls" ? "hls.js" : "dash.js", url: src, ok: false, checks: {}, errors: [] };
  const context = await browser.newContext();
  const page = await context.newPage();
  const failedRequests = [];
  page.on("requestfailed", (r) => failedRequests.push(`${r.url()}: ${r.failure()?.errorText}`));
  page.on("console", (m) => { if (m.type() === "error") result.errors.push("console: " + m.text()); });
  return { result, context, page, failedRequests };
}

async function playOne(browser, pageUrl, kind, src, stepMs) {
  const { result, context, page, failedRequests } = await openPlayer(browser, kind, src);
  try {
    if (new URL(src).origin === new URL(pageUrl).origin) throw new Error("stream and page share an origin: CORS untested");
    await page.goto(pageUrl);
    result.checks.h264_supported = await page.evaluate(() => MediaSource.isTypeSupported('video/mp4; codecs="avc1.64001f"'));
    await page.evaluate(([k, s]) => (k === "hls" ? startHls(s) : startDash(s)), [kind, src]);

    // 1. advances >= 5 s
    await until(page, "return video.currentTime >= 5", null, stepMs * 2);
    result.checks.advanced_5s = true;

    // 2. every rung, forced
    const levels = await page.evaluate(() => player.levels());
    result.checks.rungs = [];
    for (const level of levels) {
      const rung = { ...level, ok: false };
      result.checks.rungs.push(rung);
      await page.evaluate((i) => player.force(i), level.index);
      // restart near the beginning so a long run of switches never reaches the end
      await page.evaluate(() => { video.currentTime = Math.min(1, video.duration / 4); });
      await until(
        page,
        "return player.rendered() === value.i && video.videoHeight === value.h",
        { i: level.index, h: level.height },
        stepMs,
      );
      const start = (await now(page)).t;
      await until(page, "return video.currentTime >= value + 1 && video.videoHeight === " + level.height, start, stepMs);
      rung.ok = true;
    }

    // 3. seek to the middle
    const { d } = await now(page);
    const target = d / 2;
    await page.evaluate((t) => { video.currentTime = t; }, target);
    await until(page, "return !video.seeking && video.currentTime >= value + 0.5", target, stepMs);
    const landed = (await now(page)).t;
    result.checks.seek = { duration: d, target, position: landed, ok: landed >= target && landed < target + 5 };
    if (!result.checks.seek.ok) throw new Error(`seek to ${target} landed at ${landed}`);

    const warnings = await page.evaluate(() => state.warnings);
    if (warnings.length) result.warnings = warnings;
    result.ok = result.checks.h264_supported !== false;
  } catch (error) {
    result.errors.push(String(error.message || error));
    const state = await page.evaluate(() => ({ fatal: state.fatal, warnings: state.warnings })).catch(() => null);
    if (state) result.player_state = state;
  } finally {
    if (failedRequests.length) result.failed_requests = failedRequests;
    await context.close();
  }
  return result;
}

async function startOne(browser, pageUrl, src, stepMs) {
  // Where hls.js starts a stream on its own (no startPosition given), then that it advances 1 s.
  const result = { player: "hls.js", url: src, ok: false, checks: {}, errors: [] };
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(pageUrl);
    await page.evaluate((s) => startHls(s), src);
    await until(page, "return state.firstPlaying !== null", null, stepMs);
    const first = await page.evaluate(() => state.firstPlaying);
    await until(page, "return video.currentTime >= value + 1", first, stepMs);
    result.checks.start_position = first;
    result.ok = true;
  } catch (error) {
    result.errors.push(String(error.message || error));
  } finally {
    await context.close();
  }
  return result;
}

async function growingOne(browser, pageUrl, src, sourceDuration, stepMs) {
  const { result, context, page } = await openPlayer(browser, "hls", src);
  try {
    await page.goto(pageUrl);
    await page.waitForFunction(() => window.hlsMedia, null, { timeout: stepMs });
    await page.evaluate(([s, d]) => startHls(s, d), [src, sourceDuration]);
    await until(page, "return video.currentTime >= 1", null, stepMs);
    // JSON has no NaN: the durations before the first known one come out as null.
    result.checks = { durations: await page.evaluate(() => state.durations), duration: (await now(page)).d };
    result.ok = result.errors.length === 0;
  } catch (error) {
    result.errors.push(String(error.message || error));
  } finally {
    await context.close();
  }
  return result;
}

async function settle(session, checks) {
  // Runs one session's checks: an error fails its result, its failed requests are reported, the page closes.
  const { result, context, failedRequests } = session;
  try {
    await checks();
  } catch (error) {
    result.errors.push(String(error.message || error));
  } finally {
    if (failedRequests.length) result.failed_requests = failedRequests;
    await context.close();
  }
  return result;
}

async function codecOne(browser, pageUrl, src, refuse, stepMs) {
  // hls.js left to choose: which codec family it plays, and from which rungs it fetched segments.
  const session = await openPlayer(browser, "hls", src);
  const { result, context, page, failedRequests } = session;
  result.refused = refuse || null;
  if (refuse) {
    // Before any page script: what a browser without the decoder answers (hls.js filters levels on it).
    await context.addInitScript((fourcc) => {
      const original = MediaSource.isTypeSupported.bind(MediaSource);
      MediaSource.isTypeSupported = (type) => !type.includes(fourcc) && original(type);
    }, refuse);
  }
  const segments = [];
  page.on("request", (r) => { if (r.url().endsWith(".m4s")) segments.push(new URL(r.url()).pathname); });
  return settle(session, async () => {
    await page.goto(pageUrl);
    // What this browser (patched or not) says of AV1 main profile, 8-bit: the test asserts on it.
    result.checks.av1_type_supported = await page.evaluate(() => MediaSource.isTypeSupported('video/mp4; codecs="av01.0.00M.08"'));
    await page.evaluate((s) => startHls(s, null, {}), src);
    await until(page, "return video.currentTime >= 2", null, stepMs * 2);
    const played = await page.evaluate(() => ({
      ...player.codecs(),
      height: video.videoHeight,
      frames: video.getVideoPlaybackQuality().totalVideoFrames,
    }));
    result.checks = { ...result.checks, ...played, segments };
    result.ok = result.errors.length === 0 && played.frames > 0 && failedRequests.length === 0;
  });
}

async function playFile(browser, pageUrl, src, stepMs) {
  const result = { player: "video element", url: src, ok: false, checks: {}, errors: [] };
  const context = await browser.newContext();
  const page = await context.newPage();
  const ranges = [];
  page.on("request", (r) => { const h = r.headers().range; if (h && r.url() === src) ranges.push(h); });
  page.on("console", (m) => { if (m.type() === "error") result.errors.push("console: " + m.text()); });
  try {
    await page.goto(pageUrl);
    await page.evaluate((s) => { video.src = s; video.play().catch((e) => state.fatal.push("play(): " + e)); }, src);
    await until(page, "return video.readyState >= 1 && video.duration > 0", null, stepMs);
    await until(page, "return video.currentTime >= 1", null, stepMs);
    const { d, h } = await now(page);
    const target = d / 2;
    await page.evaluate((t) => { video.currentTime = t; }, target);
    await until(page, "return !video.seeking && video.currentTime >= value + 0.5", target, stepMs);
    const landed = (await now(page)).t;
    await until(page, "return video.ended", null, stepMs * 2);
    const end = await page.evaluate(() => ({ t: video.currentTime, w: video.videoWidth }));
    result.checks = { duration: d, height: h, width: end.w, seek: { target, position: landed }, ended_at: end.t, ranges };
    result.ok = landed >= target && landed < target + 5 && result.errors.length === 0;
  } catch (error) {
    result.errors.push(String(error.message || error));
  } finally {
    await context.close();
  }
  return result;
}

async function clipOne(browser, pageUrl, kind, src, stepMs) {
  // A clip plays from its first frame to its end, and the player's duration is the clip's.
  const session = await openPlayer(browser, kind, src);
  const { result, page, failedRequests } = session;
  return settle(session, async () => {
    await page.goto(pageUrl);
    await page.evaluate(([k, s]) => (k === "hls" ? startHls(s) : startDash(s)), [kind, src]);
    await until(page, "return state.firstPlaying !== null", null, stepMs);
    await page.evaluate(() => { video.playbackRate = 4; });
    await until(page, "return video.ended", null, stepMs * 2);
    const { t, d } = await now(page);
    result.checks = { start_position: await page.evaluate(() => state.firstPlaying), duration: d, ended_at: t };
    // A request the player itself cancels (net::ERR_ABORTED: dash.js drops a download it no longer needs
    // at the clip's end or on a switch) is no failure of ours; any other failed request is.
    result.ok = result.errors.length === 0 && failedRequests.every((f) => f.endsWith("net::ERR_ABORTED"));
  });
}

async function main() {
  const { values } = parseArgs({
    options: {
      hls: { type: "string" },
      dash: { type: "string" },
      "hls-start": { type: "string" },
      file: { type: "string", multiple: true },
      "clip-hls": { type: "string" },
      "clip-dash": { type: "string" },
      "hls-growing": { type: "string" },
      "source-duration": { type: "string" },
      "codec-hls": { type: "string" },
      "refuse-codec": { type: "string" },
      "step-timeout-ms": { type: "string", default: "30000" },
    },
  });
  const modes = ["hls", "dash", "hls-start", "file", "clip-hls", "clip-dash", "hls-growing", "codec-hls"];
  if (!modes.some((mode) => values[mode])) {
    usage("give --hls and/or --dash, --file, --hls-start, --clip-hls / --clip-dash, --hls-growing, or --codec-hls");
  }
  const stepMs = Number(values["step-timeout-ms"]);
  const { server, url: pageUrl } = await servePage(PAGE, { ...PLAYER_SCRIPTS, "/growing.js": GROWING });
  const browser = await chromium.launch(LAUNCH);
  const results = [];
  const version = browser.version();
  try {
    if (values.hls) results.push(await playOne(browser, pageUrl, "hls", values.hls, stepMs));
    if (values.dash) results.push(await playOne(browser, pageUrl, "dash", values.dash, stepMs));
    if (values["hls-start"]) results.push(await startOne(browser, pageUrl, values["hls-start"], stepMs));
    for (const file of values.file || []) results.push(await playFile(browser, pageUrl, file, stepMs));
    if (values["clip-hls"]) results.push(await clipOne(browser, pageUrl, "hls", values["clip-hls"], stepMs));
    if (values["clip-dash"]) results.push(await clipOne(browser, pageUrl, "dash", values["clip-dash"], stepMs));
    if (values["hls-growing"]) {
      const duration = Number(values["source-duration"]);
      results.push(await growingOne(browser, pageUrl, values["hls-growing"], duration, stepMs));
    }
    if (values["codec-hls"]) {
      results.push(await codecOne(browser, pageUrl, values["codec-hls"], null, stepMs));
      if (values["refuse-codec"]) {
        results.push(await codecOne(browser, pageUrl, values["codec-hls"], values["refuse-codec"], stepMs));
      }
    }
  } finally {
    await browser.close();
    server.close();
  }
  const report = { ok: results.every((r) => r.ok), chromium: version, page_origin: new URL(pageUrl).origin, results };
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  process.exit(report.ok ? 0 : 1);
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(error.stack || error) }) + "\n");
  process.exit(1);
});
