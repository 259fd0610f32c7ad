// Lists and switches the audio tracks of an HLS (hls.js) and a DASH (dash.js) stream in Debian's
// Chromium, and says what is heard on each: the dominant frequency of the element's sound, taken by
// a Web Audio AnalyserNode (the test sources are pure tones, a different one per track).
//
//   node audio_tracks.mjs --hls https://edge.example/a1/master.m3u8 --dash https://edge.example/a1/manifest.mpd
//
// Prints JSON: per player, the tracks it lists ({name, lang}) and, for each track selected in turn,
// the frequency heard once the switch has rendered. Exit 0 when every track could be selected and
// heard, 1 otherwise. The page is served from its own loopback origin (every request is CORS).
// Never `npx playwright install`: playwright-core drives the system Chromium at /usr/bin/chromium.

import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

import { LAUNCH, servePage, until } from "./harness.mjs";

// Not muted: a muted element feeds silence to Web Audio. Autoplay is allowed by a Chromium flag.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>vodstack audio tracks</title>
<script src="/hls.js"></script><script src="/dash.js"></script></head>
<body><video id="v" playsinline width="320" height="180"></video>
<script>
const video = document.getElementById("v");
window.state = { fatal: [], switched: null };
video.addEventListener("error", () => state.fatal.push("video element: " + (video.error && video.error.message)));
let analyser = null;
window.listen = () => {
  if (analyser) return;
  const context = new AudioContext();
  const source = context.createMediaElementSource(video);
  analyser = context.createAnalyser();
  analyser.fftSize = 16384;
  source.connect(analyser);
  analyser.connect(context.destination);
};
window.dominant = () => {
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let best = 0;
  for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  return { hz: (best * analyser.context.sampleRate) / analyser.fftSize, db: bins[best] };
};
window.startHls = (src) => {
  const hls = new Hls();
  hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) state.fatal.push("hls.js " + d.type + ": " + d.details); });
  hls.on(Hls.Events.AUDIO_TRACK_SWITCHED, (_, d) => { state.switched = d.id; });
  hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch((e) => state.fatal.push("play(): " + e)); });
  window.player = {
    tracks: () => hls.audioTracks.map((t) => ({ name: t.name, lang: t.lang })),
    // Selecting the current track switches nothing (and no event comes).
    select: (i) => { if (hls.audioTrack === i) state.switched = i; else { state.switched = null; hls.audioTrack = i; } },
    selected: (i) => state.switched === i,
  };
  hls.loadSource(src);
  hls.attachMedia(video);
};
window.startDash = (src) => {
  const p = dashjs.MediaPlayer().create();
  p.updateSettings({ debug: { logLevel: 1 } });
  p.on(dashjs.MediaPlayer.events.ERROR, (e) => state.fatal.push("dash.js: " + (e.error ? e.error.message : "")));
  p.on(dashjs.MediaPlayer.events.TRACK_CHANGE_RENDERED, (e) => { if (e.mediaType === "audio") state.switched = e.newMediaInfo.id; });
  const tracks = () => p.getTracksFor("audio");
  window.player = {
    tracks: () => tracks().map((t) => ({ name: (t.labels[0] || {}).text || null, lang: t.lang, roles: t.roles })),
    select: (i) => {
      const current = p.getCurrentTrackFor("audio");
      if (current && current.id === tracks()[i].id) state.switched = current.id;
      else { state.switched = null; p.setCurrentTrack(tracks()[i]); }
    },
    selected: (i) => state.switched === tracks()[i].id,
  };
  p.initialize(video, src, true);
};
</script></body></html>`;

async function heard(page) {
  // The loudest bin over a few reads (a read may fall on a segment's first AAC frames).
  let best = { hz: 0, db: -Infinity };
  for (let n = 0; n < 5; n++) {
    await page.waitForTimeout(100);
    const now = await page.evaluate(() => dominant());
    if (now.db > best.db) best = now;
  }
  return best;
}

async function checkOne(browser, pageUrl, kind, src, stepMs) {
  const result = { player: kind === "hls" ? "hls.js" : "dash.js", url: src, ok: false, tracks: [], heard: [], errors: [] };
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(pageUrl);
    await page.evaluate(([k, s]) => { listen(); k === "hls" ? startHls(s) : startDash(s); }, [kind, src]);
    await until(page, "return video.currentTime >= 0.5 && player.tracks().length > 0", null, stepMs);
    result.tracks = await page.evaluate(() => player.tracks());
    for (let i = 0; i < result.tracks.length; i++) {
      await page.evaluate((n) => player.select(n), i);
      await until(page, "return player.selected(value)", i, stepMs);
      // Back to the start after the switch: what plays from there is the new track's.
      await page.evaluate(() => { video.currentTime = 0.5; });
      await until(page, "return !video.seeking && video.currentTime >= 1.5", null, stepMs);
      result.heard.push({ track: i, ...(await heard(page)) });
    }
    result.ok = true;
  } catch (error) {
    result.errors.push(String(error.message || error));
  } finally {
    await context.close();
  }
  return result;
}

async function main() {
  const { values } = parseArgs({
    options: { hls: { type: "string" }, dash: { type: "string" }, "step-timeout-ms": { type: "string", default: "30000" } },
  });
  if (!values.hls && !values.dash) {
    process.stderr.write("usage: node audio_tracks.mjs [--hls URL] [--dash URL]\n");
    process.exit(2);
  }
  const { server, url: pageUrl } = await servePage(PAGE);
  const browser = await chromium.launch(LAUNCH);
  const results = [];
  try {
    const step = Number(values["step-timeout-ms"]);
    if (values.hls) results.push(await checkOne(browser, pageUrl, "hls", values.hls, step));
    if (values.dash) results.push(await checkOne(browser, pageUrl, "dash", values.dash, step));
  } finally {
    await browser.close();
    server.close();
  }
  const report = { ok: results.every((r) => r.ok), results };
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  process.exit(report.ok ? 0 : 1);
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(error.stack || error) }) + "\n");
  process.exit(1);
});
