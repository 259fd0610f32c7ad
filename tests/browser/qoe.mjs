// Plays one stream with hls.js (or dash.js: --player dash) in Debian's Chromium, with the web page's own CMCD config and
// startup beacon (web/static/qoe.js), and prints JSON: the session id, how far it played, how often
// the video waited for data after it had started.
//
//   node qoe.mjs --src http://edge/a1/master.m3u8 --until 8 [--max-buffer 2] [--player hls|dash]
//
// --max-buffer: hls.js' forward buffer in seconds (small: a slow edge then stalls the video).
// Exit status 0 when it played to --until with no fatal player error, 1 otherwise, 2 on bad usage.
// Never `npx playwright install`: playwright-core drives the system Chromium at /usr/bin/chromium.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

import { LAUNCH, PLAYER_SCRIPTS, servePage } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const FILES = { ...PLAYER_SCRIPTS, "/qoe.js": path.join(here, "../../web/static/qoe.js") };
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>vodstack qoe</title><script src="/hls.js"></script><script src="/dash.js"></script></head>
<body><video id="v" muted playsinline width="640" height="360"></video>
<script type="module">
import { dashCmcd, hlsCmcd, newSessionId, watchStartup } from "/qoe.js";
const video = document.getElementById("v");
window.state = { fatal: [], waitingAfterStart: 0, started: false, sid: null };
video.addEventListener("playing", () => { state.started = true; });
video.addEventListener("waiting", () => { if (state.started) state.waitingAfterStart++; });
window.play = (src, overrides) => {
  const sid = newSessionId();
  state.sid = sid;
  watchStartup(video, src, sid);
  const hls = new Hls({ capLevelToPlayerSize: false, ...overrides, cmcd: hlsCmcd(sid, "qoe-test") });
  hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) state.fatal.push("hls.js " + d.type + ": " + d.details); });
  hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch((e) => state.fatal.push("play(): " + e)); });
  hls.loadSource(src);
  hls.attachMedia(video);
};
window.playDash = (src) => {
  const sid = newSessionId();
  state.sid = sid;
  watchStartup(video, src, sid);
  const p = dashjs.MediaPlayer().create();
  p.updateSettings(dashCmcd(sid, "qoe-test"));
  p.on(dashjs.MediaPlayer.events.ERROR, (e) => state.fatal.push("dash.js: " + (e.error && e.error.message)));
  p.initialize(video, src, true);
};
window.ready = true;
</script></body></html>`;

const { values } = parseArgs({
  options: {
    src: { type: "string" }, until: { type: "string", default: "8" }, "max-buffer": { type: "string" },
    player: { type: "string", default: "hls" },
  },
});
if (!values.src) {
  process.stderr.write("usage: node qoe.mjs --src URL [--until SECONDS] [--max-buffer SECONDS]\n");
  process.exit(2);
}

const { server, url: pageUrl } = await servePage(PAGE, FILES);
const browser = await chromium.launch(LAUNCH);
const result = { ok: false, errors: [] };
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => result.errors.push("page: " + e.message));
  await page.goto(pageUrl);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 30000 });
  const overrides = {};
  if (values["max-buffer"]) {
    overrides.maxBufferLength = Number(values["max-buffer"]);
    overrides.maxMaxBufferLength = Number(values["max-buffer"]);
  }
  if (values.player === "dash") await page.evaluate((src) => playDash(src), values.src);
  else await page.evaluate(([src, o]) => play(src, o), [values.src, overrides]);
  const until = Number(values.until);
  const outcome = await (
    await page.waitForFunction(
      (t) => (state.fatal.length ? { fatal: state.fatal } : document.getElementById("v").currentTime >= t ? { ok: true } : false),
      until,
      { timeout: 120000, polling: 100 },
    )
  ).jsonValue();
  Object.assign(result, await page.evaluate(() => ({ ...state, currentTime: document.getElementById("v").currentTime })));
  result.ok = Boolean(outcome.ok) && result.errors.length === 0;
  await page.waitForTimeout(300); // let a queued beacon leave before the browser closes
} catch (e) {
  result.errors.push(String(e));
} finally {
  await browser.close();
  server.close();
}
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(result.ok ? 0 : 1);
