// Plays an audio-only asset in the web page's player (watch page with hls.js, then dash.js, then the embed
// page without a key) in Debian's Chromium, and reports what a listener gets: media-chrome's audio layout,
// the <video> not shown, the waveform shown above the control bar (still there once playing), the menus'
// items, time advancing; axe-core on the player and the embed page.
// Usage: node audio_page.mjs <page origin> <asset id> <api key> <artifact dir>
// Prints one JSON line with what it saw; exits non-zero on failure.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { LAUNCH, axeViolations } from "../browser/harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "..", "web", "package.json"));
const { chromium } = require("playwright-core");

const [origin, assetId, apiKey, artifacts] = process.argv.slice(2);
const result = { axe: {} };
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const browser = await chromium.launch(LAUNCH);
const pageErrors = [];

// axe-core in the page: every violation of impact serious or critical (the rest by rule id only).
async function axe(name, page) {
  // Closed menus only: media-chrome's fade-out keeps a menu rendered for a moment after `hidden` is set.
  await page.waitForFunction(
    () => [...document.querySelectorAll("media-chrome-menu, media-captions-menu")].every((m) => !m.checkVisibility({ visibilityProperty: true })),
    null,
    { timeout: 5_000 },
  );
  const { serious, minor } = await axeViolations(page, axeSource);
  result.axe[name] = serious;
  result.axe[`${name} (minor)`] = minor;
}

// Playing, and the clock moves on by a second from where it was seen playing.
async function advances(page) {
  await page.waitForFunction(() => document.body && document.body.dataset.playing === "1", null, { timeout: 60_000 });
  const from = await page.evaluate(() => document.getElementById("video").currentTime);
  await page.waitForFunction((t) => document.getElementById("video").currentTime > t + 1, from, { timeout: 60_000 });
  return { from, to: await page.evaluate(() => document.getElementById("video").currentTime) };
}

// The player as laid out: the controller's mode, what is visible, where the waveform is against the bar.
const layout = (page) =>
  page.evaluate(() => {
    const box = (el) => {
      const r = el.getBoundingClientRect();
      return { top: r.top, bottom: r.bottom, height: r.height, width: r.width };
    };
    const poster = document.getElementById("poster");
    const img = poster.shadowRoot.querySelector("img");
    const visible = (el) => el.checkVisibility({ visibilityProperty: true, opacityProperty: true });
    return {
      audioMode: document.getElementById("controller").hasAttribute("audio"),
      kind: document.body.dataset.kind || null,
      videoShown: visible(document.getElementById("video")),
      poster: { src: img.getAttribute("src"), loaded: img.complete ? img.naturalWidth : 0, shown: visible(poster), box: box(poster) },
      bar: { shown: visible(document.querySelector("media-control-bar")), box: box(document.querySelector("media-control-bar")) },
      hiddenButtons: ["media-pip-button", "media-fullscreen-button"].filter((s) => document.querySelector(s).hidden),
      quality: [...document.querySelectorAll("#quality-menu media-chrome-menu-item")].map((i) => i.textContent),
      audio: [...document.querySelectorAll("#audio-menu media-chrome-menu-item")].map((i) => i.textContent),
      audioButtonShown: !document.getElementById("audio-button").hidden,
      captionsButton: Boolean(document.getElementById("captions-button")),
      viewport: window.innerHeight,
      error: document.body.dataset.error || null,
    };
  });

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  // Signed in as an operator is: the key in this browser's localStorage (web/static/auth.js).
  await page.goto(`${origin}/`);
  await page.evaluate((key) => localStorage.setItem("vodstack-api-key", key), apiKey);

  await page.goto(`${origin}/watch/${assetId}`);
  result.hls = { played: await advances(page) };
  await page.waitForFunction(() => document.getElementById("poster").shadowRoot.querySelector("img").naturalWidth > 0, null, { timeout: 15_000 });
  Object.assign(result.hls, await layout(page));
  await page.screenshot({ path: join(artifacts, "web-audio-hls.png") });
  // The audio menu opens whole inside the player (media-chrome clips what overflows the controller).
  await page.click("#audio-button");
  await page.waitForFunction(() => document.getElementById("audio-menu").checkVisibility({ visibilityProperty: true }), null, { timeout: 5_000 });
  result.hls.openMenu = await page.evaluate(() => {
    const m = document.getElementById("audio-menu").getBoundingClientRect();
    const c = document.getElementById("controller").getBoundingClientRect();
    return { inside: m.top >= c.top - 1 && m.bottom <= c.bottom + 1 && m.left >= c.left - 1 && m.right <= c.right + 1, height: m.height };
  });
  await page.screenshot({ path: join(artifacts, "web-audio-menu.png") });
  // Picking "Français" switches hls.js' audio track (and closes the menu).
  result.hls.trackBefore = await page.evaluate(() => document.body.dataset.audioTrack);
  await page.locator("#audio-menu media-chrome-menu-item").filter({ hasText: "Français" }).click();
  await page.waitForFunction(() => document.body.dataset.audioTrack === "fr", null, { timeout: 15_000 });
  result.hls.trackAfter = await page.evaluate(() => document.body.dataset.audioTrack);
  await axe("player", page);

  await page.goto(`${origin}/watch/${assetId}?mode=dash`);
  result.dash = { played: await advances(page) };
  Object.assign(result.dash, await layout(page));

  const embed = await (await browser.newContext({ viewport: { width: 640, height: 200 } })).newPage(); // no key
  embed.on("pageerror", (err) => pageErrors.push(String(err)));
  await embed.goto(`${origin}/embed/${assetId}`);
  result.embed = { played: await advances(embed) };
  await embed.waitForFunction(() => document.getElementById("poster").shadowRoot.querySelector("img").naturalWidth > 0, null, { timeout: 15_000 });
  Object.assign(result.embed, await layout(embed));
  await embed.screenshot({ path: join(artifacts, "web-audio-embed.png") });
  await axe("embed page", embed);
  result.ok = true;
} catch (error) {
  result.ok = false;
  result.error = String(error && error.stack ? error.stack : error);
} finally {
  result.pageErrors = pageErrors;
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
