// Drives the vodstack web page in Debian's Chromium (playwright-core from web/node_modules, never a
// downloaded browser): drop two files on the page, pause and resume, wait for "ready", play with
// hls.js (quality menu, storyboard on the seek bar) then dash.js, share and play the embed page,
// edit a title, delete after confirming, axe-core on every page; screenshots.
// The first video has two audio languages (en, fr); once it is ready an SRT track (en) is uploaded, and the
// player's audio and captions menus are driven with them.
// Usage: node drive_page.mjs <page url> <video file> <second video file> <artifact dir> <api key> <srt file>
// Prints one JSON line with what it saw; exits non-zero on failure.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { LAUNCH, axeViolations } from "../browser/harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "..", "web", "package.json"));
const { chromium } = require("playwright-core");

const [pageUrl, videoFile, secondFile, artifacts, apiKey, srtFile] = process.argv.slice(2);
const result = { steps: [], axe: {} };
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const step = (name) => result.steps.push(name);

const browser = await chromium.launch(LAUNCH);
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(pageUrl).origin });
const page = await context.newPage();

// axe-core in the page: every violation of impact serious or critical, by rule id and target.
async function axe(name, target = page) {
  const { serious, minor } = await axeViolations(target, axeSource);
  result.axe[name] = serious;
  result.axe[`${name} (minor)`] = minor;
}
// What Chromium itself exposes to assistive technology for the menu labelled `label` (the browser's
// accessibility tree, not axe's model of it): the role and name of each item under it.
async function menuTree(label) {
  const cdp = await page.context().newCDPSession(page);
  const { nodes } = await cdp.send("Accessibility.getFullAXTree");
  await cdp.detach();
  const byId = new Map(nodes.map((n) => [n.nodeId, n]));
  const menu = nodes.find((n) => !n.ignored && n.role?.value === "menu" && n.name?.value === label);
  if (!menu) return null;
  const items = [];
  const walk = (node) => {
    for (const id of node.childIds || []) {
      const child = byId.get(id);
      if (!child) continue;
      // Ignored and generic nodes (the shadow root's container, slots) only hold what is under them.
      if (child.ignored || ["generic", "none"].includes(child.role?.value)) walk(child);
      else items.push({ role: child.role?.value, name: child.name?.value });
    }
  };
  walk(menu);
  return items;
}

// Every media-chrome menu has finished closing (its fade-out transition keeps it rendered for 150 ms after
// `hidden` is set). axe-core runs on a closed player: axe 4.11 leaves <slot> elements out of its tree
// (dequelabs/axe-core#4507), so in an open menu it sees the back button of media-chrome's hidden header
// slot as a child of role=menu (aria-required-children); Chromium does not expose that button. Open
// menus are checked in Chromium's own accessibility tree instead (menuTree).
const menusClosed = (target = page) =>
  target.waitForFunction(
    () => [...document.querySelectorAll("media-chrome-menu, media-captions-menu")].every((m) => !m.checkVisibility({ visibilityProperty: true })),
    null,
    { timeout: 5_000 },
  );

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
  await axe("creator page, signed in");
  // A slow uplink (Chromium's own throttling), so there is time to pause mid-upload.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  const throttle = (bytesPerSecond) =>
    cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond });
  await throttle(512 * 1024);
  // Two files dropped on the drop zone at once, as a file manager's drag does.
  const files = [videoFile, secondFile].map((path) => ({ name: path.split("/").pop(), b64: readFileSync(path).toString("base64") }));
  const dataTransfer = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name, { type: "video/mp4" }));
    return dt;
  }, files);
  await page.dispatchEvent("#drop", "drop", { dataTransfer });
  const progress = () => page.evaluate(() => Number(document.getElementById("upload-progress").value));
  await page.waitForFunction(() => Number(document.getElementById("upload-progress").value) > 0.1, null, { timeout: 60_000 });
  // One row per file, each with its own bar moving; the list's row agrees with the upload's own bar.
  result.uploadRows = await page.locator("#uploads li").evaluateAll((lis) => lis.map((li) => ({ name: li.dataset.file, value: li.querySelector("progress").value })));
  await page.click("#pause");
  await page.waitForTimeout(500); // the chunks in flight are aborted
  const paused = await progress();
  result.pausedRows = await page.locator("#uploads li").evaluateAll((lis) => lis.map((li) => li.querySelector(".upload-text").textContent));
  const listRow = page.locator('#assets tbody tr[data-state="uploading"]', { has: page.locator(`td.title:text-is("${files[0].name}")`) });
  await listRow.waitFor({ timeout: 10_000 });
  result.listRowWhileUploading = {
    state: await listRow.locator("td.state").textContent(),
    value: Number(await listRow.locator("progress").evaluate((p) => p.value)),
    upload: Number(await page.locator(`#uploads li[data-file="${files[0].name}"] progress`).evaluate((p) => p.value)),
  };
  await page.waitForTimeout(2000);
  result.pause = { at: paused, after2s: await progress() };
  if (result.pause.after2s !== paused || paused >= 1) throw new Error(`pause did not hold: ${JSON.stringify(result.pause)}`);
  step("paused");
  await page.click("#resume");
  await throttle(-1);
  await page.waitForFunction(() => document.querySelector("#upload-status").textContent.includes("2 of 2 uploaded"), null, { timeout: 120_000 });
  result.uploadStatus = await page.textContent("#upload-status");
  step("uploaded");
  // Our row is the one titled with our file name (the catalog may hold other tests' assets).
  const title = files[0].name;
  const row = page.locator("#assets tbody tr", { has: page.locator(`td.title:text-is("${title}")`) }).first();
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
  result.readyRow = await finalRow.locator("td").allTextContents();
  result.poster = await finalRow.locator("img.poster").evaluate((img) => img.decode().then(() => img.naturalWidth, () => 0));
  // A caption track (SRT) for it, uploaded as a creator does through the API; it is published at once.
  const put = await page.request.put(`${new URL(pageUrl).origin}/assets/${result.assetId}/captions/en?label=English`, {
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "text/plain" },
    data: readFileSync(srtFile),
  });
  result.captionsPut = put.status();
  if (!put.ok()) throw new Error(`captions upload: ${put.status()} ${await put.text()}`);
  await page.screenshot({ path: join(artifacts, "web-assets.png"), fullPage: true });
  await axe("creator page, list");
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
    await thumb.waitFor({ state: "visible", timeout: 5_000 }).catch(() => {}); // the box fades in; asserted below
    result.thumbnail = {
      image: await thumb.getAttribute("mediapreviewimage"),
      coords: await thumb.getAttribute("mediapreviewcoords"),
      time: Number(await page.locator("#time-range").getAttribute("mediapreviewtime")),
      visible: await thumb.isVisible(),
    };
    await page.screenshot({ path: join(artifacts, "web-player-storyboard.png") });
    await page.mouse.move(0, 0);
  }
  // Pick the lowest rendition by hand through the quality menu and see the player switch to it.
  await page.click("#quality-button");
  await page.locator("#quality-menu").waitFor({ state: "visible" });
  result.hls.qualityTree = await menuTree("Quality");
  await qualityItems.last().click();
  result.hls.picked = await page.evaluate(() => document.body.dataset.quality);
  await page.waitForFunction(() => document.getElementById("quality-label").textContent !== "Auto", null, { timeout: 5_000 });
  result.hls.qualityLabel = await page.textContent("#quality-label");

  // The audio menu lists both languages; picking the other one switches hls.js' audioTrack.
  await page.waitForSelector("#audio-button:not([hidden])", { timeout: 15_000 });
  const audioItems = page.locator("#audio-menu media-chrome-menu-item");
  result.audio = { before: await page.evaluate(() => document.body.dataset.audioTrack), items: await audioItems.allTextContents() };
  await page.click("#audio-button");
  await page.locator("#audio-menu").waitFor({ state: "visible" });
  result.audio.tree = await menuTree("Audio track");
  await audioItems.filter({ hasText: "Français" }).click();
  await page.waitForFunction(() => document.body.dataset.audioTrack === "fr", null, { timeout: 15_000 });
  result.audio.after = await page.evaluate(() => document.body.dataset.audioTrack);
  await menusClosed();

  // The captions menu (media-chrome's, over the video's text tracks) lists the uploaded track; picking it
  // shows it, and at 1.5 s its first cue is active.
  await page.waitForSelector("#captions-button:not([hidden])", { timeout: 15_000 });
  const captionItems = page.locator("#captions-menu media-chrome-menu-item");
  await page.click("#captions-button");
  await page.locator("#captions-menu").waitFor({ state: "visible" });
  result.captions = { items: await captionItems.allTextContents(), tree: await menuTree("Captions") };
  await captionItems.filter({ hasText: "English" }).click();
  await page.waitForFunction(() => [...document.getElementById("video").textTracks].some((t) => t.mode === "showing" && t.language === "en" && t.cues && t.cues.length), null, { timeout: 15_000 });
  await page.evaluate(() => { const v = document.getElementById("video"); v.pause(); v.currentTime = 1.5; });
  const cues = await page.waitForFunction(() => {
    const v = document.getElementById("video");
    if (v.seeking) return false;
    const track = [...v.textTracks].find((t) => t.mode === "showing");
    const active = track && track.activeCues ? [...track.activeCues] : [];
    return active.length && active.map((c) => ({ text: c.text, start: c.startTime, end: c.endTime, language: track.language }));
  }, null, { timeout: 15_000 });
  result.captions.cues = await cues.jsonValue();
  await page.evaluate(() => document.getElementById("video").play());
  await menusClosed();
  await page.screenshot({ path: join(artifacts, "web-player-hls.png") });
  await axe("player");
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
  // Share: the embed snippet is copied to the clipboard, and its page plays without any key.
  await again.locator("button.share").click();
  await page.click("#copy-embed");
  await page.waitForFunction(() => document.getElementById("share-status").textContent.includes("copied"), null, { timeout: 5_000 });
  result.embed = { snippet: await page.evaluate(() => navigator.clipboard.readText()), url: await page.inputValue("#share-url") };
  await page.screenshot({ path: join(artifacts, "web-share.png") });
  await page.keyboard.press("Escape");
  const embedSrc = result.embed.snippet.match(/src="([^"]+)"/)[1];
  const embedPage = await (await browser.newContext()).newPage(); // a fresh browser: no API key anywhere
  await embedPage.goto(embedSrc);
  await embedPage.waitForFunction(() => document.body.dataset.playing === "1" && document.getElementById("video").currentTime > 1, null, { timeout: 60_000 });
  result.embed.played = await embedPage.evaluate(() => document.getElementById("video").currentTime);
  await embedPage.screenshot({ path: join(artifacts, "web-embed.png") });
  await menusClosed(embedPage);
  await axe("embed page", embedPage);
  await embedPage.close();
  step("played embed");

  // Edit the second video's title (PATCH /assets/{id}; a server without it says so in the dialog).
  const second = page.locator("#assets tbody tr", { has: page.locator(`td.title:text-is("${files[1].name}")`) }).first();
  await second.locator("button.edit").click();
  const newTitle = `Edited ${Date.now()}`;
  await page.fill("#edit-title", newTitle);
  await page.click("#edit-save");
  const hasPatch = await page.evaluate(async () => Boolean((await (await fetch("/openapi.json")).json()).paths["/assets/{asset_id}"].patch));
  if (hasPatch) {
    await page.locator("#assets tbody tr", { has: page.locator(`td.title:text-is("${newTitle}")`) }).waitFor({ timeout: 10_000 });
    result.edit = { patch: true, title: newTitle };
  } else {
    await page.waitForFunction(() => document.getElementById("edit-error").textContent, null, { timeout: 5_000 });
    result.edit = { patch: false, message: await page.textContent("#edit-error") };
    await page.click("#edit-cancel");
  }
  step("edited");

  // Delete asks first: Cancel keeps the row, Delete removes it.
  await again.locator("button.delete").click();
  await page.waitForSelector("#delete-dialog[open]");
  result.deleteQuestion = await page.textContent("#delete-text");
  await page.screenshot({ path: join(artifacts, "web-delete-confirm.png") });
  await page.click("#delete-cancel");
  await page.waitForTimeout(2 * 1500); // two polls of the list
  result.keptAfterCancel = await again.count();
  await again.locator("button.delete").click();
  await page.click("#delete-confirm");
  await again.waitFor({ state: "detached", timeout: 15_000 });
  step("deleted");

  // Not a video: the list shows it failed, and why.
  const junkName = `junk-${Date.now()}.mp4`;
  const junk = Buffer.alloc(200_000);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919) % 251;
  await page.setInputFiles("#file", { name: junkName, mimeType: "video/mp4", buffer: junk });
  await page.click("#start");
  const junkRow = page.locator("#assets tbody tr", { has: page.locator(`td.title:text-is("${junkName}")`) });
  await page.locator(`tr[data-state="failed"]`, { has: page.locator(`td.title:text-is("${junkName}")`) }).waitFor({ timeout: 120_000 });
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
