// Lists the caption tracks hls.js and dash.js find in a stream, and reads the cues a selected track shows,
// in Debian's Chromium. Prints JSON to stdout.
//
//   node captions.mjs --hls URL --dash URL --probe '[{"language":"en","at":1.5}, ...]'
//
// For each player: the text tracks it lists (language, label, kind); then for each probe, the track of that
// language is selected (showing), the video seeks to `at`, and the cues of the track that are active there
// are read from the page's TextTrack (video.textTracks[i].activeCues): their text, start and end.
// The page is served from an origin of its own, so every request to the stream is cross-origin.
// Never `npx playwright install`: playwright-core drives the system Chromium at /usr/bin/chromium.

import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

import { LAUNCH, servePage, until as waitFor } from "./harness.mjs";

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>captions</title>
<script src="/hls.js"></script><script src="/dash.js"></script></head>
<body><video id="v" muted playsinline width="320" height="180"></video>
<script>
const video = document.getElementById("v");
window.state = { fatal: [], ready: false };
video.addEventListener("error", () => state.fatal.push("video element: " + (video.error ? video.error.message : "?")));

window.startHls = (src) => {
  const hls = new Hls({ startLevel: 0 });
  hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) state.fatal.push("hls.js " + d.type + ": " + d.details); });
  hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, () => { state.ready = true; });
  hls.loadSource(src);
  hls.attachMedia(video);
  window.player = {
    tracks: () => hls.subtitleTracks.map((t) => ({ language: t.lang, label: t.name, kind: t.characteristics ? "captions" : "subtitles" })),
    select: (language) => {
      const index = hls.subtitleTracks.findIndex((t) => t.lang === language);
      hls.subtitleDisplay = true;
      hls.subtitleTrack = index;
      return index >= 0;
    },
  };
};

window.startDash = (src) => {
  const p = dashjs.MediaPlayer().create();
  p.updateSettings({ debug: { logLevel: 1 } });
  p.on(dashjs.MediaPlayer.events.ERROR, (e) => state.fatal.push("dash.js: " + (e.error ? e.error.code + " " + e.error.message : "?")));
  p.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, () => { state.ready = true; });
  p.initialize(video, src, false);
  window.player = {
    tracks: () => p.getTracksFor("text").map((t) => ({
      language: t.lang,
      label: (t.labels && t.labels[0] && t.labels[0].text) || "",
      kind: (t.roles || []).some((r) => (r.value || r) === "caption") ? "captions" : "subtitles",
    })),
    select: (language) => {
      const tracks = p.getTracksFor("text");
      const index = tracks.findIndex((t) => t.lang === language);
      if (index < 0) return false;
      p.enableText(true);
      // setTextTrack, not setCurrentTrack: only it switches which text track dash.js fetches and renders
      p.setTextTrack(index);
      return true;
    },
  };
};

window.cueCount = (language) =>
  Array.from(video.textTracks).filter((t) => t.language === language).reduce((n, t) => n + (t.cues ? t.cues.length : 0), 0);

// The active cues of the showing text track whose language is given (hls.js and dash.js both render
// natively: one TextTrack per track on the video element).
window.activeCues = (language) => {
  for (const track of video.textTracks) {
    if (track.language !== language) continue;
    track.mode = "showing";
    const cues = Array.from(track.activeCues || []);
    if (cues.length) return cues.map((c) => ({ text: c.text, start: c.startTime, end: c.endTime }));
  }
  return [];
};
</script></body></html>`;

async function inspect(browser, pageUrl, kind, src, probes, stepMs) {
  const result = { player: kind === "hls" ? "hls.js" : "dash.js", ok: false, tracks: [], cues: [], errors: [] };
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") result.errors.push("console: " + m.text()); });
  try {
    await page.goto(pageUrl);
    await page.evaluate(([k, s]) => (k === "hls" ? startHls(s) : startDash(s)), [kind, src]);
    await waitFor(page, "return state.ready && player.tracks().length > 0", null, stepMs);
    result.tracks = await page.evaluate(() => player.tracks());
    for (const probe of probes) {
      const selected = await page.evaluate((l) => player.select(l), probe.language);
      if (!selected) throw new Error(`no text track in ${probe.language}`);
      // A player fetches a newly selected track as it plays: play until its cues arrive, then pause and
      // seek to the probe's time, where the track's active cues are what it shows.
      await page.evaluate(() => video.play());
      await waitFor(page, "return cueCount(value) > 0", probe.language, stepMs);
      await page.evaluate((t) => { video.pause(); video.currentTime = t; }, probe.at);
      const cues = await waitFor(
        page,
        "const c = activeCues(value.language); return c.length && !video.seeking ? c : false;",
        probe,
        stepMs,
      );
      result.cues.push({ language: probe.language, at: probe.at, cues });
    }
    result.ok = true;
  } catch (error) {
    result.errors.push(String(error.message || error));
    result.text_tracks = await page
      .evaluate(() => ({
        time: video.currentTime,
        tracks: Array.from(video.textTracks).map((t) => ({
          language: t.language, label: t.label, kind: t.kind, mode: t.mode, cues: t.cues ? t.cues.length : null,
        })),
      }))
      .catch(() => null);
  } finally {
    await context.close();
  }
  return result;
}

async function main() {
  const { values } = parseArgs({
    options: {
      hls: { type: "string" },
      dash: { type: "string" },
      probe: { type: "string", default: "[]" },
      "step-timeout-ms": { type: "string", default: "30000" },
    },
  });
  const probes = JSON.parse(values.probe);
  const stepMs = Number(values["step-timeout-ms"]);
  const { server, url: pageUrl } = await servePage(PAGE);
  const browser = await chromium.launch(LAUNCH);
  const results = [];
  try {
    if (values.hls) results.push(await inspect(browser, pageUrl, "hls", values.hls, probes, stepMs));
    if (values.dash) results.push(await inspect(browser, pageUrl, "dash", values.dash, probes, stepMs));
  } finally {
    await browser.close();
    server.close();
  }
  const report = { ok: results.length > 0 && results.every((r) => r.ok), results };
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  process.exit(report.ok ? 0 : 1);
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(error.stack || error) }) + "\n");
  process.exit(1);
});
