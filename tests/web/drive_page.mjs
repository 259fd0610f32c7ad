// Drives the vodstack web page in Debian's Chromium (playwright-core from web/node_modules, never a
// downloaded browser): upload through the page, wait for "ready", play with hls.js then dash.js,
// screenshot, delete. Usage: node drive_page.mjs <page url> <video file> <artifact dir> <api key>
// Prints one JSON line with what it saw; exits non-zero on failure.
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "..", "web", "package.json"));
const { chromium } = require("playwright-core");

const [pageUrl, videoFile, artifacts, apiKey] = process.argv.slice(2);
const result = { steps: [] };
const step = (name) => result.steps.push(name);

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const consoleErrors = [];
const pageErrors = [];
page.on("console", (msg) => msg.type() === "error" && consoleErrors.push(`${msg.text()} ${msg.location().url || ""}`));
page.on("pageerror", (err) => pageErrors.push(String(err)));
try {
  await page.goto(pageUrl);
  // The page carries no key: sign in as an operator does, by pasting one (kept in localStorage).
  if ((await page.content()).includes(apiKey)) throw new Error("the page HTML contains the API key");
  await page.fill("#token", apiKey);
  await page.click("#sign-in");
  await page.waitForSelector("#signed-in:not([hidden])");
  step("loaded");
  await page.setInputFiles("#file", resolve(videoFile));
  // A slow uplink (Chromium's own throttling), so there is time to pause mid-upload.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  const throttle = (bytesPerSecond) =>
    cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond });
  await throttle(512 * 1024);
  await page.click("#start");
  const progress = () => page.evaluate(() => Number(document.getElementById("upload-progress").value));
  await page.waitForFunction(() => Number(document.getElementById("upload-progress").value) > 0.1, null, { timeout: 60_000 });
  await page.click("#pause");
  await page.waitForTimeout(500); // the chunk in flight is aborted
  const paused = await progress();
  await page.waitForTimeout(2000);
  result.pause = { at: paused, after2s: await progress() };
  if (result.pause.after2s !== paused || paused >= 1) throw new Error(`pause did not hold: ${JSON.stringify(result.pause)}`);
  step("paused");
  await page.click("#resume");
  await throttle(-1);
  await page.waitForFunction(() => document.querySelector("#upload-status").textContent.includes("uploaded"), null, { timeout: 120_000 });
  result.uploadStatus = await page.textContent("#upload-status");
  step("uploaded");
  // Our row is the one titled with our file name (the catalog may hold other tests' assets).
  const title = videoFile.split("/").pop();
  const row = page.locator("#assets tbody tr", { has: page.locator(`td:text-is("${title}")`) }).first();
  await row.waitFor({ timeout: 30_000 });
  result.assetId = await row.getAttribute("data-asset-id");
  const seen = new Set();
  const deadline = Date.now() + 240_000;
  while (Date.now() < deadline) {
    const state = await page.locator(`tr[data-asset-id="${result.assetId}"]`).getAttribute("data-state");
    seen.add(state);
    if (state === "ready" || state === "failed") break;
    await page.waitForTimeout(300);
  }
  result.statesSeen = [...seen];
  const finalRow = page.locator(`tr[data-asset-id="${result.assetId}"]`);
  result.state = await finalRow.getAttribute("data-state");
  if (result.state !== "ready") throw new Error(`asset ended ${result.state}: ${await finalRow.textContent()}`);
  await page.screenshot({ path: join(artifacts, "web-assets.png"), fullPage: true });
  step("ready");

  await finalRow.locator("a.watch").click();
  await page.waitForURL("**/watch/**");
  await page.waitForLoadState("domcontentloaded");
  await page.waitForFunction(() => document.body && document.body.dataset.playing === "1" && document.getElementById("video").currentTime > 1, null, { timeout: 60_000 });
  await page.waitForFunction(() => document.body.dataset.bitrate, null, { timeout: 30_000 });
  // The quality menu (media-chrome) lists "Auto" and every rung of the ladder.
  const qualityItems = page.locator("#quality-menu media-chrome-menu-item");
  result.hls = {
    bitrate: Number(await page.evaluate(() => document.body.dataset.bitrate)),
    renditions: await qualityItems.allTextContents(),
    storyboardCues: Number(await page.evaluate(() => document.body.dataset.storyboard || "0")),
  };
  // Hovering the seek bar shows the storyboard thumbnail of the time under the pointer.
  if (result.hls.storyboardCues > 0) {
    await page.waitForFunction(() => document.body.dataset.storyboardLoaded === "1", null, { timeout: 15_000 });
    const bar = await page.locator("#time-range").boundingBox();
    await page.mouse.move(bar.x + bar.width * 0.3, bar.y + bar.height / 2);
    await page.mouse.move(bar.x + bar.width * 0.6, bar.y + bar.height / 2, { steps: 5 });
    const thumb = page.locator("media-preview-thumbnail");
    await page.waitForFunction(() => {
      const range = document.getElementById("time-range");
      const t = range.shadowRoot && range.shadowRoot.querySelector("media-preview-thumbnail");
      return t && t.getAttribute("mediapreviewimage") && t.getAttribute("mediapreviewcoords");
    }, null, { timeout: 5_000 });
    result.thumbnail = {
      image: await thumb.getAttribute("mediapreviewimage"),
      coords: await thumb.getAttribute("mediapreviewcoords"),
      time: Number(await thumb.getAttribute("mediapreviewtime")),
      visible: await thumb.isVisible(),
    };
    await page.screenshot({ path: join(artifacts, "web-player-storyboard.png") });
    await page.mouse.move(0, 0);
  }
  // Pick the lowest rendition by hand through the quality menu and see the player switch to it.
  await page.click("#quality-button");
  await qualityItems.last().click();
  result.hls.picked = await page.evaluate(() => document.body.dataset.quality);
  await page.waitForFunction(() => document.getElementById("quality-label").textContent !== "Auto", null, { timeout: 5_000 });
  result.hls.qualityLabel = await page.textContent("#quality-label");
  await page.screenshot({ path: join(artifacts, "web-player-hls.png") });
  step("played hls");

  await page.goto(`${new URL(pageUrl).origin}/watch/${result.assetId}?mode=dash`);
  await page.waitForFunction(() => document.body && document.body.dataset.mode === "dash" && document.body.dataset.playing === "1" && document.getElementById("video").currentTime > 1, null, { timeout: 60_000 });
  await page.waitForFunction(() => document.body.dataset.bitrate, null, { timeout: 30_000 });
  result.dash = { bitrate: Number(await page.evaluate(() => document.body.dataset.bitrate)) };
  await page.screenshot({ path: join(artifacts, "web-player-dash.png") });
  step("played dash");

  await page.goto(pageUrl);
  const again = page.locator(`tr[data-asset-id="${result.assetId}"]`);
  await again.waitFor();
  await again.locator("button.delete").click();
  await again.waitFor({ state: "detached", timeout: 15_000 });
  step("deleted");

  // Not a video: the list shows it failed, and why.
  const junkName = `junk-${Date.now()}.mp4`;
  const junk = Buffer.alloc(200_000);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919) % 251;
  await page.setInputFiles("#file", { name: junkName, mimeType: "video/mp4", buffer: junk });
  await page.click("#start");
  const junkRow = page.locator("#assets tbody tr", { has: page.locator(`td:text-is("${junkName}")`) });
  await page.locator(`tr[data-state="failed"]`, { has: page.locator(`td:text-is("${junkName}")`) }).waitFor({ timeout: 120_000 });
  result.failureReason = await junkRow.locator("td.error").textContent();
  await page.screenshot({ path: join(artifacts, "web-failed.png"), fullPage: true });
  step("failure shown");
  result.ok = true;
} catch (error) {
  result.ok = false;
  result.error = String(error && error.stack ? error.stack : error);
  await page.screenshot({ path: join(artifacts, "web-failure.png"), fullPage: true }).catch(() => {});
} finally {
  result.consoleErrors = consoleErrors;
  result.pageErrors = pageErrors;
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
