// Vendors the front-end libraries from node_modules into static/vendor, which the stack serves
// itself (no CDN at run time). Run by `npm run build` after `npm ci`; tests/web runs both when
// node_modules is missing, and the compose image runs them in its node stage.
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "static", "vendor");
const files = {
  "tus.min.js": "tus-js-client/dist/tus.min.js",
  "hls.min.js": "hls.js/dist/hls.min.js",
  "dash.all.min.js": "dashjs/dist/modern/umd/dash.all.min.js",
  // media-chrome (Mux): framework-free web components around any <video>, here driven by hls.js/dash.js.
  "media-chrome.js": "media-chrome/dist/iife/all.js",
  "LICENSE.tus-js-client": "tus-js-client/LICENSE",
  "LICENSE.hls.js": "hls.js/LICENSE",
  "LICENSE.dashjs": "dashjs/LICENSE.md",
  "LICENSE.media-chrome": "media-chrome/LICENSE",
};

mkdirSync(vendor, { recursive: true });
for (const [name, source] of Object.entries(files)) {
  const path = join(here, "node_modules", source);
  if (!existsSync(path)) {
    if (name.startsWith("LICENSE")) continue; // a renamed license file must not break the build
    throw new Error(`missing ${path}: run npm ci first`);
  }
  copyFileSync(path, join(vendor, name));
}
console.log(`vendored ${Object.keys(files).length} files into ${vendor}`);
