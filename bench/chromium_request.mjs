// Plays one HLS stream with hls.js in Debian's Chromium on a page of another origin, so that
// bench/capture_chromium_request.py can record what the browser sends for each segment: the page's
// play(src, cmcd) (hls.js from web/static/vendor, CMCD config from web/static/qoe.js, as player.js).
//
//   node bench/chromium_request.mjs <page url> <media playlist url> <cmcd: on|off> <seconds to play>
//
// Exit status 0 when the video played that far, 1 otherwise. playwright-core from web/node_modules
// drives /usr/bin/chromium, launched as tests/browser does (never `npx playwright install`).
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { LAUNCH } from "../tests/browser/harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "web", "package.json"));
const { chromium } = require("playwright-core");

const [pageUrl, src, cmcd, seconds] = process.argv.slice(2);
const browser = await chromium.launch(LAUNCH);
let status = 1;
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => process.stderr.write(`page: ${e.message}\n`));
  await page.goto(pageUrl);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 30000 });
  await page.evaluate(([s, c]) => play(s, c), [src, cmcd === "on"]);
  await page.waitForFunction(
    (t) => state.fatal.length > 0 || document.getElementById("v").currentTime >= t, Number(seconds),
    { timeout: 60000, polling: 100 },
  );
  const fatal = await page.evaluate(() => state.fatal);
  if (fatal.length) process.stderr.write(`fatal: ${fatal.join("; ")}\n`);
  else status = 0;
  process.stdout.write(`${browser.version()}\n`);
} finally {
  await browser.close();
}
process.exit(status);
