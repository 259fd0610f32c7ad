// The web page's player (watch page, media-chrome over hls.js or dash.js) on an asset with AV1 rungs beside the
// H.264 ones, in Debian's Chromium (which decodes both): what its quality menu offers, which codec family
// plays, and that picking the other height switches to that rung in the same family. Three runs: hls.js,
// hls.js in a browser whose MediaSource refuses AV1 (as one without the decoder answers), dash.js.
// Usage: node av1_menu.mjs <page origin> <asset id>
// Prints one JSON line with what it saw; exits non-zero on failure.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { LAUNCH } from "../browser/harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "..", "web", "package.json"));
const { chromium } = require("playwright-core");

const [origin, assetId] = process.argv.slice(2);
const browser = await chromium.launch(LAUNCH);
const result = { ok: false, pageErrors: [] };

const seen = (page) =>
  page.evaluate(() => ({
    items: [...document.querySelectorAll("#quality-menu media-chrome-menu-item")].map((i) => i.textContent),
    codec: document.body.dataset.codec || null,
    playing: document.getElementById("bitrate").textContent,
    error: document.body.dataset.error || null,
  }));

async function run(mode, refuse) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  if (refuse) {
    await context.addInitScript((fourcc) => {
      const original = MediaSource.isTypeSupported.bind(MediaSource);
      MediaSource.isTypeSupported = (type) => !type.includes(fourcc) && original(type);
    }, refuse);
  }
  const page = await context.newPage();
  page.on("pageerror", (err) => result.pageErrors.push(`${mode}: ${err}`));
  await page.goto(`${origin}/watch/${assetId}?mode=${mode}`);
  await page.waitForFunction(() => document.body.dataset.playing === "1" && document.body.dataset.codec, null, { timeout: 60_000 });
  const before = await seen(page);
  // Pick by hand the height that is not playing: the player switches to that rung, in the family it plays.
  await page.click("#quality-button");
  await page.locator("#quality-menu").waitFor({ state: "visible" });
  const index = before.items.findIndex((text) => text !== "Auto" && text !== before.playing);
  const picked = before.items[index];
  await page.locator("#quality-menu media-chrome-menu-item").nth(index).click();
  await page.waitForFunction((text) => document.getElementById("bitrate").textContent === text, picked, { timeout: 30_000 });
  const after = await seen(page);
  await context.close();
  return { before, picked, after };
}

try {
  result.hls = await run("hls", null);
  result.h264Only = await run("hls", "av01");
  result.dash = await run("dash", null);
  result.ok = true;
} catch (err) {
  result.error = String(err);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
