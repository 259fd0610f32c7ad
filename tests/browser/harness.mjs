// What the browser scripts share (play.mjs, captions.mjs, audio_tracks.mjs, qoe.mjs, ../web/drive_page.mjs and
// ../web/audio_page.mjs): how Debian's Chromium is launched, the loopback server of a test page (its own origin, so
// every request to the stream is cross-origin, as on a customer's site), polling the page until a predicate
// holds, and axe-core's findings in a page.
// No playwright import here: drive_page.mjs takes playwright-core from web/node_modules, the others from here.
import { readFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--autoplay-policy=no-user-gesture-required",
];
// What chromium.launch() takes: the system Chromium, never a downloaded one (`npx playwright install`).
export const LAUNCH = { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS };

// The players, as a test page loads them (<script src="/hls.js">, <script src="/dash.js">).
export const PLAYER_SCRIPTS = {
  "/hls.js": path.join(here, "node_modules/hls.js/dist/hls.min.js"),
  "/dash.js": path.join(here, "node_modules/dashjs/dist/modern/umd/dash.all.min.js"),
};

// Serves `page` at / (and /?query), each of `scripts` ({ url path: file }) as JavaScript, an empty favicon
// (keeps a 404 out of the console errors a script reports) and 404 otherwise. Resolves to the base URL
// and the server (close it when done).
export function servePage(page, scripts = PLAYER_SCRIPTS) {
  const server = http.createServer(async (req, res) => {
    const file = scripts[req.url];
    if (file) {
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(await readFile(file));
    } else if (req.url === "/" || req.url.startsWith("/?")) {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(page);
    } else if (req.url === "/favicon.ico") {
      res.writeHead(204).end();
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${server.address().port}/` })),
  );
}

// Polls `predicate` (a function body over `value`, run in the page) until it returns something truthy, and
// returns that. The page keeps its players' fatal errors in `state.fatal`: if one comes first, this throws
// with them rather than waiting out the timeout.
export async function until(page, predicate, arg, timeoutMs) {
  const handle = await page.waitForFunction(
    ([source, value]) => {
      if (state.fatal.length) return { fatal: state.fatal };
      const out = new Function("value", source)(value);
      return out ? { ok: out } : false;
    },
    [predicate, arg],
    { timeout: timeoutMs, polling: 100 },
  );
  const outcome = await handle.jsonValue();
  if (outcome.fatal) throw new Error("fatal player error: " + outcome.fatal.join("; "));
  return outcome.ok;
}

// axe-core run in `page` (its source text, read by the caller from its own node_modules): the violations of
// impact serious or critical with their targets, the others by rule id.
export async function axeViolations(page, axeSource) {
  await page.addScriptTag({ content: axeSource });
  const found = await page.evaluate(async () => {
    const run = await window.axe.run(document, { resultTypes: ["violations"] });
    return run.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => String(n.target)).slice(0, 5) }));
  });
  const serious = (v) => v.impact === "serious" || v.impact === "critical";
  return { serious: found.filter(serious), minor: found.filter((v) => !serious(v)).map((v) => v.id) };
}
